"""The one clip score: how a clip (a file, a test utterance) gets its label.

Used by ``voxstream classify``, ``voxstream eval`` and every evaluation of
``voxstream train``, so they all give the numbers of the model card:

1. The clip is cut into the engine's streaming windows (``window_s`` every
   ``hop_s``; a clip shorter than one window is one window), the MFCC frames
   computed once and every window pooled from them (:func:`window_rows`) —
   the features the streaming engine computes hop by hop, and the gate's
   verdict on each window.
2. A **session** carries the card's normaliser from window to window:
   ``per-file`` starts a fresh session (the card's prior) for every clip,
   ``per-speaker`` streams all clips of one speaker, in order, through one
   session (:func:`normalise_session`), as a live microphone would hear them.
3. The clip's probabilities are the mean of the probabilities of its speech
   windows, or of all its windows when the gate passes none
   (:func:`clip_probabilities`); such a clip is *unlabelled* live.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, cast

import numpy as np

from voxstream.engine.frames import MfccFrames
from voxstream.engine.gate import GateResult
from voxstream.engine.normalize import Normalizer
from voxstream.engine.params import FeatureParams, windows
from voxstream.engine.window import WindowSpec
from voxstream.offline.batch import pool_windows


class WindowGate(Protocol):
    """What the window features need of a gate (a :class:`~voxstream.engine.gate.SpeechGate`, or one that
    times it): the verdict on each window."""

    def windows(self, samples: np.ndarray, window: int, hop: int) -> list[GateResult]: ...


@dataclass
class ClipRows:
    """Window features and gate verdicts of one clip."""

    x: np.ndarray
    """(n_windows, *feature shape) float32."""
    speech: np.ndarray
    """(n_windows,) bool."""
    samples: int


@dataclass
class ClipFrames:
    """One clip before pooling: its MFCC frames, where its windows start, and the gate's verdicts."""

    frames: np.ndarray
    first: np.ndarray
    """Frame index of each window's first frame."""
    n: int
    """Frames per window."""
    speech: np.ndarray
    samples: int


def clip_frames(
    samples: np.ndarray, params: FeatureParams, spec: WindowSpec, gate: WindowGate, extractor: MfccFrames | None = None
) -> ClipFrames:
    """The MFCC frames of one clip (computed once for all its windows) and the gate's verdict on each window."""
    if spec.hop % params.hop_length or spec.window % params.hop_length:
        raise ValueError(
            f"window {spec.window} / hop {spec.hop} samples: must be multiples of hop_length {params.hop_length}"
        )
    extractor = extractor or MfccFrames(params)
    frames = extractor(samples)
    if len(frames) == 0:
        raise ValueError("no frames to pool: the audio is shorter than one FFT frame")
    bounds = windows(len(samples), spec.window, spec.hop)
    first = np.array([start // params.hop_length for start, _ in bounds], dtype=np.int64)
    speech = np.array([g.speech for g in gate.windows(samples, spec.window, spec.hop)], dtype=bool)
    return ClipFrames(frames, first, params.n_frames(bounds[0][1] - bounds[0][0]), speech, len(samples))


def pool_clips(clips: list[ClipFrames], params: FeatureParams) -> list[ClipRows]:
    """Every clip's windows pooled (:func:`~voxstream.offline.batch.pool_windows`); clips whose windows
    have the same length are pooled in one go, which gives each window the numbers it gets alone
    (``tests/test_classify_batch.py``) in a few numpy calls for a whole chunk of short files."""
    out: list[ClipRows | None] = [None] * len(clips)
    groups: dict[int, list[int]] = {}
    for i, clip in enumerate(clips):
        groups.setdefault(clip.n, []).append(i)
    for n, members in groups.items():
        if len(members) == 1:
            frames, first = clips[members[0]].frames, clips[members[0]].first
        else:
            offsets = np.cumsum([0] + [len(clips[i].frames) for i in members[:-1]])
            frames = np.concatenate([clips[i].frames for i in members])
            first = np.concatenate([clips[i].first + o for i, o in zip(members, offsets)])
        x = pool_windows(frames, first, n, params)
        bounds = np.cumsum([0] + [len(clips[i].first) for i in members])
        for j, i in enumerate(members):
            out[i] = ClipRows(x[bounds[j] : bounds[j + 1]], clips[i].speech, clips[i].samples)
    return cast("list[ClipRows]", out)  # every clip is in one group: no None is left


def window_rows(
    samples: np.ndarray, params: FeatureParams, spec: WindowSpec, gate: WindowGate, extractor: MfccFrames | None = None
) -> ClipRows:
    """Features and gate verdicts of every streaming window of one clip (frames computed once, all
    windows pooled at once by :func:`~voxstream.offline.batch.pool_windows`, the gate's sub-frames once)."""
    return pool_clips([clip_frames(samples, params, spec, gate, extractor)], params)[0]


def stream_rows(
    blocks: Iterable[np.ndarray],
    params: FeatureParams,
    spec: WindowSpec,
    gate: WindowGate,
    chunk_windows: int = 240,
    extractor: MfccFrames | None = None,
) -> ClipRows:
    """:func:`window_rows` of a long stream of blocks, in chunks of ``chunk_windows`` windows (bounded memory)."""
    extractor = extractor or MfccFrames(params)
    step = chunk_windows * spec.hop
    buf, parts, total = np.zeros(0, dtype=np.float32), [], 0
    for block in blocks:
        buf = np.concatenate([buf, np.asarray(block, dtype=np.float32)])
        total += len(block)
        while len(buf) >= spec.window + step:
            part = window_rows(buf[: spec.window + step - spec.hop], params, spec, gate, extractor)
            parts.append(part)
            buf = buf[step:]
    if not parts or len(buf) >= spec.window:
        parts.append(window_rows(buf, params, spec, gate, extractor))
    if total == 0:
        return ClipRows(np.zeros((0,) + params.shape, dtype=np.float32), np.zeros(0, dtype=bool), 0)
    return ClipRows(np.concatenate([p.x for p in parts]), np.concatenate([p.speech for p in parts]), total)


def normalise_session(clips: list[ClipRows], normalizer: Normalizer) -> list[np.ndarray]:
    """The clips' features after one session's normaliser, streamed in the given order (as the engine does)."""
    return [normalizer.run(c.x, c.speech) for c in clips]


def clip_probabilities(probs: np.ndarray, speech: np.ndarray) -> np.ndarray:
    """Mean probability of the speech windows (of all windows when none is speech)."""
    if len(probs) == 0:
        raise ValueError("no window: the audio is shorter than one FFT frame")
    use = speech if speech.any() else np.ones(len(probs), dtype=bool)
    return probs[use].mean(axis=0)


def score_clips(
    clips: list[ClipRows],
    normalizer_factory: Callable[[], Normalizer],
    predict: Callable[[np.ndarray], np.ndarray],
    sessions: list[int] | None = None,
) -> np.ndarray:
    """Probabilities of every clip, (n_clips, n_labels).

    ``sessions[i]`` names the session of clip ``i`` (clips of one session are
    streamed in list order through one normaliser); None: every clip its own
    session (``per-file``).  ``predict`` maps a batch of normalised windows to
    probabilities; it is called once, on the windows the clip means read (the
    speech windows; all windows of a clip without speech).
    """
    sessions = list(range(len(clips))) if sessions is None else list(sessions)
    rows: list[np.ndarray] = [np.zeros(0)] * len(clips)
    groups: dict = {}
    for i, session in enumerate(sessions):
        groups.setdefault(session, []).append(i)
    for members in groups.values():
        for i, x in zip(members, normalise_session([clips[i] for i in members], normalizer_factory())):
            used = _used_windows(clips[i].speech)
            rows[i] = x if used.all() else x[used]  # no copy of a long clip's rows when all are read
    n = sum(map(len, rows))
    if n:
        probs = predict(rows[0] if len(rows) == 1 else np.concatenate(rows))
    else:
        probs = np.zeros((0, 0), dtype=np.float32)
    bounds = np.cumsum([0] + [len(r) for r in rows])
    return np.stack(
        [clip_probabilities(probs[lo:hi], np.ones(hi - lo, dtype=bool)) for lo, hi in zip(bounds[:-1], bounds[1:])]
    )


def _used_windows(speech: np.ndarray) -> np.ndarray:
    """The windows a clip's mean reads: its speech windows, or all of them when none is speech."""
    return speech if speech.any() else np.ones(len(speech), dtype=bool)


def batched(predict_one: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """A batch ``predict`` from a one-window one (e.g. ``Classifier.predict``)."""
    return lambda x: np.stack([predict_one(row) for row in x])

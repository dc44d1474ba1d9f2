"""The ``live`` protocols: the label a user *sees*, measured by running the engine that ``run`` runs.

Every other protocol scores a clip by its own windows.  These ones join each test
speaker's clips into one recording, ``GAP_S`` of room tone between them (white
noise at :data:`ROOM_TONE_DBFS`; or exact zeros, the digital-silence variants),
and stream it through :func:`voxstream.stages.build_engine` — windows, gate,
normaliser, smoother; the code of ``voxstream run --file F --fast`` — with the
configured smoother and no speaker baseline.  Per clip (utterance):

- ``end``: the label shown as the clip ends (the last event at or before its end);
- ``during``: the share of the events from the start of its speech to its end that show its label;
- ``latency``: for a clip whose label differs from the clip before it, the seconds from the start of
  its speech (first 25 ms sub-frame within :data:`ONSET_DB` of the clip's loudest) until the first event
  that shows its label; clips where it never does are counted, not timed.

Orders of the clips in a session:

- *rapid*: the label changes at every clip (as far as the clip counts allow);
- *episodes*: a mood holds for :data:`EPISODE` clips of the same label, then changes;
- *calm*: the ``calm-session`` clips (every neutral and calm clip, one of each other label), shuffled.

Protocol names: ``live`` (rapid), ``live-episodes``, ``live-calm``, each with a ``-zeros`` twin whose gaps
are digital silence.  Accuracy, UAR, arousal and valence are those of the ``end`` labels (a clip that
ends on ``silence`` or ``uncertain`` counts as wrong); ``during_accuracy`` is the mean share.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from voxstream.config import Config, GateConfig
from voxstream.engine.affect import AROUSAL, VALENCE
from voxstream.engine.events import EmotionEvent
from voxstream.engine.params import FeatureParams
from voxstream.inference.card import LABELS, ModelCard
from voxstream.stages import build_engine
from voxstream.train.metrics import classification_metrics

ROOM_TONE_DBFS = -60.0
"""RMS level of the white noise between clips (the ``-zeros`` variants: exact zeros)."""
GAP_S = 0.6
"""Seconds between two clips of a session."""
EPISODE = 3
"""Clips per mood in the *episodes* order."""
ONSET_DB = 30.0
"""A clip's speech starts at its first 25 ms sub-frame within this many dB of its loudest one."""
LIVE = ("live", "live-episodes", "live-calm", "live-zeros", "live-episodes-zeros", "live-calm-zeros")
"""The live protocols (module docstring)."""
FIGURES = ("during_accuracy", "latency_median_s", "latency_p90_s", "latency_never")
"""Figures every live protocol reports beside the classification metrics of the ``end`` labels."""
NEUTRAL = LABELS.index("neutral")


def rapid_order(clips: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``clips`` in an order where consecutive labels differ wherever the counts allow (the label with the
    most clips left, other than the previous one, goes next; ties broken at random)."""
    pools = {int(lab): list(rng.permutation(clips[y[clips] == lab])) for lab in np.unique(y[clips])}
    out: list[int] = []
    prev = -1
    while pools:
        choices = [lab for lab in pools if lab != prev] or list(pools)
        most = max(len(pools[lab]) for lab in choices)
        lab = int(rng.choice([lab for lab in choices if len(pools[lab]) == most]))
        out.append(int(pools[lab].pop()))
        if not pools[lab]:
            del pools[lab]
        prev = lab
    return np.array(out, dtype=np.int64)


def episode_order(clips: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``clips`` in runs of :data:`EPISODE` clips of one label (a label's last run may be shorter), the runs
    in a random order in which consecutive runs differ in label wherever the counts allow."""
    runs: list[np.ndarray] = []
    labels: list[int] = []
    for lab in np.unique(y[clips]):
        mine = rng.permutation(clips[y[clips] == lab])
        for i in range(0, len(mine), EPISODE):
            runs.append(mine[i : i + EPISODE])
            labels.append(int(lab))
    order = rapid_order(np.arange(len(runs)), np.array(labels), rng)
    return np.concatenate([runs[i] for i in order]) if runs else np.zeros(0, dtype=np.int64)


@dataclass
class Session:
    """One joined recording: the samples and where each clip lies in them."""

    samples: np.ndarray
    clips: np.ndarray
    """Clip index (into the table) of each utterance, in order."""
    spans: np.ndarray
    """(n, 2) first and one-past-last sample of each clip."""
    onsets: np.ndarray
    """Sample where each clip's speech starts (:data:`ONSET_DB`)."""


def speech_onset(x: np.ndarray, sample_rate: int) -> int:
    """First sample of the first 25 ms sub-frame within :data:`ONSET_DB` of the clip's loudest sub-frame."""
    sf = max(1, int(0.025 * sample_rate))
    n = len(x) // sf
    if n == 0:
        return 0
    power = np.mean(x[: n * sf].astype(np.float64).reshape(n, sf) ** 2, axis=1)
    db = 10.0 * np.log10(np.maximum(power, 1e-12))
    return int(np.argmax(db >= db.max() - ONSET_DB)) * sf


def join(audio: Sequence[np.ndarray], clips: np.ndarray, sample_rate: int, zeros: bool, seed: int) -> Session:
    """The clips' audio (mono float32 at ``sample_rate``) joined by :data:`GAP_S` gaps of room tone (seeded
    white noise at :data:`ROOM_TONE_DBFS`) or of exact zeros; a gap before the first clip too."""
    rng = np.random.default_rng(seed)
    gap = int(round(GAP_S * sample_rate))
    rms = 10.0 ** (ROOM_TONE_DBFS / 20.0)
    parts, spans, onsets, pos = [], [], [], 0
    for x in audio:
        tone = np.zeros(gap, np.float32) if zeros else (rng.standard_normal(gap) * rms).astype(np.float32)
        parts += [tone, np.asarray(x, dtype=np.float32)]
        spans.append((pos + gap, pos + gap + len(x)))
        onsets.append(pos + gap + speech_onset(np.asarray(x), sample_rate))
        pos += gap + len(x)
    samples = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    return Session(
        samples,
        np.asarray(clips, dtype=np.int64),
        np.array(spans, dtype=np.int64).reshape(-1, 2),
        np.array(onsets, dtype=np.int64),
    )


def session_events(
    card: ModelCard, predict: Callable[[np.ndarray], np.ndarray], samples: np.ndarray, cfg: Config
) -> list[EmotionEvent]:
    """The events ``voxstream run --file`` shows for ``samples`` (at the model rate): the same engine, fed in
    one block (the engine's events do not depend on block sizes)."""
    engine = build_engine(card, predict, cfg)
    return engine.push(np.asarray(samples, dtype=np.float32)) + engine.finish()


@dataclass
class ClipOutcome:
    end: str
    """Label shown as the clip ends ("silence" before the first event)."""
    during: float
    """Share of the events from the clip's speech onset to its end that show its label (0 with none)."""
    latency_s: float | None
    """Seconds from speech onset to the first right event; None when no event in the clip is right."""


def outcomes(session: Session, events: list[EmotionEvent], truth: Sequence[str], sample_rate: int) -> list[ClipOutcome]:
    """Per clip of ``session``: what its events showed (``truth``: each clip's label)."""
    times = np.array([round(e.stream_time_s * sample_rate) for e in events], dtype=np.int64)
    labels = [e.label for e in events]
    out = []
    for (_start, stop), onset, want in zip(session.spans, session.onsets, truth):
        last = int(np.searchsorted(times, stop, side="right")) - 1
        inside = range(int(np.searchsorted(times, onset, side="left")), last + 1)
        right = [i for i in inside if labels[i] == want]
        out.append(
            ClipOutcome(
                end=labels[last] if last >= 0 else "silence",
                during=len(right) / len(inside) if len(inside) else 0.0,
                latency_s=(times[right[0]] - onset) / sample_rate if right else None,
            )
        )
    return out


def live_description() -> dict:
    """What a card records about how its live figures were made."""
    return {
        "engine": "voxstream.stages.build_engine: the windows, gate, normaliser and smoother of `voxstream run`",
        "smoother": "the [smoother] defaults of this voxstream version; no speaker baseline",
        "gap_s": GAP_S,
        "room_tone_dbfs": ROOM_TONE_DBFS,
        "zeros_variants": "gaps of exact zeros",
        "orders": {
            "live": "rapid: the label changes at every clip",
            "live-episodes": f"runs of {EPISODE} clips of one label",
            "live-calm": "the calm-session clips, shuffled",
        },
        "seeds": "clip order: numpy default_rng(seed + 7); room tone of session k: seed + 7 + k",
        "end": "label shown by the last event at or before the clip's end",
        "during": "share of events from the clip's speech onset to its end that show its label",
        "latency": f"clips whose label differs from the previous clip's: seconds from speech onset (first 25 ms "
        f"within {ONSET_DB:g} dB of the clip's loudest) to the first event showing the label",
    }


def fold_card(
    params: FeatureParams,
    window_s: float,
    hop_s: float,
    normalization: dict,
    gate: GateConfig,
    input_shape: tuple[int, ...] = (),
) -> ModelCard:
    """The card of a fold model that was never written to disk (training's evaluations)."""
    return ModelCard(
        name="fold",
        arch="fold",
        labels=LABELS,
        features=params,
        input_shape=input_shape,
        tflite_file="",
        tflite_sha256="",
        window_s=window_s,
        hop_s=hop_s,
        normalization=normalization,
        gate=gate,
    )


def live_config(cfg: Config | None = None) -> Config:
    """The configuration the live protocols run with: ``cfg``'s (default: the built-in defaults), no speaker
    baseline, the model card's window, hop and gate."""
    cfg = cfg or Config()
    return cfg.replace("model", baseline="off").replace("window", window_s=0.0, hop_s=0.0)


def order_for(protocol: str, clips: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    kind = protocol.removesuffix("-zeros")
    return episode_order(clips, y, rng) if kind == "live-episodes" else rapid_order(clips, y, rng)


def summarise(y_true: np.ndarray, shown: list[ClipOutcome], new: np.ndarray) -> dict:
    """Classification metrics of the ``end`` labels plus :data:`FIGURES` (``new``: clips whose label differs
    from the clip before, where latency is timed)."""
    pred = np.array([LABELS.index(o.end) if o.end in LABELS else -1 for o in shown], dtype=np.int64)
    metrics = classification_metrics(y_true, pred, LABELS)
    for name, groups in (("arousal", AROUSAL), ("valence", VALENCE)):
        high = [LABELS.index(lab) for lab in groups[1]]
        said = np.isin(pred, high)
        metrics[f"{name}_accuracy"] = round(float(np.mean((pred >= 0) & (np.isin(y_true, high) == said))), 4)
    lat = [o.latency_s for o, n in zip(shown, new) if n and o.latency_s is not None]
    metrics["during_accuracy"] = round(float(np.mean([o.during for o in shown])), 4) if shown else 0.0
    metrics["latency_median_s"] = round(float(np.median(lat)), 3) if lat else None
    metrics["latency_p90_s"] = round(float(np.percentile(lat, 90)), 3) if lat else None
    metrics["latency_never"] = int(sum(1 for o, n in zip(shown, new) if n and o.latency_s is None))
    metrics["latency_timed"] = len(lat)
    metrics["unlabelled"] = int(sum(o.end not in LABELS for o in shown))
    return metrics


def joined_sessions(
    protocol: str,
    sessions: list[np.ndarray],
    y: np.ndarray,
    seed: int,
    load: Callable[[int], np.ndarray],
    sample_rate: int,
) -> Iterator[Session]:
    """Each of ``sessions`` (a test speaker's clips) in the protocol's order, joined: the one place the live
    protocols draw their orders and room tone (``scripts/live_tune.py`` replays exactly these)."""
    if protocol not in LIVE:
        raise ValueError(f"protocol {protocol!r}: expected one of {', '.join(LIVE)}")
    rng = np.random.default_rng(seed)
    for k, clips in enumerate(sessions):
        ordered = rng.permutation(clips) if protocol.startswith("live-calm") else order_for(protocol, clips, y, rng)
        yield join([load(int(c)) for c in ordered], ordered, sample_rate, protocol.endswith("-zeros"), seed + k)


def run_live(
    protocol: str,
    card: ModelCard,
    predict: Callable[[np.ndarray], np.ndarray],
    load: Callable[[int], np.ndarray],
    sessions: list[np.ndarray],
    y: np.ndarray,
    seed: int,
    cfg: Config | None = None,
    calm: np.ndarray | None = None,
) -> dict:
    """One live protocol over ``sessions`` (each test speaker's clips; for ``live-calm`` the calm-session
    clips, already chosen), ``load(clip)`` giving a clip's samples at the model rate."""
    cfg = live_config(cfg)
    rate = card.features.sample_rate
    clips_all, shown, new = [], [], []
    for session in joined_sessions(protocol, sessions, y, seed, load, rate):
        ordered = session.clips
        events = session_events(card, predict, session.samples, cfg)
        shown += outcomes(session, events, [LABELS[int(y[c])] for c in ordered], rate)
        new += [i == 0 or y[ordered[i]] != y[ordered[i - 1]] for i in range(len(ordered))]
        clips_all.append(ordered)
    clips_ = np.concatenate(clips_all) if clips_all else np.zeros(0, dtype=np.int64)
    metrics = summarise(y[clips_], shown, np.array(new, dtype=bool))
    if protocol.startswith("live-calm"):
        metrics["neutral_recall"] = metrics["per_class"]["neutral"]["recall"]
        if calm is not None and calm[clips_].any():
            is_calm = calm[clips_]
            ends = [o.end for o, c in zip(shown, is_calm) if c]
            metrics["n_calm"] = int(is_calm.sum())
            metrics["calm_recall"] = round(ends.count("neutral") / len(ends), 4)
            metrics["calm_read_as"] = {lab: round(ends.count(lab) / len(ends), 4) for lab in sorted(set(ends))}
    metrics["room_tone"] = {
        "gap_s": GAP_S,
        "dbfs": None if protocol.endswith("-zeros") else ROOM_TONE_DBFS,
        "seed": seed,
    }
    return metrics


def run_live_protocols(
    protocols: Sequence[str],
    card: ModelCard,
    predict: Callable[[np.ndarray], np.ndarray],
    paths: Sequence[str],
    test: np.ndarray,
    y: np.ndarray,
    speakers: np.ndarray,
    seed: int,
    calm: np.ndarray | None = None,
    cfg: Config | None = None,
) -> dict:
    """The live protocols among ``protocols`` on the test clips ``test`` (indices into ``paths``/``y``/
    ``speakers``); each clip's audio is read once."""
    from voxstream.audio.files import load_audio
    from voxstream.train.protocols import calm_sessions
    from voxstream.train.sessions import order

    audio: dict[int, np.ndarray] = {}

    def load(clip: int) -> np.ndarray:
        if clip not in audio:
            audio[clip] = load_audio(paths[clip], card.features.sample_rate)
        return audio[clip]

    out = {}
    for p in protocols:
        if p not in LIVE:
            continue
        sessions = (
            calm_sessions(test, y, speakers, seed, np.zeros(len(y), bool) if calm is None else calm)
            if p.startswith("live-calm")
            else order(test, speakers, seed)
        )
        out[p] = run_live(p, card, predict, load, sessions, y, seed, cfg, calm)
    return out

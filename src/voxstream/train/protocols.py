"""The evaluation protocols: how a held-out speaker meets the model, each scored by the one clip score.

For the test clips of a split (speakers the model did not train on):

- ``stream``: each test speaker one streamed session (clips in a seeded random order).
- ``calm-speaker``: per speaker, all neutral clips plus one clip of each other emotion, shuffled, one
  session: a speaker who is calm most of the time (also reports ``neutral_recall``).
- ``cold``: each file its own session (no history), as ``voxstream classify`` scores it.
- ``gain-20``, ``gain+20`` (peak-normalised), ``noise20`` (pink noise at 20 dB SNR): ``stream`` on the
  transformed audio (:mod:`.variants`).

Not in the default :data:`PROTOCOLS` (``voxstream eval --protocol`` only, :data:`EXTRA`):

- ``calibrated``: per test speaker, a baseline as ``voxstream calibrate`` records it, from the
  speaker's neutral clips streamed in order until :data:`CALIBRATION_S` of speech (or they run out);
  the speaker's other clips are then scored each as its own session starting from that baseline (cold
  but calibrated).  Also reports ``cold_accuracy_same_clips`` (those clips with no baseline) and
  ``calibration_speech_s_mean``.

Every protocol also counts ``unlabelled`` clips: no window passed the speech gate, so a live run
would never have labelled them (their score falls back to all windows).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from voxstream.model.card import LABELS
from voxstream.offline.clips import score_clips
from voxstream.engine.normalize import Normalizer

from voxstream.train.metrics import classification_metrics, mean_of
from voxstream.train.rows import DatasetRows
from voxstream.train.sessions import order

PROTOCOLS = ("stream", "calm-speaker", "cold", "gain-20", "gain+20", "noise20")
EXTRA = ("calibrated",)
"""Protocols ``eval`` accepts that training does not run."""
CALIBRATION_S = 20.0
"""Seconds of speech a ``calibrated`` baseline is made from (``voxstream calibrate``'s default)."""
CONDITION = {"gain-20": "gain-20", "gain+20": "gain+20", "noise20": "noise20"}
"""Protocol -> the variant of the test audio it needs (the others use ``orig``)."""
NEUTRAL = LABELS.index("neutral")


def calm_sessions(test: np.ndarray, y: np.ndarray, speakers: np.ndarray, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for s in sorted(set(speakers[test])):
        mine = test[speakers[test] == s]
        chosen = list(mine[y[mine] == NEUTRAL])
        for label in range(len(LABELS)):
            others = mine[y[mine] == label]
            if label != NEUTRAL and len(others):
                chosen.append(int(rng.choice(others)))
        out.append(rng.permutation(np.array(chosen, dtype=np.int64)))
    return out


def sessions_for(protocol: str, test: np.ndarray, y: np.ndarray, speakers: np.ndarray,
                 seed: int) -> list[np.ndarray]:
    if protocol == "cold":
        return [np.array([c]) for c in test]
    if protocol == "calm-speaker":
        return calm_sessions(test, y, speakers, seed)
    return order(test, speakers, seed)


def score(rows: DatasetRows, sessions: list[np.ndarray], norm: dict,
          predict: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(clips in session order, their probabilities, whether each got no speech window)."""
    clips = np.concatenate(sessions)
    ids = np.concatenate([np.full(len(s), i) for i, s in enumerate(sessions)])
    probs = score_clips([rows.clip(int(c)) for c in clips], lambda: Normalizer.from_dict(norm), predict, list(ids))
    unlabelled = np.array([not rows.clip(int(c)).speech.any() for c in clips])
    return clips, probs, unlabelled


def calibration_state(rows: DatasetRows, clips: np.ndarray, norm: dict, windows: int) -> tuple[dict, list[int]]:
    """The normaliser's state after streaming ``clips`` in order until ``windows`` speech windows; the clips used."""
    normalizer, used = Normalizer.from_dict(norm), []
    for c in clips:
        if normalizer.speech_windows >= windows:
            break
        clip = rows.clip(int(c))
        used.append(int(c))
        for x, speech in zip(clip.x, clip.speech):
            normalizer.update(x, bool(speech))
            if normalizer.speech_windows >= windows:
                break
    return normalizer.state(), used


def run_calibrated(rows: DatasetRows, norm: dict, predict, test: np.ndarray, y: np.ndarray,
                   speakers: np.ndarray, hop_s: float) -> dict:
    """The ``calibrated`` protocol (module docstring): each speaker's non-calibration clips, cold from a baseline."""
    windows = max(1, int(np.ceil(CALIBRATION_S / hop_s - 1e-9)))
    clips, probs, cold, heard = [], [], [], []
    for s in sorted(set(speakers[test])):
        mine = test[speakers[test] == s]
        state, used = calibration_state(rows, mine[y[mine] == NEUTRAL], norm, windows)
        others = np.array([c for c in mine if int(c) not in used], dtype=np.int64)
        heard.append(state["n"] * hop_s)
        if not len(others):
            continue
        clip_rows = [rows.clip(int(c)) for c in others]
        probs.append(score_clips(clip_rows, lambda st=state: Normalizer.from_dict(norm, state=st), predict))
        cold.append(score_clips(clip_rows, lambda: Normalizer.from_dict(norm), predict))
        clips.append(others)
    if not clips:
        raise ValueError("calibrated: every test clip was used for calibration; no clip left to score")
    clips_, probs_, cold_ = np.concatenate(clips), np.concatenate(probs), np.concatenate(cold)
    metrics = classification_metrics(y[clips_], probs_.argmax(1), LABELS)
    metrics["unlabelled"] = int(sum(not rows.clip(int(c)).speech.any() for c in clips_))
    metrics["cold_accuracy_same_clips"] = round(float(np.mean(cold_.argmax(1) == y[clips_])), 4)
    metrics["calibration_speech_s_mean"] = round(float(np.mean(heard)), 2)
    return metrics


def run_protocol(protocol: str, rows: dict[str, DatasetRows], norm: dict, predict, test: np.ndarray,
                 y: np.ndarray, speakers: np.ndarray, seed: int, hop_s: float = 0.25) -> dict:
    """Metrics of one protocol on the test clips (``hop_s``: the card's hop, for ``calibrated``)."""
    if protocol == "calibrated":
        return run_calibrated(rows["orig"], norm, predict, test, y, speakers, hop_s)
    sessions = sessions_for(protocol, test, y, speakers, seed)
    clips, probs, unlabelled = score(rows[CONDITION.get(protocol, "orig")], sessions, norm, predict)
    metrics = classification_metrics(y[clips], probs.argmax(1), LABELS)
    metrics["unlabelled"] = int(unlabelled.sum())
    if protocol == "calm-speaker":
        metrics["neutral_recall"] = metrics["per_class"]["neutral"]["recall"]
    return metrics


def run_protocols(rows: dict[str, DatasetRows], norm: dict, predict, test: np.ndarray, y: np.ndarray,
                  speakers: np.ndarray, seed: int, protocols: tuple[str, ...] = PROTOCOLS) -> dict:
    return {p: run_protocol(p, rows, norm, predict, test, y, speakers, seed) for p in protocols}


def mean_over_folds(folds: list[dict]) -> dict:
    """Per protocol: mean/std of accuracy and macro F1 over folds, summed unlabelled, mean neutral recall."""
    out = {}
    for p in folds[0]:
        m = mean_of([f[p] for f in folds])
        m["unlabelled"] = int(sum(f[p]["unlabelled"] for f in folds))
        if "neutral_recall" in folds[0][p]:
            m["neutral_recall_mean"] = round(float(np.mean([f[p]["neutral_recall"] for f in folds])), 4)
        out[p] = m
    return out

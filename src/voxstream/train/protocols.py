"""The evaluation protocols: how a held-out speaker meets the model, each scored by the one clip score.

For the test clips of a split (speakers the model did not train on):

- ``stream``: each test speaker one streamed session (clips in a seeded random order).
- ``calm-speaker``: per speaker, all clips labelled neutral plus one clip of each other label, shuffled, one
  session: a speaker who is calm most of the time (also reports ``neutral_recall``).  Under the recipe's
  label map RAVDESS *calm* clips are labelled neutral, so they are among them.
- ``calm-session``: per speaker, all clips labelled neutral and all clips whose corpus word is *calm*
  (whatever label they map to) plus one clip of each other label, one session.  Reports
  ``neutral_recall``, ``calm_recall`` (the share of calm clips scored ``neutral``) and ``calm_read_as``
  (what the calm clips were scored as).  Under the calm -> neutral map it streams the same clips as
  ``calm-speaker``; it tells calm clips from neutral ones, and keeps them in the session when calm is
  mapped elsewhere.
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

import functools
from collections.abc import Callable

import numpy as np

from voxstream.engine.affect import AROUSAL, VALENCE
from voxstream.engine.normalize import Normalizer
from voxstream.inference.card import LABELS
from voxstream.offline.clips import score_clips
from voxstream.train.metrics import classification_metrics, mean_of
from voxstream.train.rows import DatasetRows
from voxstream.train.sessions import order

PROTOCOLS = ("stream", "calm-speaker", "calm-session", "cold", "gain-20", "gain+20", "noise20")
EXTRA = ("calibrated",)
"""Protocols ``eval`` accepts that training does not run."""
CALIBRATION_S = 20.0
"""Seconds of speech a ``calibrated`` baseline is made from (``voxstream calibrate``'s default)."""
CONDITION = {"gain-20": "gain-20", "gain+20": "gain+20", "noise20": "noise20"}
"""Protocol -> the variant of the test audio it needs (the others use ``orig``)."""
NEUTRAL = LABELS.index("neutral")


def calm_sessions(
    test: np.ndarray, y: np.ndarray, speakers: np.ndarray, seed: int, calm: np.ndarray | None = None
) -> list[np.ndarray]:
    """Per speaker: every neutral clip (and every ``calm`` one, a mask over all clips) plus one clip of each
    other label, shuffled."""
    rng = np.random.default_rng(seed)
    base = (y == NEUTRAL) if calm is None else (y == NEUTRAL) | calm
    out = []
    for s in sorted(set(speakers[test])):
        mine = test[speakers[test] == s]
        chosen = list(mine[base[mine]])
        for label in range(len(LABELS)):
            others = mine[(y[mine] == label) & ~base[mine]]
            if label != NEUTRAL and len(others):
                chosen.append(int(rng.choice(others)))
        out.append(rng.permutation(np.array(chosen, dtype=np.int64)))
    return out


def sessions_for(
    protocol: str, test: np.ndarray, y: np.ndarray, speakers: np.ndarray, seed: int, calm: np.ndarray | None = None
) -> list[np.ndarray]:
    if protocol == "cold":
        return [np.array([c]) for c in test]
    if protocol == "calm-speaker":
        return calm_sessions(test, y, speakers, seed)
    if protocol == "calm-session":
        return calm_sessions(test, y, speakers, seed, np.zeros(len(y), dtype=bool) if calm is None else calm)
    return order(test, speakers, seed)


def calm_figures(clips: np.ndarray, pred: np.ndarray, calm: np.ndarray | None) -> dict:
    """``calm_recall`` and ``calm_read_as`` (label -> share) of the calm clips among ``clips``; empty without any."""
    is_calm = np.zeros(len(clips), dtype=bool) if calm is None else calm[clips]
    if not is_calm.any():
        return {}
    counts = np.bincount(pred[is_calm], minlength=len(LABELS)) / is_calm.sum()
    return {
        "n_calm": int(is_calm.sum()),
        "calm_recall": round(float(counts[NEUTRAL]), 4),
        "calm_read_as": {lab: round(float(c), 4) for lab, c in zip(LABELS, counts) if c > 0},
    }


def score(
    rows: DatasetRows, sessions: list[np.ndarray], norm: dict, predict: Callable[[np.ndarray], np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def run_calibrated(
    rows: DatasetRows, norm: dict, predict, test: np.ndarray, y: np.ndarray, speakers: np.ndarray, hop_s: float
) -> dict:
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
        probs.append(score_clips(clip_rows, functools.partial(Normalizer.from_dict, norm, state=state), predict))
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


def run_protocol(
    protocol: str,
    rows: dict[str, DatasetRows],
    norm: dict,
    predict,
    test: np.ndarray,
    y: np.ndarray,
    speakers: np.ndarray,
    seed: int,
    hop_s: float = 0.25,
    calm: np.ndarray | None = None,
) -> dict:
    """Metrics of one protocol on the test clips (``hop_s``: the card's hop, for ``calibrated``; ``calm``: which
    clips are calm by their corpus word, for ``calm-session``)."""
    if protocol == "calibrated":
        return run_calibrated(rows["orig"], norm, predict, test, y, speakers, hop_s)
    sessions = sessions_for(protocol, test, y, speakers, seed, calm)
    clips, probs, unlabelled = score(rows[CONDITION.get(protocol, "orig")], sessions, norm, predict)
    metrics = classification_metrics(y[clips], probs.argmax(1), LABELS)
    metrics.update(affect_accuracy(y[clips], probs))
    metrics["unlabelled"] = int(unlabelled.sum())
    if protocol in ("calm-speaker", "calm-session"):
        metrics["neutral_recall"] = metrics["per_class"]["neutral"]["recall"]
    if protocol == "calm-session":
        metrics.update(calm_figures(clips, probs.argmax(1), calm))
    return metrics


def affect_accuracy(y: np.ndarray, probs: np.ndarray) -> dict:
    """Accuracy of the event's ``arousal`` and ``valence`` (:mod:`voxstream.engine.affect`) against those of
    the true labels."""
    out = {}
    for name, groups in (("arousal", AROUSAL), ("valence", VALENCE)):
        high = np.array([LABELS.index(lab) for lab in groups[1]])
        truth = np.isin(y, high)
        said = probs[:, high].sum(axis=1) >= 0.5
        out[f"{name}_accuracy"] = round(float(np.mean(truth == said)), 4)
    return out


def run_protocols(
    rows: dict[str, DatasetRows],
    norm: dict,
    predict,
    test: np.ndarray,
    y: np.ndarray,
    speakers: np.ndarray,
    seed: int,
    protocols: tuple[str, ...] = PROTOCOLS,
    calm: np.ndarray | None = None,
) -> dict:
    return {p: run_protocol(p, rows, norm, predict, test, y, speakers, seed, calm=calm) for p in protocols}


def mean_over_folds(folds: list[dict]) -> dict:
    """Per protocol: mean/std of accuracy, UAR and macro F1 over folds, summed unlabelled, and the mean of
    each further figure every fold has (neutral and calm recall, arousal and valence accuracy)."""
    out = {}
    for p in folds[0]:
        m = mean_of([f[p] for f in folds])
        m["unlabelled"] = int(sum(f[p]["unlabelled"] for f in folds))
        for key in (
            "neutral_recall",
            "calm_recall",
            "arousal_accuracy",
            "valence_accuracy",
            "during_accuracy",
            "latency_median_s",
            "latency_p90_s",
        ):
            if all(f[p].get(key) is not None for f in folds):
                m[f"{key}_mean"] = round(float(np.mean([f[p][key] for f in folds])), 4)
        out[p] = m
    return out

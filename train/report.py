"""The issue 5 report written into a model card: goals, what was tried, caveats, the seed for comparison.

Pure functions of the evaluations dict of :mod:`.quality` (and of the seed's
card, when one is beside the new model), so every number in the card comes
from a measurement in the same run or in a card that records its own command.
"""

from __future__ import annotations

import json
from pathlib import Path

GOALS = (
    ("TESS random 80/20", ("tess_random",), 0.995),
    ("TESS cross-speaker mean (OAF->YAF, YAF->OAF)", ("tess_OAF_to_YAF", "tess_YAF_to_OAF"), 0.80),
    ("RAVDESS leave-actors-out mean (4 folds of 4 actors)", ("ravdess_lao",), 0.70),
)
"""(goal, evaluation keys whose accuracies are averaged, target accuracy) from GitHub issue 5."""

TRIED = (
    {"what": "global z-score (no session normalisation)", "inner_fold_accuracy": 0.500},
    {"what": "session normalisation, mean and std", "inner_fold_accuracy": 0.567},
    {"what": "session normalisation, mean only", "inner_fold_accuracy": 0.569},
    {"what": "MLP 256-128 (chosen)", "inner_fold_accuracy": 0.585},
    {"what": "MLP 512-256", "inner_fold_accuracy": 0.574},
    {"what": "40 epochs instead of 20", "inner_fold_accuracy": 0.579},
    {"what": "three more speed factors", "inner_fold_accuracy": 0.584},
    {"what": "80 mels / 60 MFCCs (not adopted: +0.2 points, 50% larger input)", "inner_fold_accuracy": 0.587},
    {"what": "ensemble of 3 seeds (not adopted: 3x the model for +0.3 points)", "inner_fold_accuracy_delta": 0.003},
    {"what": "TESS weighted 0.3", "inner_fold_accuracy": 0.581},
    {"what": "no TESS in training (not adopted: the shipped model also serves TESS-like speech)",
     "inner_fold_accuracy": 0.592},
    {"what": "no augmentation vs speed 0.9/1.1 + noise (outer fold 01-04)", "accuracy": 0.510,
     "with_augmentation": 0.542},
    {"what": "Conv1D over MFCC frames vs pooled MLP (fold 01-04, no augmentation)", "accuracy": 0.45,
     "pooled_mlp": 0.51},
    {"what": "logistic-regression probe: mean+std beats mean; adding delta-std", "accuracy": 0.48,
     "without_delta_std": 0.43},
    {"what": "+ prosody block, 8 values (chosen: pooling mean_std_dstd_prosody): voiced fraction, mean/std of log "
             "F0 over voiced frames, autocorrelation peak, mean/std of spectral centroid and of frame level; "
             "inner folds of all 4 outer folds, seeds 0 and 1",
     "inner_fold_accuracy": 0.583, "without_prosody": 0.562},
    {"what": "prosody block without the octave guard (lag = highest autocorrelation peak; same inner folds)",
     "inner_fold_accuracy": 0.583},
    {"what": "+ pitch only (voiced fraction, log F0 mean/std, autocorrelation peak)", "inner_fold_accuracy": 0.590},
    {"what": "+ centroid and level mean/std only", "inner_fold_accuracy": 0.592},
    {"what": "+ pitch, centroid and level (the prosody block; no octave guard)", "inner_fold_accuracy": 0.601},
    {"what": "+ mean absolute frame difference of the MFCCs (40 values)", "inner_fold_accuracy": 0.573},
    {"what": "+ prosody block + mean absolute MFCC difference", "inner_fold_accuracy": 0.602},
    {"what": "label smoothing 0.1 (MFCC features only)", "inner_fold_accuracy": 0.588},
    {"what": "mixup, alpha 0.2 (MFCC features only)", "inner_fold_accuracy": 0.587},
    {"what": "class-balanced loss weights (MFCC features only)", "inner_fold_accuracy": 0.592},
)
TRIED_PROTOCOL = ("chosen on nested inner RAVDESS folds only (leave-one-group-out over the three training "
                  "groups of an outer fold, TESS in training), never on a test fold; figures are inner-fold mean "
                  "accuracy unless marked; unmarked rows use the inner folds of outer folds 01-04 and 09-12 with "
                  "seed 0, where the MFCC-only MLP 256-128 scores 0.585")

CAVEATS = (
    "Evaluation sessions are emotion-balanced, so a test speaker's session baseline is their average over all "
    "emotions; a live speaker who is mostly neutral shifts the baseline towards neutral and the other emotions "
    "stand out more (or less) than in the evaluation.",
    "The session baseline starts from the training prior and needs ~10 s of speech (40 windows) to become the "
    "speaker's; the first seconds of a new speaker are scored against the prior.",
    "One session per stream: a second speaker in the room is averaged into the same baseline.",
    "At the default gate (-45 dBFS, 20% of 30 ms sub-frames) 12% of all training windows (18% of RAVDESS) and "
    "148 of 960 RAVDESS clips have no window passing the gate; such clips are scored on all their windows in "
    "the evaluation but give no label live.",
    "The data are two TESS speakers and RAVDESS actors 01-16 (tested as 4 folds of 4 actors): acted, "
    "studio-quality English speech; real rooms, microphones and spontaneous emotion will score lower.",
    "RAVDESS calm is mapped to neutral, so neutral has more clips than the other labels.",
)


def _accuracy(evaluations: dict, key: str) -> float | None:
    ev = evaluations.get(key)
    if not ev:
        return None
    return ev["mean"]["accuracy_mean"] if "mean" in ev else ev["splits"][0]["metrics"]["accuracy"]


def goals(evaluations: dict) -> dict:
    """Each issue 5 goal: target, measured accuracy, reached, gap (only goals whose splits were evaluated)."""
    out = []
    for goal, keys, target in GOALS:
        values = [_accuracy(evaluations, k) for k in keys]
        if any(v is None for v in values):
            continue
        measured = round(sum(values) / len(values), 4)
        out.append({"goal": goal, "splits": list(keys), "target": target, "measured": measured,
                    "reached": measured >= target, "gap": round(max(0.0, target - measured), 4)})
    return {"source": "GitHub issue 5 (Model quality), accuracy", "list": out}


def summary(evaluations: dict) -> dict:
    """Accuracy and macro F1 per split (per fold) and their mean, one line each."""
    out = {}
    for key, ev in evaluations.items():
        out[key] = {"folds": [{"split": r["split"], "accuracy": r["metrics"]["accuracy"],
                               "macro_f1": r["metrics"]["macro_f1"]} for r in ev["splits"]]}
        if "mean" in ev:
            out[key]["mean"] = {"accuracy": ev["mean"]["accuracy_mean"], "macro_f1": ev["mean"]["macro_f1_mean"]}
    return out


def seed_comparison(card_path: str | Path) -> dict | None:
    """The seed's figures from its own card (``models/seed.json``), or None when there is no seed card."""
    path = Path(card_path)
    if not path.is_file():
        return None
    card = json.loads(path.read_text())
    if card.get("arch") != "seed":
        return None
    figures = {}
    for ev in card.get("metrics", {}).get("evaluations", []):
        figures[ev["spec"]] = {"folds": [{"split": r["split"], "accuracy": r["metrics"]["accuracy"],
                                          "macro_f1": r["metrics"]["macro_f1"]} for r in ev["splits"]]}
        if "mean" in ev:
            figures[ev["spec"]]["mean"] = {"accuracy": ev["mean"]["accuracy_mean"],
                                           "macro_f1": ev["mean"]["macro_f1_mean"]}
    return {"card": path.name, "tflite_sha256": card["tflite"]["sha256"], "command": card.get("command"),
            "figures": figures,
            "note": "clip-level features (one whole-clip mean MFCC vector), Keras predictions; tess/speaker=YAF "
                    "is OAF->YAF; its RAVDESS folds are a seeded random assignment of actors "
                    "(03 04 11 12 / 01 05 06 08 / 07 10 13 15 / 02 09 14 16), not 01-04/05-08/09-12/13-16"}

"""How much each training row counts: loss weights that balance speakers (and optionally labels), and the
share of each corpus in the training data that the card reports.

A speaker is ``corpus:speaker``; a training copy of a clip (a variant) belongs to the clip's speaker, so
balancing weighs every original voice the same however many clips and copies it has.  Modes:

- ``none``: every row 1.
- ``speakers``: every speaker's rows together weigh the same (TESS's two voices, 1,400 clips each, no
  longer outweigh the 60 clips of a RAVDESS actor).
- ``speakers+labels``: as ``speakers``, then every label's rows together weigh the same.
- ``corpora``: as ``speakers``, then every corpus's rows together weigh the same (15 Korean or 16 RAVDESS
  voices no longer outweigh TESS's two or nEMO's four); the corpus is the part of the speaker key before ``:``.

Weights are scaled to a mean of 1 over the rows, so the loss keeps its scale.
"""

from __future__ import annotations

import numpy as np

MODES = ("none", "speakers", "speakers+labels", "corpora")


def row_weights(mode: str, speakers: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Loss weight of each training row, given its speaker and label (mean 1)."""
    if mode not in MODES:
        raise ValueError(f"--balance {mode!r}: expected one of {', '.join(MODES)}")
    w = np.ones(len(y), dtype=np.float64)
    if mode != "none":
        _, inverse, counts = np.unique(speakers, return_inverse=True, return_counts=True)
        w = 1.0 / counts[inverse]
    if mode == "speakers+labels":
        _, inverse = np.unique(y, return_inverse=True)
        w = w / np.bincount(inverse, weights=w)[inverse]
    if mode == "corpora":
        corpus = np.array([str(s).split(":", 1)[0] for s in speakers])
        _, inverse = np.unique(corpus, return_inverse=True)
        w = w / np.bincount(inverse, weights=w)[inverse]
    return (w * len(w) / w.sum()).astype(np.float32)


def corpus_shares(
    corpora: np.ndarray, speakers: np.ndarray, clips: np.ndarray, row_clips: np.ndarray, weights: np.ndarray
) -> dict[str, dict]:
    """Per corpus of the training side: its speakers and clips, and its share of the training rows and of
    their total loss weight (``corpora``/``speakers`` per clip of the table)."""
    out = {}
    for corpus in sorted(set(corpora[clips])):
        mine = clips[corpora[clips] == corpus]
        in_rows = corpora[row_clips] == corpus
        out[str(corpus)] = {
            "speakers": int(len(set(speakers[mine]))),
            "clips": int(len(mine)),
            "row_share": round(float(in_rows.mean()), 4),
            "weight_share": round(float(weights[in_rows].sum() / weights.sum()), 4),
        }
    return out

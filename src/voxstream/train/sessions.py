"""Simulated streaming sessions: the card's normaliser run over a speaker's windows, as the engine runs it.

:func:`template` builds the card's ``normalization`` dict (its prior = the
statistics of the training side's speech windows); :func:`simulate` streams
each speaker's clips, in a seeded random order, through one
:class:`~voxstream.engine.normalize.Normalizer` exactly as the engine does per
hop (update on speech windows, apply to all), so training features equal
streaming features.  Augmented copies are further speakers.
"""

from __future__ import annotations

import numpy as np

from voxstream.engine.normalize import Normalizer
from voxstream.train.rows import DatasetRows


def _flat(x: np.ndarray) -> np.ndarray:
    """Rows of D-long vectors: (n, D) stays, a sequence (n, K, D) becomes (n * K, D)."""
    return x.reshape(-1, x.shape[-1])


def template(rows: DatasetRows, clips: np.ndarray, recipe: dict) -> dict:
    """The normalisation dict of ``recipe`` (``{"kind": ...}`` plus options) fitted on ``clips``' speech windows."""
    if recipe.get("kind", "none") == "none":
        return dict(recipe)
    options = {k: v for k, v in recipe.items() if k != "kind"}
    index = rows.rows_of(clips)
    use = rows.speech[index] if rows.speech[index].any() else np.ones(len(index), dtype=bool)  # no speech: all
    speech = _flat(np.asarray(rows.x[index][use], dtype=np.float32))  # float32, as the shipped priors were computed
    return {
        "kind": "session",
        "prior_mean": speech.mean(axis=0).tolist(),
        "prior_std": np.maximum(speech.std(axis=0), 1e-3).tolist(),
        **options,
    }


def order(clips: np.ndarray, speakers: np.ndarray, seed: int) -> list[np.ndarray]:
    """Each speaker's clips in a seeded random order, speakers sorted: the sessions of a protocol."""
    rng = np.random.default_rng(seed)
    return [rng.permutation(clips[speakers[clips] == s]) for s in sorted(set(speakers[clips]))]


def simulate(rows: DatasetRows, sessions: list[np.ndarray], norm: dict) -> tuple[np.ndarray, np.ndarray]:
    """Normalised rows of the sessions (each a list of clips streamed through a fresh normaliser).

    Returns (features, clip index of each row)."""
    out_x, out_clip = [], []
    for clips in sessions:
        index = rows.rows_of(clips)
        out_x.append(Normalizer.from_dict(norm).run(rows.x[index], rows.speech[index]))
        out_clip.append(np.repeat(clips, np.diff(rows.offs)[clips]))
    return np.concatenate(out_x), np.concatenate(out_clip)


def with_post(norm: dict, x: np.ndarray) -> tuple[dict, np.ndarray]:
    """Add the fixed post-normalisation (mean/std of the normalised training rows) and apply it."""
    flat = _flat(x)
    mean, std = flat.mean(axis=0), np.maximum(flat.std(axis=0), 1e-3)
    if norm.get("kind", "none") == "none":
        return norm, x
    return {**norm, "post_mean": mean.tolist(), "post_std": std.tolist()}, ((x - mean) / std).astype(np.float32)

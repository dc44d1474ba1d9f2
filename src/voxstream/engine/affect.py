"""Arousal and valence from the seven label scores: a fixed mapping, no model of its own.

Each label belongs to one side of each dimension; the score of a side is the sum of its labels'
scores, and the side with at least half of the score is the event's value:

=========  =======  ========
label      arousal  valence
=========  =======  ========
angry      high     negative
fear       high     negative
happy      high     positive
ps         high     positive
disgust    low      negative
sad        low      negative
neutral    low      positive
=========  =======  ========

This is the binary clustering of Schuller, Vlasenko, Eyben, Rigoll and Wendemuth, "Acoustic emotion
recognition: a benchmark comparison of performances" (ASRU 2009), which maps the acted corpora's
emotions onto binary arousal and valence for EmoDB and eNTERFACE: anger, fear, joy and surprise
are high arousal, disgust, sadness and neutral low; joy, surprise and neutral are positive valence,
anger, disgust, fear and sadness negative.  Pleasant surprise (``ps``) is positive by its name.
Neutral, and RAVDESS calm mapped onto it, is low arousal; counting it positive (not negative) keeps
the two sides of valence for the calm voice the product meets most.
"""

from __future__ import annotations

from collections.abc import Mapping

AROUSAL = (("disgust", "neutral", "sad"), ("angry", "fear", "happy", "ps"))
"""(low, high) labels."""
VALENCE = (("angry", "disgust", "fear", "sad"), ("happy", "neutral", "ps"))
"""(negative, positive) labels."""
AROUSAL_VALUES = ("low", "high")
VALENCE_VALUES = ("negative", "positive")


def side_score(scores: Mapping[str, float], groups: tuple[tuple[str, ...], tuple[str, ...]]) -> float | None:
    """Share of the scores on the second side of ``groups`` (high arousal, positive valence); None when the
    scores hold none of the labels or sum to 0 (no speech heard yet)."""
    low = sum(float(scores.get(lab, 0.0)) for lab in groups[0])
    high = sum(float(scores.get(lab, 0.0)) for lab in groups[1])
    total = low + high
    return high / total if total > 0 else None


def affect(scores: Mapping[str, float]) -> dict[str, str | float | None]:
    """``arousal``/``valence`` (a value of :data:`AROUSAL_VALUES`/:data:`VALENCE_VALUES`, or None) and their
    scores ``arousal_score`` (share of high arousal) and ``valence_score`` (share of positive valence)."""
    out: dict[str, str | float | None] = {}
    for name, groups, values in (("arousal", AROUSAL, AROUSAL_VALUES), ("valence", VALENCE, VALENCE_VALUES)):
        share = side_score(scores, groups)
        out[name] = None if share is None else values[int(share >= 0.5)]
        out[f"{name}_score"] = None if share is None else round(share, 4)
    return out

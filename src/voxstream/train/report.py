"""Headline figures of a model card, read from the card's own evaluations (fold means).

Only measured numbers: every figure comes from the evaluations of the same
training run, and nothing here says what a figure should be;
``scripts/model_table.py`` prints these figures for the shipped cards.
"""

from __future__ import annotations

HEADLINE = (
    ("lao live at end", "lao", "live", "accuracy_mean"),
    ("lao live at end UAR", "lao", "live", "uar_mean"),
    ("lao live during", "lao", "live", "during_accuracy_mean"),
    ("lao live latency median s", "lao", "live", "latency_median_s_mean"),
    ("lao live-episodes at end", "lao", "live-episodes", "accuracy_mean"),
    ("lao live-calm neutral recall", "lao", "live-calm", "neutral_recall_mean"),
    ("lao live-zeros at end", "lao", "live-zeros", "accuracy_mean"),
    ("lao live-calm-zeros neutral recall", "lao", "live-calm-zeros", "neutral_recall_mean"),
    ("loco live UAR", "loco", "live", "uar_mean"),
    ("loco live arousal accuracy", "loco", "live", "arousal_accuracy_mean"),
    ("lao stream", "lao", "stream", "accuracy_mean"),
    ("lao stream UAR", "lao", "stream", "uar_mean"),
    ("lao calm-speaker", "lao", "calm-speaker", "accuracy_mean"),
    ("lao calm-speaker neutral recall", "lao", "calm-speaker", "neutral_recall_mean"),
    ("lao calm-session", "lao", "calm-session", "accuracy_mean"),
    ("lao calm-session UAR", "lao", "calm-session", "uar_mean"),
    ("lao calm-session neutral recall", "lao", "calm-session", "neutral_recall_mean"),
    ("lao calm-session calm clips read as neutral", "lao", "calm-session", "calm_recall_mean"),
    ("lao cold", "lao", "cold", "accuracy_mean"),
    ("lao cold UAR", "lao", "cold", "uar_mean"),
    ("lao stream arousal accuracy", "lao", "stream", "arousal_accuracy_mean"),
    ("lao stream valence accuracy", "lao", "stream", "valence_accuracy_mean"),
    ("tess-cross stream", "tess-cross", "stream", "accuracy_mean"),
    ("nemo-cross stream", "nemo-cross", "stream", "accuracy_mean"),
    ("nemo-cross stream UAR", "nemo-cross", "stream", "uar_mean"),
)
"""(figure, split spec, protocol, key of the fold mean)."""
DROPS = (
    ("lao gain-20 drop below stream", "gain-20"),
    ("lao gain+20 drop below stream", "gain+20"),
    ("lao noise20 drop below stream", "noise20"),
)
"""(figure, protocol): lao ``stream`` accuracy minus that protocol's (positive: the condition costs accuracy)."""


def figures(evaluations: dict) -> list[dict]:
    """Each headline figure the evaluations hold, as ``{"figure": name, "measured": value}``."""
    out = []
    for name, spec, protocol, key in HEADLINE:
        mean = evaluations.get(spec, {}).get("mean", {}).get(protocol, {})
        if key in mean:
            out.append({"figure": name, "measured": mean[key]})
    lao = evaluations.get("lao", {}).get("mean", {})
    if "stream" in lao:
        for name, protocol in DROPS:
            if protocol in lao:
                drop = round(lao["stream"]["accuracy_mean"] - lao[protocol]["accuracy_mean"], 4)
                out.append({"figure": name, "measured": drop})
        out.append({"figure": "lao unlabelled clips (stream)", "measured": lao["stream"]["unlabelled"]})
    return out

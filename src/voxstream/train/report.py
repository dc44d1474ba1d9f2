"""Goals written into a model card, measured against the card's own evaluations.

The targets are those of the project's issues (the robust-model issue); every
measured figure comes from the evaluations of the same training run.
"""

from __future__ import annotations

GOALS = (
    ("lao stream", "lao", "stream", "accuracy_mean", 0.68),
    ("lao calm-speaker", "lao", "calm-speaker", "accuracy_mean", 0.65),
    ("lao calm-speaker neutral recall", "lao", "calm-speaker", "neutral_recall_mean", 0.70),
    ("lao cold", "lao", "cold", "accuracy_mean", 0.58),
    ("tess-cross stream", "tess-cross", "stream", "accuracy_mean", 0.80),
)
"""(goal, spec, protocol, figure of the fold mean, target)."""
WITHIN = (("lao gain-20 vs stream", "gain-20", 0.02), ("lao gain+20 vs stream", "gain+20", 0.02),
          ("lao noise20 vs stream", "noise20", 0.05))
"""(goal, protocol, largest drop in accuracy below lao stream)."""


def goals(evaluations: dict) -> list[dict]:
    """Each goal the evaluations allow: measured, target, reached."""
    out = []
    for goal, spec, protocol, figure, target in GOALS:
        mean = evaluations.get(spec, {}).get("mean", {}).get(protocol, {})
        if figure in mean:
            out.append({"goal": goal, "measured": mean[figure], "target": target,
                        "reached": mean[figure] >= target})
    lao = evaluations.get("lao", {}).get("mean", {})
    if "stream" in lao:
        for goal, protocol, drop in WITHIN:
            if protocol in lao:
                gap = round(lao["stream"]["accuracy_mean"] - lao[protocol]["accuracy_mean"], 4)
                out.append({"goal": goal, "measured": gap, "target": f"drop <= {drop}", "reached": gap <= drop})
        out.append({"goal": "lao unlabelled clips", "measured": lao["stream"]["unlabelled"], "target": 0,
                    "reached": lao["stream"]["unlabelled"] == 0})
    return out

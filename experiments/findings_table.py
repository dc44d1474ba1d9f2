"""Print the inner-fold table of experiments/FINDINGS.md from the trial result files.

    .venv/bin/python -m experiments.findings_table experiments/results/*.json
"""

from __future__ import annotations

import json
import sys

COLS = ("stream", "cold", "calm", "calm_neutral_recall", "gain-20", "gain+20", "noise20", "cold_gain-20",
        "cold_gain+20")


def main(paths: list[str]) -> None:
    print("| config | " + " | ".join(COLS) + " | train s/fit | folds (stream) |")
    print("|---" * (len(COLS) + 3) + "|")
    for path in paths:
        for name, r in json.load(open(path)).items():
            m = r["mean"]
            folds = " / ".join(f"{100 * f['stream']:.1f}" for f in r["folds"].values())
            print(f"| {name} | " + " | ".join(f"{100 * m[c]:.1f}" if c in m else "-" for c in COLS)
                  + f" | {m['train_seconds']:.0f} | {folds} |")


if __name__ == "__main__":
    main(sys.argv[1:])

"""Print the model comparison tables of the README and docs/model.md from the model cards.

    .venv/bin/python scripts/model_table.py models/voxstream.json models/session_mlp.json models/seed.json

Every figure is read from the cards, which ``voxstream train ... --evaluate standard`` wrote
(accuracy on speakers the model did not train on; fold means; the protocols of train/protocols.py).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

PROTOCOLS = ("stream", "calm-speaker", "cold", "gain-20", "gain+20", "noise20")


def _cell(ev: dict | None, protocol: str) -> str:
    if not ev:
        return "n/a"
    m = ev.get("mean", {}).get(protocol)
    if m is None:
        m = {"accuracy_mean": ev["splits"][0]["protocols"][protocol]["accuracy"]}
    return f"{100 * m['accuracy_mean']:.1f} %"


def summary(cards: list[dict]) -> str:
    """Rows: split x protocol; columns: one per card (arch name)."""
    head = "| split | protocol | " + " | ".join(f"{c['name']} ({c['arch']})" for c in cards) + " |"
    lines = [head, "|" + "---|" * (2 + len(cards))]
    for spec in ("lao", "tess-cross"):
        for p in PROTOCOLS:
            lines.append(f"| {spec} | {p} | " + " | ".join(_cell(c.get("evaluations", {}).get(spec), p)
                                                         for c in cards) + " |")
    lines.append("| lao | calm-speaker neutral recall | " + " | ".join(
        f"{100 * c['evaluations']['lao']['mean']['calm-speaker']['neutral_recall_mean']:.1f} %"
        if "lao" in c.get("evaluations", {}) else "n/a" for c in cards) + " |")
    lines.append("| lao | unlabelled clips (stream) | " + " | ".join(
        str(c["evaluations"]["lao"]["mean"]["stream"]["unlabelled"]) if "lao" in c.get("evaluations", {}) else "n/a"
        for c in cards) + " |")
    return "\n".join(lines)


def folds(card: dict, spec: str = "lao") -> str:
    """Per-fold accuracies of one card and split."""
    ev = card["evaluations"][spec]
    lines = ["| fold | " + " | ".join(PROTOCOLS) + " |", "|" + "---|" * (1 + len(PROTOCOLS))]
    for s in ev["splits"]:
        lines.append(f"| {s['split']} | " + " | ".join(f"{100 * s['protocols'][p]['accuracy']:.1f}"
                                                       for p in PROTOCOLS) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cards", nargs="+", type=Path)
    ap.add_argument("--folds", action="store_true", help="also the per-fold lao table of the first card")
    args = ap.parse_args()
    cards = [json.loads(p.read_text()) for p in args.cards]
    print(summary(cards))
    if args.folds:
        print()
        print(folds(cards[0]))
    goals = cards[0].get("goals", [])
    if goals:
        print()
        print("| goal | measured | target | reached |\n|---|---|---|---|")
        for g in goals:
            print(f"| {g['goal']} | {g['measured']} | {g['target']} | {'yes' if g['reached'] else 'no'} |")


if __name__ == "__main__":
    main()

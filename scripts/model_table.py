"""Print the model comparison tables of the README and docs/model.md from the model cards.

    .venv/bin/python scripts/model_table.py models/voxstream.json models/session_mlp.json models/seed.json

Every figure is read from the cards, which ``voxstream train ... --evaluate standard`` wrote
(accuracy on speakers the model did not train on; fold means; the protocols of src/voxstream/train/protocols.py).
The last table holds the headline figures of src/voxstream/train/report.py, one column per card.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from voxstream.train.report import figures

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


def pooled(cards: list[tuple[str, dict]]) -> str:
    """One row per card: accuracy averaged over every split of every evaluation it holds (e.g. inner folds)."""
    lines = ["| card | recipe | folds | " + " | ".join(PROTOCOLS) + " | neutral recall | mean |",
             "|" + "---|" * (5 + len(PROTOCOLS))]
    for name, c in cards:
        splits = [s for ev in c.get("evaluations", {}).values() for s in ev["splits"]]
        acc = [100 * sum(s["protocols"][p]["accuracy"] for s in splits) / len(splits) for p in PROTOCOLS]
        recall = 100 * sum(s["protocols"]["calm-speaker"]["neutral_recall"] for s in splits) / len(splits)
        lines.append(f"| {name} ({c['arch']}) | {','.join(c['training']['variants'])}, hop {c['training'].get('train_hop', 1)}, {c['training']['epochs']} epochs | {len(splits)} | "
                     + " | ".join(f"{a:.1f}" for a in acc) + f" | {recall:.1f} | {sum(acc) / len(acc):.1f} |")
    return "\n".join(lines)


def headline(cards: list[dict]) -> str:
    """The headline figures (fold means, and lao drops below ``stream``) of each card; n/a where it has none."""
    per_card = [{f["figure"]: f["measured"] for f in figures(c.get("evaluations", {}))} for c in cards]
    names = list(dict.fromkeys(name for fig in per_card for name in fig))
    lines = ["| figure | " + " | ".join(f"{c['name']} ({c['arch']})" for c in cards) + " |",
             "|" + "---|" * (1 + len(cards))]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(str(fig.get(name, "n/a")) for fig in per_card) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cards", nargs="+", type=Path)
    ap.add_argument("--folds", action="store_true", help="also the per-fold lao table of the first card")
    ap.add_argument("--pooled", action="store_true", help="one row per card, mean over all its splits "
                                                         "(for recipe trials on lao-inner=N)")
    args = ap.parse_args()
    cards = [json.loads(p.read_text()) for p in args.cards]
    if args.pooled:
        print(pooled([(p.stem, c) for p, c in zip(args.cards, cards)]))
        return
    print(summary(cards))
    if args.folds:
        print()
        print(folds(cards[0]))
    print()
    print(headline(cards))


if __name__ == "__main__":
    main()

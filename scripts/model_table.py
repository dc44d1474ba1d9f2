"""Print the model comparison tables of the README and docs/model.md from the model cards.

    .venv/bin/python scripts/model_table.py models/voxstream.json models/session_mlp.json models/seed.json

Every figure is read from the cards, which ``voxstream train ... --evaluate standard`` wrote
(accuracy and UAR on speakers the model did not train on; fold means; the protocols of
src/voxstream/train/protocols.py).  "n/a": the card holds no such figure (a card written before it existed).
For cards with a ``loco`` evaluation (leave one corpus out), a table per held-out corpus and their mean:
accuracy / UAR / arousal / valence accuracy (%), each corpus scored on the labels it has.
For cards with the live protocols (src/voxstream/train/live.py), a table of what a user sees: per split and
live protocol, the label shown at each clip's end (accuracy / UAR), during it, and the latency of a new label.
With ``--select`` the recipe-choice table: per card the mean of its ``lao-inner`` and ``loco`` figures.
The last table holds the headline figures of src/voxstream/train/report.py, one column per card.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from voxstream.train.report import figures

PROTOCOLS = ("stream", "calm-speaker", "calm-session", "cold", "gain-20", "gain+20", "noise20")
SPECS = ("lao", "tess-cross", "nemo-cross", "loco")
LIVE = ("live", "live-episodes", "live-calm", "live-zeros", "live-episodes-zeros", "live-calm-zeros")
"""The live protocols, in the order of the live table."""
LOCO_PROTOCOLS = ("live", "stream", "cold")
"""Protocols of the loco table, those a card holds (``live`` when the card has it)."""
LOCO_FIGURES = ("accuracy", "uar", "arousal_accuracy", "valence_accuracy")
EXTRA = (
    ("calm-session", "neutral_recall", "neutral recall"),
    ("calm-session", "calm_recall", "calm clips read as neutral"),
    ("calm-speaker", "neutral_recall", "neutral recall"),
    ("stream", "arousal_accuracy", "arousal accuracy"),
    ("stream", "valence_accuracy", "valence accuracy"),
)
"""(protocol, figure, row name): further fold means of the summary table."""


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def _value(metrics: dict | None, key: str) -> float | None:
    """One split's figure; a card written before UAR existed gets it from its per-class recalls (the mean
    recall of the labels with test clips), any other missing figure is None."""
    if metrics is None:
        return None
    if key == "uar" and key not in metrics:
        recalls = [c["recall"] for c in metrics["per_class"].values() if c["support"]]
        return sum(recalls) / len(recalls)
    return metrics.get(key)


def _mean(ev: dict | None, protocol: str, key: str) -> float | None:
    """The mean over the splits of one evaluation of ``key`` (``accuracy``, ``uar``, ``neutral_recall``, ...);
    None when the card has no such figure."""
    if not ev:
        return None
    values = [_value(s["protocols"].get(protocol), key) for s in ev["splits"]]
    return None if None in values else sum(v for v in values if v is not None) / len(values)


def _cell(ev: dict | None, protocol: str) -> str:
    """Accuracy and UAR in %, e.g. ``59.4 / 57.0``."""
    if not ev or _mean(ev, protocol, "accuracy") is None:
        return "n/a"
    return f"{_pct(_mean(ev, protocol, 'accuracy'))} / {_pct(_mean(ev, protocol, 'uar'))}"


def summary(cards: list[dict]) -> str:
    """Rows: split x protocol (accuracy / UAR, %); columns: one per card (arch name)."""
    head = "| split | protocol | " + " | ".join(f"{c['name']} ({c['arch']})" for c in cards) + " |"
    lines = [head, "|" + "---|" * (2 + len(cards))]
    evs = [c.get("evaluations", {}) for c in cards]
    for spec in SPECS:
        if not any(spec in ev for ev in evs):
            continue
        for p in PROTOCOLS:
            lines.append(f"| {spec} | {p} | " + " | ".join(_cell(ev.get(spec), p) for ev in evs) + " |")
    for protocol, key, name in EXTRA:
        lines.append(
            f"| lao | {protocol} {name} | " + " | ".join(_pct(_mean(ev.get("lao"), protocol, key)) for ev in evs) + " |"
        )
    lines.append(
        "| lao | unlabelled clips (stream) | "
        + " | ".join(str(ev["lao"]["mean"]["stream"]["unlabelled"]) if "lao" in ev else "n/a" for ev in evs)
        + " |"
    )
    return "\n".join(lines)


def folds(card: dict, spec: str = "lao") -> str:
    """Per-fold accuracy / UAR (%) of one card and split."""
    ev = card["evaluations"][spec]
    protocols = [p for p in PROTOCOLS if p in ev["splits"][0]["protocols"]]
    lines = ["| fold | " + " | ".join(protocols) + " |", "|" + "---|" * (1 + len(protocols))]
    for s in ev["splits"]:
        lines.append(
            f"| {s['split']} | "
            + " | ".join(
                f"{_pct(s['protocols'][p]['accuracy'])} / {_pct(_value(s['protocols'][p], 'uar'))}" for p in protocols
            )
            + " |"
        )
    return "\n".join(lines)


def held_out(split: str) -> str:
    """The corpus a loco fold holds out, from its name (``KOREAN held out, train ...`` -> ``KOREAN``)."""
    return split.split(" held out", 1)[0]


def _figures(values: list[float | None]) -> str:
    """``accuracy / UAR / arousal / valence`` in %, e.g. ``41.0 / 39.5 / 72.3 / 55.0``."""
    return " / ".join(_pct(v) for v in values)


def loco(cards: list[dict]) -> str:
    """Rows: protocol x (mean, then each held-out corpus); cells accuracy / UAR / arousal / valence (%); columns:
    one per card; empty when no card has ``loco``."""
    evs = [c.get("evaluations", {}).get("loco") for c in cards]
    if not any(evs):
        return ""
    protocols = [p for p in LOCO_PROTOCOLS if any(ev and p in ev["splits"][0]["protocols"] for ev in evs)]
    corpora = list(dict.fromkeys(held_out(s["split"]) for ev in evs if ev for s in ev["splits"]))
    lines = [
        "| loco: held out | protocol | " + " | ".join(f"{c['name']} ({c['arch']})" for c in cards) + " |",
        "|" + "---|" * (2 + len(cards)),
    ]
    for p in protocols:
        lines.append(
            f"| mean of {len(corpora)} | {p} | "
            + " | ".join(_figures([_mean(ev, p, key) for key in LOCO_FIGURES]) if ev else "n/a" for ev in evs)
            + " |"
        )
        for corpus in corpora:
            cells = []
            for ev in evs:
                fold = next((s for s in (ev or {}).get("splits", []) if held_out(s["split"]) == corpus), None)
                metrics = fold and fold["protocols"].get(p)
                cells.append(_figures([_value(metrics, key) for key in LOCO_FIGURES]) if metrics else "n/a")
            lines.append(f"| {corpus} | {p} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _read_as(ev: dict | None, protocol: str, label: str) -> float | None:
    """Fold mean of the share of calm clips a live protocol ended on ``label``."""
    if not ev or not all("calm_read_as" in s["protocols"].get(protocol, {}) for s in ev["splits"]):
        return None
    values = [s["protocols"][protocol]["calm_read_as"].get(label, 0.0) for s in ev["splits"]]
    return sum(values) / len(values)


def live(cards: list[dict]) -> str:
    """Rows: split x live protocol; per card: at the end of each clip accuracy / UAR, during the clip, latency
    median and p90 (s), and for live-calm neutral recall and calm clips ending on sad (%)."""
    evs = [c.get("evaluations", {}) for c in cards]
    lines = [
        "| split | protocol | card | at end (acc / UAR) | during | latency median / p90 (s) | "
        "neutral recall | calm read as sad |",
        "|" + "---|" * 8,
    ]
    for spec in SPECS:
        for p in LIVE:
            for c, ev in zip(cards, evs):
                e = ev.get(spec)
                if not e or p not in e["splits"][0]["protocols"]:
                    continue
                calm = p.startswith("live-calm")
                latency = f"{_seconds(_mean(e, p, 'latency_median_s'))} / {_seconds(_mean(e, p, 'latency_p90_s'))}"
                lines.append(
                    f"| {spec} | {p} | {c['name']} | {_cell(e, p)} | {_pct(_mean(e, p, 'during_accuracy'))} | "
                    f"{latency} | "
                    f"{_pct(_mean(e, p, 'neutral_recall')) if calm else ''} | "
                    f"{_pct(_read_as(e, p, 'sad')) if calm else ''} |"
                )
    return "\n".join(lines) if len(lines) > 2 else ""


def select(cards: list[tuple[str, dict]]) -> str:
    """The recipe choice: per card, the fold means of ``lao-inner=N`` and of ``loco`` (live at the end of each
    clip: accuracy / UAR / arousal; UAR for the rule) and the mean UAR of the two."""
    lines = [
        "| card | recipe | lao-inner live (acc / UAR / arousal) | loco live (acc / UAR / arousal) | mean UAR |",
        "|" + "---|" * 5,
    ]
    for name, c in cards:
        evs = c.get("evaluations", {})
        inner = next((ev for spec, ev in evs.items() if spec.startswith("lao-inner")), None)
        out = evs.get("loco")
        uars = [_mean(ev, "live", "uar") for ev in (inner, out)]
        t = c["training"]
        recipe = f"{'+'.join(Path(d).name for d in t['data'])}, balance {t.get('balance', 'none')}"
        cells = [
            " / ".join(_pct(_mean(ev, "live", k)) for k in ("accuracy", "uar", "arousal_accuracy"))
            for ev in (inner, out)
        ]
        mean = None if None in uars else sum(u for u in uars if u is not None) / 2
        lines.append(f"| {name} | {recipe} | {cells[0]} | {cells[1]} | {_pct(mean)} |")
    return "\n".join(lines)


def pooled(cards: list[tuple[str, dict]]) -> str:
    """One row per card: accuracy averaged over every split of every evaluation it holds (e.g. inner folds),
    the UAR of ``stream``, the neutral recall of ``calm-session`` and the mean over protocols."""
    lines = [
        "| card | recipe | folds | " + " | ".join(PROTOCOLS) + " | stream UAR | calm-session neutral recall | mean |",
        "|" + "---|" * (6 + len(PROTOCOLS)),
    ]
    for name, c in cards:
        every = {"splits": [s for ev in c.get("evaluations", {}).values() for s in ev["splits"]]}
        acc = [_mean(every, p, "accuracy") for p in PROTOCOLS]
        known = [a for a in acc if a is not None]
        t = c["training"]
        training = (
            f"{','.join(t['variants'])}, hop {t.get('train_hop', 1)}, {t['epochs']} epochs, "
            f"balance {t.get('balance', 'none')}, {'+'.join(Path(d).name for d in t['data'])}"
        )
        lines.append(
            f"| {name} ({c['arch']}) | {training} | {len(every['splits'])} | "
            + " | ".join(_pct(a) for a in acc)
            + f" | {_pct(_mean(every, 'stream', 'uar'))} | "
            f"{_pct(_mean(every, 'calm-session', 'neutral_recall'))} | "
            f"{_pct(sum(known) / len(known))} |"
        )
    return "\n".join(lines)


def headline(cards: list[dict]) -> str:
    """The headline figures (fold means, and lao drops below ``stream``) of each card; n/a where it has none."""
    per_card = [{f["figure"]: f["measured"] for f in figures(c.get("evaluations", {}))} for c in cards]
    names = list(dict.fromkeys(name for fig in per_card for name in fig))
    lines = [
        "| figure | " + " | ".join(f"{c['name']} ({c['arch']})" for c in cards) + " |",
        "|" + "---|" * (1 + len(cards)),
    ]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(str(fig.get(name, "n/a")) for fig in per_card) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cards", nargs="+", type=Path)
    ap.add_argument("--folds", action="store_true", help="also the per-fold lao table of the first card")
    ap.add_argument("--select", action="store_true", help="the recipe-choice table (lao-inner and loco, live)")
    ap.add_argument(
        "--pooled",
        action="store_true",
        help="one row per card, mean over all its splits (for recipe trials on lao-inner=N)",
    )
    args = ap.parse_args()
    cards = [json.loads(p.read_text()) for p in args.cards]
    if args.pooled:
        print(pooled([(p.stem, c) for p, c in zip(args.cards, cards)]))
        return
    if args.select:
        print(select([(p.stem, c) for p, c in zip(args.cards, cards)]))
        return
    print(summary(cards))
    table = live(cards)
    if table:
        print()
        print("live: the label a user sees (%, latency in s)")
        print(table)
    if any("loco" in c.get("evaluations", {}) for c in cards):
        print()
        print("loco: accuracy / UAR / arousal / valence (%)")
        print(loco(cards))
    if args.folds:
        print()
        print(folds(cards[0]))
    print()
    print(headline(cards))


if __name__ == "__main__":
    main()

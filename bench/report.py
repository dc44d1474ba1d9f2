"""Merge `voxstream bench` JSON outputs into bench/results.json and print them as a Markdown table.

The table holds what was measured, one column per run; it judges nothing against a target.

Usage: python bench/report.py NAME=RUN.json [NAME=RUN.json ...] [--out bench/results.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

ROWS = [  # (label, getter, format)
    ("voxstream model (architecture)", lambda r: "{} ({})".format(r["model"], r["model_arch"]), "{}"),
    ("per-hop latency p50 (features + model + smoother)", lambda r: r["per_hop_ms"]["p50"], "{:.3f} ms"),
    ("per-hop latency p99", lambda r: r["per_hop_ms"]["p99"], "{:.3f} ms"),
    ("  of which features p50", lambda r: r["features_ms"]["p50"], "{:.3f} ms"),
    ("  of which model p50", lambda r: r["model_ms"]["p50"], "{:.3f} ms"),
    ("peak RSS of `voxstream run` (WS + MQTT on)", lambda r: r["rss_peak_mb"], "{:.1f} MB"),
    ("start-up (process start to first event)", lambda r: r["startup_s"], "{:.2f} s"),
    ("first label beyond the first 2 s window", lambda r: r["first_label_beyond_window_s"], "{:.2f} s"),
    ("`--fast` file throughput (44.1 kHz file, wall)", lambda r: r["fast_x_realtime"], "{:.0f}x real time"),
    ("`--fast` throughput per CPU second", lambda r: r["fast_x_realtime_cpu"], "{:.0f}x real time"),
    ("seed way per hop p50 (librosa + Keras predict)", lambda r: r["seed_way"]["per_hop_ms"]["p50"], "{:.1f} ms"),
    ("seed way per hop p99", lambda r: r["seed_way"]["per_hop_ms"]["p99"], "{:.1f} ms"),
    ("seed way / voxstream, per hop p50", lambda r: r["seed_way"]["ratio_per_hop_p50"], "{:.0f}x"),
    ("seed way / voxstream, per hop p99", lambda r: r["seed_way"]["ratio_per_hop_p99"], "{:.0f}x"),
    ("seed way peak RSS (TF + librosa + model)", lambda r: r["seed_way"]["rss_peak_mb"], "{:.0f} MB"),
    (
        "load average (1 min) at start / end",
        lambda r: "{} / {}".format(r["machine"]["loadavg_start"][0], r["machine"]["loadavg_end"][0]),
        "{}",
    ),
]


def cell(run: dict, get, fmt: str) -> str:
    try:
        value = get(run)
    except (KeyError, TypeError, IndexError):
        return "n/a"
    return "n/a" if value is None else fmt.format(value)


def markdown(runs: dict[str, dict]) -> str:
    """One row per measure, one column per run: the measured values only."""
    names = list(runs)
    lines = ["| measure | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for label, get, fmt in ROWS:
        lines.append(f"| {label} | " + " | ".join(cell(runs[n], get, fmt) for n in names) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", metavar="NAME=FILE")
    ap.add_argument("--out", help="write the merged JSON here")
    args = ap.parse_args()
    runs = {}
    for item in args.runs:
        name, _, path = item.partition("=")
        runs[name] = json.loads(Path(path).read_text())
    if args.out:
        merged = {"date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "host": platform.node(), "runs": runs}
        Path(args.out).write_text(json.dumps(merged, indent=2) + "\n")
    print(markdown(runs))


if __name__ == "__main__":
    main()

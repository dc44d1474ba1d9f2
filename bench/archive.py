"""Archive throughput of ``voxstream classify``: one hour of audio with 1 and 2 workers.

Usage (from the checkout, with the venv)::

    .venv/bin/python bench/archive.py --data DIR [--hours 1] [--workers 1 2] [--repeat 5]

``--data`` is required: a folder of audio files (the docs' figures use the RAVDESS corpus).
Lists its audio files (sorted) and repeats the list until it
holds ``--hours`` of audio, then runs the real command line,
``voxstream classify --format json --out ... --stats ... FILES``, once per
worker count, as a fresh process (start-up, model loading and worker
spawning included in the wall time).  Prints, per run: x real time
(audio seconds / wall seconds), wall seconds, each stage's share of the
summed stage time (decode, features, gate, normalise, model), the CPU
seconds the workers spent scoring (audio seconds per CPU second is the
speed of one busy core, whatever else loads the machine) and the peak RSS of
every worker; then whether the outputs of all runs are identical.  With
``--repeat N`` each worker count runs N times (interleaved, so a burst of
load from elsewhere does not hit one count only) and the median run is
reported: on a shared or virtual machine timings vary by 10-20 % from run to run.
``--json FILE`` also writes the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

from voxstream.audio.files import find_audio_files


def hour_of_files(folder: Path, hours: float) -> tuple[list[str], float]:
    """The folder's audio files, repeated in order until they hold ``hours`` of audio; and their seconds."""
    files = [str(p) for p in find_audio_files([folder])]
    if not files:
        raise SystemExit(f"{folder}: no audio files")
    durations = [sf.info(f).duration for f in files]
    out, total, i = [], 0.0, 0
    while total < hours * 3600.0:
        out.append(files[i % len(files)])
        total += durations[i % len(files)]
        i += 1
    return out, total


def run(files: list[str], workers: int, work: Path, model: str | None = None, tag: str = "") -> dict:
    out, stats = work / f"out-{workers}{tag}.jsonl", work / f"stats-{workers}{tag}.json"
    cmd = [
        sys.executable,
        "-m",
        "voxstream.cli.main",
        "classify",
        "--format",
        "json",
        "--out",
        str(out),
        "--stats",
        str(stats),
        "--workers",
        str(workers),
        *(["--model", model] if model else []),
        *files,
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"classify with {workers} workers failed ({proc.returncode}):\n{proc.stderr}")
    data = json.loads(stats.read_text())
    data.update(
        wall_s=round(wall, 3),
        x_real_time=round(data["audio_s"] / wall, 1),
        out=str(out),
        x_real_time_per_cpu_s=round(data["audio_s"] / data["worker_cpu_s"], 1),
    )
    return data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, help="folder of audio files, searched recursively (required)")
    ap.add_argument("--hours", type=float, default=1.0, help="hours of audio to classify per run")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to run")
    ap.add_argument("--model", help="model name or .tflite path (default: the shipped default model)")
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs per worker count, interleaved; each is printed and the median run is reported",
    )
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args(argv)
    if args.data is None:
        print(
            "bench/archive.py: error: --data DIR is required (a folder of audio files, e.g. RAVDESS)", file=sys.stderr
        )
        return 2
    if not args.data.is_dir():
        print(f"bench/archive.py: error: --data {args.data}: not a folder", file=sys.stderr)
        return 2
    files, audio_s = hour_of_files(args.data, args.hours)
    print(
        f"{len(files)} files, {audio_s / 3600:.3f} h of audio from {args.data}; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        tries: dict[int, list[dict]] = {w: [] for w in args.workers}
        for i in range(args.repeat):
            for w in args.workers:
                tries[w].append(run(files, w, Path(tmp), args.model, f"-{i}"))
                if args.repeat > 1:
                    print(
                        f"  workers {w}, run {i + 1}: {tries[w][-1]['x_real_time']:.0f}x real time, "
                        f"{tries[w][-1]['wall_s']:.2f} s wall",
                        flush=True,
                    )
        outputs = [Path(r.pop("out")).read_text() for t in tries.values() for r in t]
        runs = [sorted(t, key=lambda r: r["x_real_time"])[len(t) // 2] for t in tries.values()]
    for r in runs:
        shares = ", ".join(f"{k} {100 * v:.0f}%" for k, v in r["stage_share"].items())
        rss = ", ".join(f"{v:.0f}" for v in r["peak_rss_mb"].values())
        print(
            f"workers {r['workers']}: {r['x_real_time']:.0f}x real time, {r['wall_s']:.2f} s wall "
            f"({r['files']} files, {r['failed']} failed); scoring {r['worker_cpu_s']:.2f} CPU s = "
            f"{r['x_real_time_per_cpu_s']:.0f}x real time per busy core; stages: {shares}; "
            f"peak RSS per worker (MB): {rss}; start-up before scoring {r['wall_s'] - r['run_wall_s']:.2f} s"
        )
    same = all(o == outputs[0] for o in outputs)
    print(f"outputs identical across worker counts: {same}")
    if args.json:
        args.json.write_text(
            json.dumps({"files": len(files), "audio_s": audio_s, "runs": runs, "identical": same}, indent=2) + "\n"
        )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

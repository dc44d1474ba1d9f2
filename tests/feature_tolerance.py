"""How far two computations of the same features may differ: derived from machine epsilon and the number
of summed terms, so the feature tests hold on any CPU (no constant tuned on one machine).

Live (a ring of frames computed a hop at a time) and batch (all the frames of a signal at once) run the
same code on the same samples; they differ only in the order in which BLAS sums a matrix product, which
depends on the number of rows and on the CPU's vector width.  The FFT of a frame does not depend on its
neighbours (pocketfft transforms row by row), so the spectra, the autocorrelation (level, peak, pitch) are
the same, and only the matrix products differ:

* Higham, *Accuracy and Stability of Numerical Algorithms* (2nd ed.), Lemma 3.1 / eq. 3.5: a sum or dot
  product of ``n`` terms, summed in any order, is within ``gamma(n) * sum |terms|`` of the exact one, with
  ``gamma(n) = n u / (1 - n u)`` and the unit roundoff ``u = eps / 2``.  Two orders differ by at most twice that.
* mel band ``j = sum_b power_b W_jb`` over ``n_bins = n_fft / 2 + 1`` non-negative terms: relative
  difference at most ``2 gamma(n_bins)``; in dB (``10 log10``) at most ``10 / ln 10 * 2 gamma(n_bins)``, plus
  the rounding of the logarithm itself, ``u |dB|``.
* MFCC ``k = sum_j D_kj dB_j`` over ``n_mels`` terms (orthonormal DCT: ``sum_j |D_kj| <= sqrt(n_mels)``): at most
  ``sqrt(n_mels) * (dB difference) + 2 gamma(n_mels) * sqrt(n_mels) * max |dB|``.
* Window statistics of those columns (means, standard deviations: ``|std(a) - std(b)| <= max |a - b|``) move
  by at most that; the std of frame-to-frame differences by at most twice that.  The spectral centroid, a
  ratio of two ``n_bins``-term sums of non-negative terms, moves by at most ``4 gamma(n_bins)`` of itself,
  far below the MFCC bound (< 8 kHz).
* The features are stored as float32: one more rounding, at most ``eps32 * |value|``
  (:data:`RTOL_FLOAT32`, the ``rtol`` of every comparison).

``gamma(n) ~ n u`` is a worst case (errors rarely add up in one direction): the differences seen are
about 100 times smaller, and a real bug moves features by far more than this bound.
"""

from __future__ import annotations

import math

import numpy as np

RTOL_FLOAT32 = float(np.finfo(np.float32).eps)
"""The last rounding of every feature (stored as float32)."""


def gamma(n: int, dtype) -> float:
    """Higham's bound on the relative error of an ``n``-term sum in ``dtype``."""
    u = float(np.finfo(dtype).eps) / 2
    return n * u / (1 - n * u)


def feature_atol(params, db_max: float) -> float:
    """Bound on the difference of any pooled feature between two summation orders of the frames' matrix
    products (module docstring); ``db_max``: the largest |log-mel value| (dB) of the signal."""
    n_bins = params.n_fft // 2 + 1
    dtype = np.dtype(params.dtype)
    u = float(np.finfo(dtype).eps) / 2
    d_db = 10 / math.log(10) * 2 * gamma(n_bins, dtype) + u * db_max
    d_mfcc = math.sqrt(params.n_mels) * (d_db + 2 * gamma(params.n_mels, dtype) * db_max)
    return 2 * d_mfcc  # the std of frame-to-frame differences: two frames


def max_log_mel(frames_extractor, samples: np.ndarray) -> float:
    """The largest |log-mel value| (dB) of a signal's frames, in float64 (for :func:`feature_atol`)."""
    from voxstream.engine.params import SEQ_FLOOR

    ex = frames_extractor
    x = ex.frame(np.asarray(samples, dtype=np.float64)) * ex._window.astype(np.float64)
    mel = np.abs(np.fft.rfft(x, axis=1)) ** 2 @ ex._mel_t.astype(np.float64)
    floor = (
        np.maximum(mel.max(axis=1, keepdims=True) * SEQ_FLOOR, 1e-30) if ex.params.pooling == "seq" else ex.params.amin
    )
    return float(np.abs(10 * np.log10(np.maximum(mel, floor))).max())


def assert_features_close(got: np.ndarray, want: np.ndarray, params, db_max: float) -> None:
    """``got`` equals ``want`` within :func:`feature_atol` plus one float32 rounding."""
    np.testing.assert_allclose(got, want, rtol=RTOL_FLOAT32, atol=feature_atol(params, db_max))

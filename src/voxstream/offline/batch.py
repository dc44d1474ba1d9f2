"""Whole-clip scoring at once: every window pooled from the frames in a few numpy calls, many windows per model call.

The per-window rule is :func:`voxstream.engine.pooling.pool` over the frames
of one window; :func:`pool_windows` gives the same numbers for all windows of
a clip together (the same code, the pooling kind's
:meth:`~voxstream.engine.kinds.Pooling.pool_windows`):

- ``mean`` and ``mean_std_dstd_prosody``:
  the frames of a block of windows are gathered into one ``(windows, frames,
  columns)`` array and reduced along the frame axis with the per-window
  formulas (two-pass standard deviations: running sums of squares lose the
  digits of a near-constant column, e.g. the level of digital silence);
- ``seq``: :func:`voxstream.engine.seq.seq_windows` on the file's frames
  and a block of window starts: the statistics of a sub-window (a 0.25 s hop)
  that do not depend on the window are computed once, not once per window
  that contains it; ``pool`` of one window is the same function with one start.

:class:`BatchModel` scores a batch of windows in one LiteRT call (the input
tensor resized to the batch), falling back to one call per window for models
whose delegate refuses a batch (the shipped ``seed`` convolution does).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from voxstream.engine.params import FeatureParams
from voxstream.errors import ModelError
from voxstream.inference.litert import LiteModel

_LOGGER = logging.getLogger(__name__)

BLOCK_WINDOWS = 64
"""Windows pooled per numpy call (bounds the gathered frames: 64 x 197 x 48 doubles, 5 MB, for a 2 s window)."""
MAX_BATCH = 1024
"""Most windows per LiteRT call (larger batches are cut); batch sizes are powers of two up to this."""
MIN_BATCH = 16
"""Smallest batch the input tensor is resized to (fewer resizes for small calls)."""


def pool_windows(frames: np.ndarray, first: np.ndarray, n: int, params: FeatureParams) -> np.ndarray:
    """``pool(frames[f:f + n], params)`` for every frame index ``f`` in ``first``.

    Returns ``(len(first), *params.shape)`` float32.  The windows are gathered
    :data:`BLOCK_WINDOWS` at a time into one ``(windows, n, width)`` array and
    reduced along its frame axis in the order the per-window rule uses.
    """
    first = np.asarray(first, dtype=np.int64)
    if n <= 0 or len(frames) == 0:
        raise ValueError("no frames to pool: the audio is shorter than one FFT frame")
    if len(first) and first.max() + n > len(frames):
        raise ValueError(f"window of {n} frames at {first.max()} runs past the {len(frames)} frames")
    kind = params.kind
    out = np.empty((len(first),) + params.shape, dtype=np.float32)
    for lo in range(0, len(first), BLOCK_WINDOWS):
        out[lo : lo + BLOCK_WINDOWS] = kind.pool_windows(frames, first[lo : lo + BLOCK_WINDOWS], n, params)
    return out


def _batch_size(n: int) -> int:
    return int(min(MAX_BATCH, max(MIN_BATCH, 1 << max(0, int(n - 1).bit_length()))))


class BatchModel:
    """A LiteRT model scoring many windows per call: ``(n, *input shape) -> (n, n_labels)`` float32.

    Built from a loaded :class:`~voxstream.inference.litert.Classifier` (same file,
    same card): a second :class:`~voxstream.inference.litert.LiteModel` with a resizable batch when the model
    allows it (float32 input and output, and a batch scores a few random
    windows like one call each), else the classifier's own per-window
    :meth:`predict` (quantised models, batch-1 convolutions and LSTMs).
    """

    def __init__(self, classifier, num_threads: int = 1) -> None:
        self.classifier = classifier
        self.row_shape = tuple(classifier.card.input_shape[1:])
        self._model, self._size = None, 0
        try:
            self._model = LiteModel(classifier.model.source, num_threads=num_threads)
            self._resize(MIN_BATCH)
        except (RuntimeError, ValueError, ModelError) as exc:
            _LOGGER.debug(
                "%s: no batch input (%s); one LiteRT call per window",
                classifier.model.where,
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
            )
            self._model = None
        self.batched = self._model is not None and self._model.float_io and self._agrees()

    @property
    def path(self) -> Path | None:
        return self.classifier.path

    def _agrees(self) -> bool:
        """Does a batch give the per-window scores (to 1e-5) on a few random windows?"""
        x = np.random.default_rng(0).normal(size=(3, *self.row_shape)).astype(np.float32)
        self.batched = True
        same = np.allclose(self(x), np.stack([self.classifier.predict(row) for row in x]), atol=1e-5)
        if not same:
            _LOGGER.warning(
                "%s: batch scores differ from per-window scores; one LiteRT call per window",
                self.classifier.model.where,
            )
        return bool(same)

    def _resize(self, size: int) -> None:
        assert self._model is not None  # only called with a batch model
        self._model.resize(size)
        self._size = size

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32).reshape((-1, *self.row_shape))
        n_labels = len(self.classifier.labels)
        if not self.batched:
            if len(x) == 0:
                return np.zeros((0, n_labels), dtype=np.float32)
            return np.stack([self.classifier.predict(row) for row in x])
        assert self._model is not None  # batched: there is a batch model
        out = np.empty((len(x), n_labels), dtype=np.float32)
        for lo in range(0, len(x), MAX_BATCH):
            part = x[lo : lo + MAX_BATCH]
            size = _batch_size(len(part))
            if size != self._size:
                self._resize(size)
            if len(part) < size:
                part = np.concatenate([part, np.zeros((size - len(part), *self.row_shape), dtype=np.float32)])
            out[lo : lo + MAX_BATCH] = self._model.predict_batch(part)[: min(MAX_BATCH, len(x) - lo)]
        return out

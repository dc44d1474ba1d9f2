"""Live features: a ring of the window's MFCC frames, each computed once, pooled by the one pooling code.

Samples are pushed as they arrive; complete frames are turned into MFCC rows
once (:class:`~voxstream.engine.frames.MfccFrames`) and kept in a ring of
``window_frames`` rows.  :meth:`FrameRing.features` pools the frames of the
window with the live pooling of the params' kind
(:meth:`voxstream.engine.kinds.Pooling.live`: the window pooled afresh, or for
``seq`` :class:`~voxstream.engine.seq.SeqLive`, each sub-window's statistics
computed once, when its hop has been heard, and kept while it is in the
window).  So live features equal :func:`~voxstream.engine.pooling.window_features`
of the last ``window`` samples whenever the samples seen are aligned to
``hop_length`` (``tests/test_features*.py``).
"""

from __future__ import annotations

import numpy as np

from voxstream.engine.frames import MfccFrames
from voxstream.engine.params import FeatureParams
from voxstream.engine.seq import _arange


class FrameRing:
    """The MFCC frames of the latest ``window_samples`` samples of a stream, and their pooled features."""

    def __init__(self, params: FeatureParams, window_samples: int, extractor: MfccFrames | None = None) -> None:
        self.params = params
        self.window_samples = window_samples
        self.extractor = extractor or MfccFrames(params)
        self.window_frames = params.n_frames(window_samples)
        if self.window_frames < 1:
            raise ValueError("window shorter than one FFT frame")
        self.reset()

    def reset(self) -> None:
        """Forget all audio (for example after a gap in the input)."""
        self._tail = np.zeros(0, dtype=self.extractor.dtype)
        self._ring = np.zeros((self.window_frames, self.extractor.width), dtype=self.extractor.row_dtype)
        self._count = 0  # frames seen in total
        self._pooling = self.params.kind.live(self.params, self.window_frames)  # with what it keeps between hops

    @property
    def frames_in_window(self) -> int:
        return min(self._count, self.window_frames)

    def push(self, samples: np.ndarray) -> int:
        """Add samples; returns the number of new frames computed."""
        ex, hop = self.extractor, self.params.hop_length
        buf = (
            np.concatenate([self._tail, np.asarray(samples, dtype=ex.dtype)])
            if len(self._tail)
            else np.asarray(samples, dtype=ex.dtype)
        )
        new = ex.mfcc(ex.frame(buf))
        k = len(new)
        self._tail = buf[k * hop :].copy()
        w = self.window_frames
        if k >= w:
            new, self._count = new[k - w :], self._count + k - w
            k = w
        s = self._count % w
        if s + k <= w:
            self._ring[s : s + k] = new
        else:
            self._ring[s:] = new[: w - s]
            self._ring[: k - (w - s)] = new[w - s :]
        self._count += k
        return len(new)

    def _order(self) -> np.ndarray:
        """Ring positions of the frames in the window, oldest first."""
        n, w = self.frames_in_window, self.window_frames
        if self._count <= w:
            return _arange(n)
        return (self._count + _arange(w)) % w

    def frames(self) -> np.ndarray:
        """The frames currently in the window, oldest first (a copy)."""
        return self._ring[self._order()]

    def features(self) -> np.ndarray:
        """Pooled features of the frames currently in the window (``seq``: the (K, D) sequence)."""
        if self._count == 0:
            raise ValueError("no complete frame yet")
        return self._pooling.features(self._ring, self._order(), self._count)

"""A window's features from its frames (:func:`pool`) or its samples (:func:`window_features`).

The pooling itself is the params' kind (:mod:`voxstream.engine.kinds`), the one
code live (:class:`~voxstream.engine.ring.FrameRing`), whole files
(:func:`voxstream.offline.batch.pool_windows`) and training use, so a window
gets the same numbers whichever way it was heard.
"""

from __future__ import annotations

import numpy as np

from voxstream.engine.frames import MfccFrames
from voxstream.engine.params import FeatureParams


def pool(frames: np.ndarray, params: FeatureParams) -> np.ndarray:
    """Window statistics of one window's frames (rows of :class:`MfccFrames` of ``params``), float32:
    ``params.shape``."""
    frames = np.asarray(frames)
    if len(frames) == 0:
        raise ValueError("no frames to pool: the audio is shorter than one FFT frame")
    if frames.ndim != 2 or frames.shape[1] != params.frame_width:
        raise ValueError(
            f"frames of shape {frames.shape}: expected (n, {params.frame_width}) for pooling {params.pooling!r}"
        )
    return params.kind.pool_block(frames[None], params)[0]


def window_features(samples: np.ndarray, params: FeatureParams, extractor: MfccFrames | None = None) -> np.ndarray:
    """Pooled features of one window of audio at ``params.sample_rate`` (the reference the tests compare to)."""
    return pool((extractor or MfccFrames(params))(samples), params)

"""The parameters of the features (written into the model card) and the streaming windows of a signal.

The feature code is split by job: :mod:`.fields` (the parameters and
constants, which every feature module reads); these parameters with what their
pooling kind derives from them (``FeatureParams.kind``, :mod:`.kinds`: one
object per pooling, giving the columns a frame carries, the shape of a
window's features and the one pooling code; :mod:`.seq` for the ``seq``
sequence); :mod:`.frames` (the MFCCs of each frame, :mod:`.pitch` for the
autocorrelation pitch); :mod:`.pooling` (a window's features from its frames or
samples); :mod:`.ring` (live: each frame computed once, kept in a ring, pooled
by that same code).  Training (``voxstream.train``) and streaming both use
them, so what a model was trained on is exactly what it sees live.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from voxstream.engine.fields import (
    DTYPES,
    F0_MAX_HZ,
    F0_MIN_HZ,
    OCTAVE_RATIO,
    POOLINGS,
    PROSODY,
    SEQ_FLOOR,
    SEQ_FRAME,
    SEQ_PROSODY,
    SEQ_SILENCE_DBFS,
    SEQ_VOICED_REL_DB,
    SEQ_ZERO_FRAME_DBFS,
    UNVOICED_LOG_F0,
    VOICED_MIN_DB,
    VOICED_PEAK,
    FeatureFields,
)
from voxstream.engine.kinds import KINDS, Pooling

__all__ = [
    "DTYPES",
    "F0_MAX_HZ",
    "F0_MIN_HZ",
    "OCTAVE_RATIO",
    "POOLINGS",
    "PROSODY",
    "SEQ_FLOOR",
    "SEQ_FRAME",
    "SEQ_PROSODY",
    "SEQ_SILENCE_DBFS",
    "SEQ_VOICED_REL_DB",
    "SEQ_ZERO_FRAME_DBFS",
    "UNVOICED_LOG_F0",
    "VOICED_MIN_DB",
    "VOICED_PEAK",
    "FeatureParams",
    "windows",
]
"""The constants are :mod:`.fields`'s, named here too (where the feature code used to define them)."""

_KIND_FIELDS = frozenset(name for kind in KINDS.values() for name in kind.own_fields)
"""The fields that belong to one pooling kind (``seq_steps``)."""


@dataclass(frozen=True)
class FeatureParams(FeatureFields):
    """Every parameter of the features (:class:`~voxstream.engine.fields.FeatureFields`), and what its pooling
    kind derives from them; written into the model card."""

    @property
    def kind(self) -> Pooling:
        """The pooling kind of ``pooling`` (:mod:`voxstream.engine.kinds`): frame columns, shape, how it pools."""
        return KINDS[self.pooling]

    @property
    def dim(self) -> int:
        """Length of the pooled feature vector of one window (``seq``: of the flattened sequence)."""
        return math.prod(self.shape)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the features of one window: ``(seq_steps, seq_dim)`` for ``seq``, else ``(dim,)``."""
        return self.kind.shape(self)

    @property
    def frame_width(self) -> int:
        """Columns of one frame row from :class:`~voxstream.engine.frames.MfccFrames` (the MFCCs, plus the
        columns the pooling reads)."""
        return self.n_mfcc + self.kind.extra

    def to_dict(self) -> dict:
        """Every field; a field of one pooling kind (``seq_steps``) only for that kind, ``dtype`` and
        ``pitch_decimation`` only when not the default (older cards and caches stay byte-identical)."""
        data = asdict(self)
        for name in _KIND_FIELDS - set(self.kind.own_fields):
            del data[name]
        for name, default in (("dtype", "float64"), ("pitch_decimation", 1)):
            if data[name] == default:
                del data[name]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> FeatureParams:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"features: unknown keys {sorted(unknown)}; expected some of {sorted(known)}")
        return cls(**data)


def windows(n_samples: int, window: int, hop: int) -> list[tuple[int, int]]:
    """Start/end sample of every streaming window of a signal.

    A signal shorter than one window gives one window over all of it, so a
    short clip still has a label; otherwise windows start every ``hop`` and
    are whole, exactly as the streaming engine forms them.
    """
    if n_samples <= window:
        return [(0, n_samples)]
    return [(s, s + window) for s in range(0, n_samples - window + 1, hop)]

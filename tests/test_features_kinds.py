"""The pooling kinds: one object per FeatureParams.pooling, whose frame width and shape are what the features are."""

import math

import numpy as np
import pytest

from voxstream.engine.frames import MfccFrames
from voxstream.engine.kinds import KINDS
from voxstream.engine.params import POOLINGS, FeatureParams
from voxstream.engine.pooling import pool
from voxstream.engine.ring import FrameRing

SR = 16000


def test_every_pooling_name_has_its_kind():
    """The names a card may hold (POOLINGS) and the kinds are the same list, each kind under its own name."""
    assert tuple(KINDS) == POOLINGS
    for name in POOLINGS:
        assert FeatureParams(pooling=name).kind is KINDS[name] and KINDS[name].name == name


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("extra", [{}, {"n_mfcc": 20, "n_mels": 32, "seq_steps": 4}], ids=["default", "small"])
def test_frames_and_features_have_the_kinds_width_and_shape(pooling, extra):
    """MfccFrames rows are frame_width wide (the MFCCs and the kind's columns), a window pools to the kind's
    shape, live and alone, and dim is the flat length."""
    p = FeatureParams(pooling=pooling, **extra)
    x = np.random.default_rng(1).normal(scale=0.05, size=2 * SR).astype(np.float32)
    frames = MfccFrames(p)(x)
    assert frames.shape == (p.n_frames(len(x)), p.n_mfcc + p.kind.extra) and p.frame_width == frames.shape[1]
    assert pool(frames, p).shape == p.shape == p.kind.shape(p) and p.dim == math.prod(p.shape)
    ring = FrameRing(p, 2 * SR)
    ring.push(x)
    np.testing.assert_array_equal(ring.features(), pool(frames, p))


def test_card_keeps_the_fields_of_its_own_kind_only():
    """A kind's own fields (seq_steps) enter its cards only, and come back from them."""
    for name, kind in KINDS.items():
        data = FeatureParams(pooling=name, seq_steps=4).to_dict()
        assert ("seq_steps" in data) == ("seq_steps" in kind.own_fields)
        assert FeatureParams.from_dict(data) == FeatureParams(
            pooling=name, **({"seq_steps": 4} if kind.own_fields else {})
        )

"""The seq LSTM (src/voxstream/train/arch_lstm.py) converts to builtin-op TFLite and LiteRT matches Keras."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.needs_tf


@pytest.fixture(scope="module")
def keras():
    pytest.importorskip("tensorflow")
    return pytest.importorskip("keras")


@pytest.mark.parametrize("pooled_branch", [True, False])
def test_tiny_lstm_converts_and_matches_keras(keras, pooled_branch):
    """An untrained LSTM(16) over (8, 125) converts (TFLITE_BUILTINS only), loads in LiteRT and matches Keras."""
    from ai_edge_litert.interpreter import Interpreter

    from voxstream.train.arch_lstm import LstmConfig, build, litert_latency_us, to_tflite

    keras.utils.set_random_seed(0)
    config = LstmConfig(units=16, branch_units=8, dense=16, pooled_branch=pooled_branch)
    model = build((8, 125), 7, None, config)
    blob = to_tflite(model, config)
    interp = Interpreter(model_content=blob)
    interp.allocate_tensors()
    assert tuple(interp.get_input_details()[0]["shape"]) == (1, 8, 125)
    assert tuple(interp.get_output_details()[0]["shape"]) == (1, 7)
    x = np.random.default_rng(1).normal(size=(20, 8, 125)).astype(np.float32)
    _, lite = litert_latency_us(blob, x, repeats=5)
    ref = model.predict(x, verbose=0)
    np.testing.assert_allclose(lite, ref, atol=1e-5)
    np.testing.assert_allclose(lite.sum(axis=1), 1.0, atol=1e-5)
    assert len(blob) < 2_000_000


def test_the_lstm_reads_the_order_of_the_steps(keras):
    """Reversing the steps changes the output (a pooled-only model could not tell), so it is a sequence model."""
    from voxstream.train.arch_lstm import LstmConfig, build

    keras.utils.set_random_seed(0)
    model = build((8, 12), 7, None, LstmConfig(units=16, pooled_branch=False, noise=0.0))
    x = np.random.default_rng(2).normal(size=(4, 8, 12)).astype(np.float32)
    assert np.abs(model.predict(x, verbose=0) - model.predict(x[:, ::-1], verbose=0)).max() > 1e-4


def test_saved_model_loads_back(keras, tmp_path):
    """A trained-shape model saved as .keras loads (safe mode) and predicts the same."""
    from voxstream.train.arch_lstm import LstmConfig, build

    keras.utils.set_random_seed(0)
    model = build((8, 12), 7, None, LstmConfig(units=8, branch_units=4, dense=8))
    model.save(tmp_path / "m.keras")
    back = keras.models.load_model(tmp_path / "m.keras", compile=False)
    x = np.random.default_rng(3).normal(size=(3, 8, 12)).astype(np.float32)
    np.testing.assert_allclose(back.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)

"""The seq LSTM (src/voxstream/train/arch_lstm.py) converts to builtin-op TFLite and LiteRT matches Keras."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.needs_tf


@pytest.fixture(scope="module")
def keras():
    pytest.importorskip("tensorflow")
    return pytest.importorskip("keras")


def test_lstm_converts_and_matches_keras(keras):
    """An untrained LSTM over (8, 125) exports (unrolled, free batch), converts with TFLITE_BUILTINS only, loads
    in the runtime's LiteRT wrapper and matches Keras, one row per call and a batch in one call."""
    from voxstream.inference.litert import LiteModel
    from voxstream.train.arch_lstm import build, export_graph
    from voxstream.train.export import convert

    keras.utils.set_random_seed(0)
    model = build((8, 125), 7, None)
    twin = export_graph((8, 125), 7)
    twin.set_weights(model.get_weights())
    blob = convert(twin)
    lite = LiteModel(blob)
    assert lite.input_shape == (1, 8, 125) and lite.n_outputs == 7
    x = np.random.default_rng(1).normal(size=(20, 8, 125)).astype(np.float32)
    rows = lite.predict_rows(x)
    ref = model.predict(x, verbose=0)
    np.testing.assert_allclose(rows, ref, atol=1e-5)
    np.testing.assert_allclose(rows.sum(axis=1), 1.0, atol=1e-5)
    assert lite.latency_us(x[0], calls=5) > 0
    lite.resize(len(x))
    np.testing.assert_allclose(lite.predict_batch(x), rows, atol=1e-5)
    assert len(blob) < 2_000_000


def test_the_lstm_reads_the_order_of_the_steps(keras):
    """Reversing the steps changes the output (a pooled-only model could not tell), so it is a sequence model."""
    from voxstream.train.arch_lstm import build

    keras.utils.set_random_seed(0)
    model = build((8, 12), 7, None)
    x = np.random.default_rng(2).normal(size=(4, 8, 12)).astype(np.float32)
    assert np.abs(model.predict(x, verbose=0) - model.predict(x[:, ::-1], verbose=0)).max() > 1e-4


def test_saved_model_loads_back(keras, tmp_path):
    """A trained-shape model saved as .keras loads (safe mode) and predicts the same."""
    from voxstream.train.arch_lstm import build

    keras.utils.set_random_seed(0)
    model = build((8, 12), 7, None)
    model.save(tmp_path / "m.keras")
    back = keras.models.load_model(tmp_path / "m.keras", compile=False)
    x = np.random.default_rng(3).normal(size=(3, 8, 12)).astype(np.float32)
    np.testing.assert_allclose(back.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)

"""Keras model -> ``.tflite`` (builtin ops only, float32) + model card; LiteRT predictions and latency.

Training evaluations run the converted model through LiteRT (:class:`LitePredictor`),
so the card's figures are those of the bytes the runtime runs.  Float32 is
shipped: on x86 the fused int8 LSTM was measured ~6x slower than float, and
TF 2.21's int8 quantiser segfaults on it.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from pathlib import Path

import numpy as np

from voxstream.model.card import LABELS, ModelCard, sha256_file
from voxstream.engine.features import FeatureParams

_LOGGER = logging.getLogger(__name__)


def convert(model) -> bytes:
    """Float32 TFLite flatbuffer of a fixed-batch Keras model, TFLITE_BUILTINS ops only."""
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    with contextlib.redirect_stdout(sys.stderr):  # Keras' export prints its signature on stdout
        return conv.convert()


def _interpreter(tflite: bytes):
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=tflite, num_threads=1)
    interp.allocate_tensors()
    return interp


class LitePredictor:
    """Batch predictions of a ``.tflite`` flatbuffer through LiteRT, one invoke per row (batch-1 models)."""

    def __init__(self, tflite: bytes) -> None:
        self._interp = _interpreter(tflite)
        inp, out = self._interp.get_input_details()[0], self._interp.get_output_details()[0]
        self._in, self._out, self.input_shape = inp["index"], out["index"], tuple(inp["shape"][1:])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32).reshape((len(x),) + self.input_shape)
        probs = np.empty((len(x), self._interp.get_output_details()[0]["shape"][-1]), dtype=np.float32)
        for i, row in enumerate(x):
            self._interp.set_tensor(self._in, row[None])
            self._interp.invoke()
            probs[i] = self._interp.get_tensor(self._out)[0]
        return probs


def tflite_predict(tflite: bytes, x: np.ndarray) -> np.ndarray:
    """Probabilities of every row of ``x`` (shaped like one model input each)."""
    return LitePredictor(tflite)(x)


def latency_us(tflite: bytes, example: np.ndarray, calls: int = 300) -> float:
    """Median microseconds per invoke (set_tensor + invoke), after a warm-up."""
    interp = _interpreter(tflite)
    index = interp.get_input_details()[0]["index"]
    x = example[None].astype(np.float32)
    times = []
    for i in range(calls + 20):
        start = time.perf_counter()
        interp.set_tensor(index, x)
        interp.invoke()
        if i >= 20:
            times.append(time.perf_counter() - start)
    return round(float(np.median(times)) * 1e6, 1)


def write_model(out_dir: str | Path, name: str, tflite: bytes, arch: str, params: FeatureParams,
                input_shape: tuple[int, ...], extra: dict, window_s: float = 2.0, hop_s: float = 0.25,
                normalization: dict | None = None) -> Path:
    """Write ``<out>/<name>.tflite`` and its card ``<name>.json``; returns the .tflite path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model_path = out / f"{name}.tflite"
    tmp = model_path.with_suffix(".tflite.tmp")
    tmp.write_bytes(tflite)
    tmp.replace(model_path)
    card = ModelCard(name=name, arch=arch, labels=LABELS, features=params, input_shape=tuple(input_shape),
                     tflite_file=model_path.name, tflite_sha256=sha256_file(model_path),
                     window_s=window_s, hop_s=hop_s, normalization=normalization or {"kind": "none"}, extra=extra)
    card.save(out / f"{name}.json")
    _LOGGER.info("wrote %s (%d bytes) and %s", model_path, len(tflite), out / f"{name}.json")
    return model_path

"""Keras model -> ``.tflite`` (builtin ops only, float32) + model card.

Training evaluations run the converted bytes through the runtime's own LiteRT wrapper
(:class:`voxstream.inference.litert.LiteModel`), so the card's figures are those of the bytes the
runtime runs.  Float32 is
shipped: on x86 the fused int8 LSTM was measured ~6x slower than float, and
TF 2.21's int8 quantiser segfaults on it.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path

from voxstream.config import GateConfig
from voxstream.engine.params import FeatureParams
from voxstream.inference.card import LABELS, ModelCard, sha256_file

_LOGGER = logging.getLogger(__name__)


def convert(model) -> bytes:
    """Float32 TFLite flatbuffer of a fixed-batch Keras model, TFLITE_BUILTINS ops only."""
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    with contextlib.redirect_stdout(sys.stderr):  # Keras' export prints its signature on stdout
        return conv.convert()


def write_model(
    out_dir: str | Path,
    name: str,
    tflite: bytes,
    arch: str,
    params: FeatureParams,
    input_shape: tuple[int, ...],
    extra: dict,
    window_s: float = 2.0,
    hop_s: float = 0.25,
    normalization: dict | None = None,
    gate: GateConfig | None = None,
) -> Path:
    """Write ``<out>/<name>.tflite`` and its card ``<name>.json`` (``gate``: the speech gate of the training
    rows, default the ``[gate]`` defaults); returns the .tflite path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model_path = out / f"{name}.tflite"
    tmp = model_path.with_suffix(".tflite.tmp")
    tmp.write_bytes(tflite)
    tmp.replace(model_path)
    card = ModelCard(
        name=name,
        arch=arch,
        labels=LABELS,
        features=params,
        input_shape=tuple(input_shape),
        tflite_file=model_path.name,
        tflite_sha256=sha256_file(model_path),
        window_s=window_s,
        hop_s=hop_s,
        normalization=normalization or {"kind": "none"},
        gate=gate or GateConfig(),
        extra=extra,
    )
    card.save(out / f"{name}.json")
    _LOGGER.info("wrote %s (%d bytes) and %s", model_path, len(tflite), out / f"{name}.json")
    return model_path

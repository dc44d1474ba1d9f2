"""Keras model -> ``.tflite`` (builtin ops only) + model card, with a variant comparison.

Three variants are converted: float32, dynamic-range (int8 weights) and full
int8 (representative data from the training side; float input and output).
Each is timed per call with LiteRT (one thread, batch 1) and compared with
Keras on held-out features.  Float is shipped unless another variant is
clearly better: at least 20 % faster per call, >= 99 % argmax agreement with
Keras *and* probabilities within 0.01 of Keras (the smoother thresholds
probabilities, so larger shifts change behaviour; on x86 the fused int8 LSTM
was measured ~6x slower, and TF 2.21's int8 quantiser segfaults on it).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from pathlib import Path

import numpy as np

from voxstream.stream.card import LABELS, ModelCard, sha256_file
from voxstream.stream.features import FeatureParams

_LOGGER = logging.getLogger(__name__)
VARIANTS = ("float32", "dynamic", "int8")


def convert(model, variant: str = "float32", representative: np.ndarray | None = None) -> bytes:
    """TFLite flatbuffer of a fixed-batch Keras model, TFLITE_BUILTINS ops only."""
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if variant == "dynamic":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    elif variant == "int8":
        if representative is None:
            raise ValueError("int8 conversion needs representative inputs")
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([r[None].astype(np.float32)] for r in representative)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    elif variant != "float32":
        raise ValueError(f"variant {variant!r}: expected one of {VARIANTS}")
    with contextlib.redirect_stdout(sys.stderr):  # Keras' export prints its signature on stdout
        return conv.convert()


_CHILD = """
import sys, numpy as np, keras
from voxstream.train.export import convert
model = keras.models.load_model(sys.argv[1], compile=False)
rep = np.load(sys.argv[2], allow_pickle=False)
open(sys.argv[3], "wb").write(convert(model, sys.argv[4], rep))
"""


def convert_isolated(model, variant: str, representative: np.ndarray) -> bytes:
    """:func:`convert` in a child process: TF 2.21's int8 quantiser segfaults on the fused LSTM
    (measured), which must not take the training run down with it."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        model.save(f"{tmp}/m.keras")
        np.save(f"{tmp}/rep.npy", representative.astype(np.float32))
        proc = subprocess.run([sys.executable, "-c", _CHILD, f"{tmp}/m.keras", f"{tmp}/rep.npy", f"{tmp}/m.tflite", variant],
                              capture_output=True, text=True, timeout=600)
        if proc.returncode < 0:
            raise RuntimeError(f"converter crashed with signal {-proc.returncode} (TensorFlow {_tf_version()})")
        if proc.returncode != 0:
            lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln[:1] in "IWE0 " or "Error" in ln[:40]]
            raise RuntimeError(f"converter failed: {(lines or ['exit code %d' % proc.returncode])[-1][:200]}")
        return Path(f"{tmp}/m.tflite").read_bytes()


def _tf_version() -> str:
    from importlib.metadata import version

    return version("tensorflow-cpu")


def _interpreter(tflite: bytes):
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=tflite, num_threads=1)
    interp.allocate_tensors()
    return interp


def tflite_predict(tflite: bytes, x: np.ndarray) -> np.ndarray:
    """Probabilities of every row of ``x`` (shaped like one model input each), one call per row."""
    interp = _interpreter(tflite)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    probs = []
    for row in x:
        interp.set_tensor(inp["index"], row[None].astype(np.float32))
        interp.invoke()
        probs.append(interp.get_tensor(out["index"])[0].copy())
    return np.array(probs, dtype=np.float32)


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


def compare_variants(twin, x_holdout: np.ndarray, y_holdout: np.ndarray | None,
                     representative: np.ndarray) -> tuple[dict, dict[str, bytes]]:
    """Size, latency and agreement with Keras of each variant; returns (stats, flatbuffers)."""
    keras_probs = twin.predict(x_holdout, batch_size=1, verbose=0)
    stats, blobs = {}, {}
    for variant in VARIANTS:
        try:
            blob = (convert_isolated if variant == "int8" else convert)(twin, variant, representative)
        except Exception as exc:  # a variant that does not convert is reported, not fatal
            stats[variant] = {"error": str(exc).splitlines()[0][:200]}
            continue
        probs = tflite_predict(blob, x_holdout)
        entry = {"bytes": len(blob), "latency_us_median": latency_us(blob, x_holdout[0]),
                 "max_abs_diff_vs_keras": float(np.abs(probs - keras_probs).max()),
                 "argmax_agreement_vs_keras": round(float((probs.argmax(1) == keras_probs.argmax(1)).mean()), 4),
                 "n_compared": int(len(x_holdout))}
        if y_holdout is not None:
            entry["accuracy"] = round(float((probs.argmax(1) == y_holdout).mean()), 4)
        stats[variant], blobs[variant] = entry, blob
    return stats, blobs


CHOICE_RULE = ("float32 unless a variant is >= 20% faster per call, agrees with Keras on >= 99% of argmax "
               "and stays within 0.01 of its probabilities")


def choose_variant(stats: dict, wanted: str = "auto") -> str:
    """The variant to ship: ``wanted`` if named, else by :data:`CHOICE_RULE`."""
    if wanted != "auto":
        if wanted not in stats or "error" in stats[wanted]:
            raise ValueError(f"--variant {wanted}: did not convert ({stats.get(wanted, {}).get('error', 'unknown')})")
        return wanted
    best = "float32"
    for variant in ("dynamic", "int8"):
        s = stats.get(variant, {})
        if not s or "error" in s:
            continue
        if (s["argmax_agreement_vs_keras"] >= 0.99 and s["max_abs_diff_vs_keras"] <= 0.01
                and s["latency_us_median"] <= 0.8 * stats[best]["latency_us_median"]):
            best = variant
    return best


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

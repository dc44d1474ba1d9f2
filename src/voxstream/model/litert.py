"""The classifier: LiteRT's interpreter around a ``.tflite`` file and its card.

Never imports TensorFlow: the runtime uses ``ai_edge_litert`` and falls back
to ``tflite_runtime`` only where LiteRT is not installed.  LiteRT's C++ code
prints ``INFO: Created TensorFlow Lite XNNPACK delegate for CPU.`` straight
to file descriptor 2 while the interpreter is built; :func:`native_stderr`
turns such ``INFO:`` lines into debug logs (shown with ``--debug``) and passes
anything else through.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from voxstream.model.card import ModelCard, load_card
from voxstream.errors import ModelError
from voxstream.held_signals import held

_LOGGER = logging.getLogger(__name__)


def interpreter_class():
    """LiteRT's interpreter class, imported with SIGINT and SIGTERM held (:mod:`.held_signals`)."""
    with held():
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:  # pragma: no cover - only where LiteRT is absent
            try:
                from tflite_runtime.interpreter import Interpreter
            except ImportError:
                raise ModelError("no TFLite runtime: pip install ai-edge-litert") from None
    return Interpreter


@contextlib.contextmanager
def native_stderr():
    """Capture what C++ writes to fd 2 in this block; replay it after (``INFO:`` lines as debug logs).

    fd 2 is restored even when the block raises.  With debug logging on nothing is captured.
    """
    if _LOGGER.isEnabledFor(logging.DEBUG):
        yield
        return
    sys.stderr.flush()
    with tempfile.TemporaryFile() as capture:
        saved = os.dup(2)
        try:
            os.dup2(capture.fileno(), 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            _replay(capture.read().decode("utf-8", "replace"))


def _replay(text: str) -> None:
    for line in text.splitlines():
        if line.startswith("INFO: "):
            _LOGGER.debug("LiteRT: %s", line[6:])
        elif line.strip():
            print(line, file=sys.stderr)


class Classifier:
    """Scores for one feature window at a time (batch of 1)."""

    def __init__(self, card: ModelCard, tflite_path: str | Path, num_threads: int = 1) -> None:
        self.card = card
        self.path = Path(tflite_path)
        Interpreter = interpreter_class()
        try:
            with native_stderr():
                self._interp = Interpreter(model_path=str(self.path), num_threads=num_threads)
                self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"{self.path}: not a loadable TFLite model ({first})") from None
        inp = self._interp.get_input_details()[0]
        out = self._interp.get_output_details()[0]
        self._in_index, self._out_index = inp["index"], out["index"]
        self._in_dtype = inp["dtype"]
        self._in_quant = inp.get("quantization", (0.0, 0))
        self._out_quant = out.get("quantization", (0.0, 0))
        if tuple(inp["shape"]) != tuple(card.input_shape):
            raise ModelError(f"{self.path}: input shape {tuple(inp['shape'])} does not match the card's "
                             f"{tuple(card.input_shape)}")
        if int(out["shape"][-1]) != len(card.labels):
            raise ModelError(f"{self.path}: {out['shape'][-1]} outputs but the card names {len(card.labels)} labels")

    @classmethod
    def load(cls, model_path: str | Path, num_threads: int = 1) -> "Classifier":
        card, tflite = load_card(model_path)
        return cls(card, tflite, num_threads=num_threads)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.card.labels

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities (float32, sums to 1) for one feature vector or sequence."""
        x = np.asarray(features, dtype=np.float32).reshape(self.card.input_shape)
        if self._in_dtype != np.float32:
            scale, zero = self._in_quant
            x = np.clip(np.round(x / scale + zero), np.iinfo(self._in_dtype).min,
                        np.iinfo(self._in_dtype).max).astype(self._in_dtype)
        self._interp.set_tensor(self._in_index, x)
        self._interp.invoke()
        y = self._interp.get_tensor(self._out_index)[0]
        if y.dtype != np.float32:
            scale, zero = self._out_quant
            y = (y.astype(np.float32) - zero) * scale
        return y.astype(np.float32)

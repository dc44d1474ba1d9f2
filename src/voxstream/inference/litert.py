"""The one LiteRT wrapper: :class:`LiteModel` (a ``.tflite`` from a path or from bytes) and
:class:`Classifier` (a LiteModel checked against its card).

Every user of a ``.tflite`` goes through :class:`LiteModel`: the live engine and
``calibrate`` (:class:`Classifier`), ``classify``'s batches
(:class:`voxstream.offline.batch.BatchModel`: a second LiteModel of the same file with a
resized batch), ``voxstream eval`` (:class:`Classifier`) and training, which scores the
converted bytes before any file is written (``LiteModel(blob).predict_rows``), so the
card's figures are those of the bytes the runtime runs.

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
import time
from pathlib import Path

import numpy as np

from voxstream.config import Config
from voxstream.errors import ModelError
from voxstream.held_signals import held
from voxstream.inference.card import ModelCard, load_card

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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class LiteModel:
    """One LiteRT interpreter over a ``.tflite`` file (``source`` a path) or flatbuffer (``source`` bytes).

    Raises :class:`ModelError` (one line) when the model does not load.  :meth:`predict` scores one
    input, :meth:`predict_rows` many (one invoke each), :meth:`predict_batch` many in one invoke
    after :meth:`resize`.
    """

    def __init__(self, source: str | Path | bytes, num_threads: int = 1) -> None:
        self.source = bytes(source) if isinstance(source, (bytes, bytearray)) else Path(source)
        self.where = f"<{len(self.source)}-byte model>" if isinstance(self.source, bytes) else str(self.source)
        Interpreter = interpreter_class()
        where = {"model_content": self.source} if isinstance(self.source, bytes) else {"model_path": str(self.source)}
        try:
            with native_stderr():
                self._interp = Interpreter(**where, num_threads=num_threads)
                self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"{self.where}: not a loadable TFLite model ({_first_line(exc)})") from None
        self.input = self._interp.get_input_details()[0]
        self.output = self._interp.get_output_details()[0]
        self._in_quant = self.input.get("quantization", (0.0, 0))
        self._out_quant = self.output.get("quantization", (0.0, 0))
        self.input_shape: tuple[int, ...] = tuple(int(n) for n in self.input["shape"])
        """Shape of the input tensor as allocated, batch included, e.g. (1, 40, 1)."""

    @property
    def n_outputs(self) -> int:
        return int(self.output["shape"][-1])

    @property
    def float_io(self) -> bool:
        """Float32 input and output (no quantisation)."""
        return self.input["dtype"] == np.float32 and self.output["dtype"] == np.float32

    def resize(self, batch: int) -> None:
        """Resize the input to ``batch`` rows (raises RuntimeError/ValueError where the model refuses)."""
        with native_stderr():
            self._interp.resize_tensor_input(self.input["index"], [batch, *self.input_shape[1:]])
            self._interp.allocate_tensors()
        self.input_shape = (batch, *self.input_shape[1:])

    def _quantised_in(self, x: np.ndarray) -> np.ndarray:
        dtype = self.input["dtype"]
        if dtype == np.float32:
            return x
        scale, zero = self._in_quant
        return np.clip(np.round(x / scale + zero), np.iinfo(dtype).min, np.iinfo(dtype).max).astype(dtype)

    def _dequantised_out(self, y: np.ndarray) -> np.ndarray:
        if y.dtype != np.float32:
            scale, zero = self._out_quant
            y = (y.astype(np.float32) - zero) * scale
        return y.astype(np.float32, copy=False)

    def predict_batch(self, x: np.ndarray) -> np.ndarray:
        """Outputs ``(len(x), n_outputs)`` float32 of a batch shaped like the (resized) input tensor."""
        self._interp.set_tensor(self.input["index"], self._quantised_in(np.asarray(x, dtype=np.float32)))
        self._interp.invoke()
        return self._dequantised_out(self._interp.get_tensor(self.output["index"]))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Outputs (float32) of one input, reshaped to the input tensor (a batch of 1)."""
        return self.predict_batch(np.asarray(x, dtype=np.float32).reshape(self.input_shape))[0]

    def predict_rows(self, x: np.ndarray) -> np.ndarray:
        """Outputs ``(len(x), n_outputs)`` of many inputs, one invoke per row (any model, batch-1 ones too)."""
        x = np.asarray(x, dtype=np.float32)
        out = np.empty((len(x), self.n_outputs), dtype=np.float32)
        for i, row in enumerate(x):
            out[i] = self.predict(row)
        return out

    __call__ = predict_rows

    def latency_us(self, example: np.ndarray, calls: int = 300) -> float:
        """Median microseconds per invoke (set_tensor + invoke) of one input, after 20 warm-up calls."""
        x = self._quantised_in(np.asarray(example, dtype=np.float32).reshape(self.input_shape))
        index, times = self.input["index"], []
        for i in range(calls + 20):
            start = time.perf_counter()
            self._interp.set_tensor(index, x)
            self._interp.invoke()
            if i >= 20:
                times.append(time.perf_counter() - start)
        return round(float(np.median(times)) * 1e6, 1)


class Classifier:
    """Scores for one feature window at a time (batch of 1): a :class:`LiteModel` that matches its card."""

    def __init__(self, card: ModelCard, tflite: str | Path | bytes, num_threads: int = 1) -> None:
        self.card = card
        self.model = LiteModel(tflite, num_threads=num_threads)
        self.path = self.model.source if isinstance(self.model.source, Path) else None
        """The ``.tflite`` file (None for a model loaded from bytes)."""
        where = self.model.where
        if self.model.input_shape != tuple(card.input_shape):
            raise ModelError(
                f"{where}: input shape {self.model.input_shape} does not match the card's {tuple(card.input_shape)}"
            )
        if self.model.n_outputs != len(card.labels):
            raise ModelError(f"{where}: {self.model.n_outputs} outputs but the card names {len(card.labels)} labels")

    @classmethod
    def load(cls, model_path: str | Path, num_threads: int = 1) -> Classifier:
        card, tflite = load_card(model_path)
        return cls(card, tflite, num_threads=num_threads)

    @classmethod
    def configured(cls, cfg: Config) -> Classifier:
        """The model ``[model] path`` names (a shipped name or a file), with ``[model] num_threads``."""
        from voxstream.inference.shipped import resolve_model

        return cls.load(resolve_model(cfg.model.path), num_threads=cfg.model.num_threads)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.card.labels

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities (float32, sums to 1) for one feature vector or sequence."""
        return self.model.predict(features)

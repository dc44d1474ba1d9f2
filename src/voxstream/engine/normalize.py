"""Feature normalisation of one stream: none, or a running per-session baseline.

The runtime cannot know who is speaking, so speaker normalisation is done the
streaming way: a :class:`Normalizer` of kind ``"session"`` keeps an
exponentially weighted mean and variance of the pooled features of the
*speech* windows heard so far, starting from a prior (the training set's mean
and variance) that counts as ``prior_windows`` windows.  The weight of a new
window is ``max(1 / (prior_windows + n), 1 / memory_windows)`` after ``n``
speech windows: a running average at first, an exponential memory of about
``memory_windows`` windows later.  Features are centred on that baseline and,
if ``scale`` is true, divided by its standard deviation; then the fixed
``post_mean``/``post_std`` from training (if any) are applied.

The class is pure (no I/O, no clock): the streaming engine calls
:meth:`Normalizer.step` once per hop, and training calls the very same method
on the windows of each simulated session, so training features equal
streaming features.  The card's ``"normalization"`` dict is its only input:

- ``{"kind": "none"}``: features pass through unchanged.
- ``{"kind": "session", "prior_mean": [...], "prior_std": [...],
  "prior_windows": 40, "memory_windows": 480, "scale": true,
  "post_mean": [...], "post_std": [...]}`` (``post_*`` optional).

Optional keys (absent in older cards, which behave as before):

- ``"baseline": "median"`` (session only; default ``"mean"``): the session centre
  is a running *median* (sign-driven quantile tracker, steps of ``rate * scale``)
  and the scale ``1.2533 x`` the running mean absolute deviation, so a burst of
  loud or emotional windows moves the baseline far less than a mean would.

A session's baseline can be saved (:meth:`Normalizer.state`: ``mu``, ``var``,
``n``) and later sessions started from it instead of the prior
(:meth:`Normalizer.with_state`, ``from_dict(..., state=...)``): what
``voxstream calibrate`` records (:mod:`voxstream.inference.calibration`).  Kind
``"none"`` keeps no session, so for it this is a no-op.

Sequences ``(K, D)`` are normalised step by step with the same ``D``-long
statistics; the session baseline is updated with the window's mean step.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

KINDS = ("none", "session")
"""The kinds the shipped cards and the registered architectures use (voxstream.train.archs)."""
BASELINES = ("mean", "median")
KEYS = frozenset(
    {"kind", "prior_mean", "prior_std", "prior_windows", "memory_windows", "scale", "post_mean", "post_std", "baseline"}
)
"""Every key a card's ``normalization`` dict may hold."""
_MAD_TO_STD = 1.2533
"""Standard deviation of a normal distribution per unit of mean absolute deviation (sqrt(pi / 2))."""
_MIN_STD = 1e-3
"""Floor of every standard deviation, so silence or a constant input never divides by zero."""


def _vector(data: dict, key: str, dim: int | None, where: str = "normalization") -> np.ndarray:
    try:
        vec = np.asarray(data[key], dtype=np.float64)
    except KeyError:
        raise ValueError(f"{where}.{key}: missing") from None
    except (TypeError, ValueError):
        raise ValueError(f"{where}.{key}: expected a list of {dim or 'n'} numbers") from None
    if vec.ndim != 1 or (dim is not None and len(vec) != dim):
        raise ValueError(f"{where}.{key}: expected a list of {dim or 'n'} numbers, got shape {vec.shape}")
    if not np.all(np.isfinite(vec)):
        raise ValueError(f"{where}.{key}: expected finite numbers")
    return vec


RUN_BLOCK = 256
"""Windows normalised at once by :meth:`Normalizer.run` (256 x 8 x 125 float64: 2 MB per array)."""


@dataclass
class Normalizer:
    """Per-hop feature normaliser built from a model card's ``normalization`` dict."""

    kind: str = "none"
    mean: np.ndarray | None = None
    """Prior centre of a session."""
    std: np.ndarray | None = None
    """Prior scale of a session."""
    prior_windows: float = 40.0
    """Weight of the prior, in speech windows (at a 0.25 s hop, 40 windows = 10 s of speech)."""
    memory_windows: float = 480.0
    """Time constant of the running baseline, in speech windows (480 = 2 minutes at a 0.25 s hop)."""
    scale: bool = True
    """Divide by the session standard deviation (else only subtract the session mean)."""
    post_mean: np.ndarray | None = None
    post_std: np.ndarray | None = None
    baseline: str = "mean"
    """Session centre: running "mean" (the original) or robust running "median"."""
    _n: int = field(default=0, init=False, repr=False)
    _start: tuple | None = field(default=None, init=False, repr=False)
    """A saved baseline ``(mu, var, n)`` that :meth:`reset` returns to instead of the prior (:meth:`with_state`)."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"normalization.kind: expected one of {KINDS}, got {self.kind!r}")
        if self.baseline not in BASELINES:
            raise ValueError(f"normalization.baseline: expected one of {BASELINES}, got {self.baseline!r}")
        if self.kind != "none" and (self.mean is None or self.std is None):
            raise ValueError(f"normalization: kind {self.kind!r} needs a mean and a std")
        if self.prior_windows < 1 or self.memory_windows < 1:
            raise ValueError("normalization.prior_windows and memory_windows: expected numbers >= 1")
        self.reset()

    @classmethod
    def from_dict(cls, data: dict | None, state: dict | None = None) -> Normalizer:
        """Build from a card's ``normalization`` dict (``None`` means ``{"kind": "none"}``); with ``state``
        (a saved :meth:`state`), sessions start from that baseline instead of the prior."""
        if state is not None:
            return cls.from_dict(data).with_state(state)
        data = dict(data or {"kind": "none"})
        kind = data.get("kind", "none")
        unknown = sorted(set(data) - KEYS)
        if unknown:  # e.g. the per-window "center" of research cards: refused, never silently run differently
            raise ValueError(f"normalization.{unknown[0]}: unknown key; expected only {sorted(KEYS)}")
        if kind == "none":
            return cls()
        if kind != "session":
            raise ValueError(f"normalization.kind: expected one of {KINDS}, got {kind!r}")
        mean = _vector(data, "prior_mean", None)
        post = {}
        if "post_mean" in data:
            post = {
                "post_mean": _vector(data, "post_mean", len(mean)),
                "post_std": np.maximum(_vector(data, "post_std", len(mean)), _MIN_STD),
            }
        return cls(
            "session",
            mean,
            np.maximum(_vector(data, "prior_std", len(mean)), _MIN_STD),
            prior_windows=float(data.get("prior_windows", 40.0)),
            memory_windows=float(data.get("memory_windows", 480.0)),
            scale=bool(data.get("scale", True)),
            baseline=str(data.get("baseline", "mean")),
            **post,
        )

    def to_dict(self) -> dict:
        """The card's ``normalization`` dict (inverse of :meth:`from_dict`); default options are left out."""
        if self.kind == "none":
            return {"kind": "none"}
        assert self.mean is not None and self.std is not None  # a session has both (__post_init__)
        data = {
            "kind": "session",
            "prior_mean": self.mean.tolist(),
            "prior_std": self.std.tolist(),
            "prior_windows": self.prior_windows,
            "memory_windows": self.memory_windows,
            "scale": self.scale,
        }
        if self.post_mean is not None:
            assert self.post_std is not None  # given together (from_dict)
            data.update(post_mean=self.post_mean.tolist(), post_std=self.post_std.tolist())
        if self.baseline != "mean":
            data["baseline"] = self.baseline
        return data

    def reset(self) -> None:
        """Forget the session: back to the prior, or to the saved baseline of :meth:`with_state`
        (call when a new speaker or stream starts)."""
        self._n = 0
        if self.kind == "session":
            assert self.mean is not None and self.std is not None  # a session has both (__post_init__)
            self._mu = self.mean.copy()
            self._var = self.std**2
        if self._start is not None:
            self._mu, self._var, self._n = self._start[0].copy(), self._start[1].copy(), self._start[2]

    def state(self) -> dict:
        """The session baseline as JSON-ready data: ``{"mu": [...], "var": [...], "n": speech windows}``.

        Kind "none" keeps no session: its state is empty (``mu``/``var`` ``[]``), and restoring it is a no-op.
        """
        if self.kind != "session":
            return {"mu": [], "var": [], "n": 0}
        return {"mu": self._mu.tolist(), "var": self._var.tolist(), "n": int(self._n)}

    def with_state(self, state: dict) -> Normalizer:
        """A copy whose sessions start (now and at every :meth:`reset`) from a saved :meth:`state`.

        Raises ValueError (one line) when ``mu``/``var`` do not match the prior's length or are not
        finite, ``var`` is negative, or ``n`` is not a count.  For kind "none" it is a no-op.
        """
        out = dataclasses.replace(self)
        if self.kind != "session":
            return out
        if not isinstance(state, dict):
            raise ValueError(f"baseline state: expected an object with mu, var and n, got {type(state).__name__}")
        assert self.mean is not None  # a session has one (__post_init__)
        dim = len(self.mean)
        mu = _vector(state, "mu", dim, "baseline state")
        var = _vector(state, "var", dim, "baseline state")
        n = state.get("n")
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"baseline state.n: expected a count of speech windows >= 0, got {n!r}")
        if np.any(var < 0):
            raise ValueError("baseline state.var: expected variances >= 0")
        out._start = (mu, np.maximum(var, _MIN_STD**2), n)
        out.reset()
        return out

    @property
    def speech_windows(self) -> int:
        """Speech windows that have updated the session baseline since the last reset."""
        return self._n

    def update(self, features: np.ndarray, speech: bool) -> None:
        """Move the session baseline towards one window's features, if the window is speech.

        A sequence (K, D) counts as one window: its mean step moves the D-long baseline.
        """
        if self.kind != "session" or not speech:
            return
        self._move(np.asarray(features, dtype=np.float64))

    def _move(self, x: np.ndarray) -> None:
        """:meth:`update` with one speech window's features (float64)."""
        if x.ndim == 2:
            x = x.mean(axis=0)
        self._n += 1
        rate = max(1.0 / (self.prior_windows + self._n), 1.0 / self.memory_windows)
        delta = x - self._mu
        if self.baseline == "median":  # robust: steps of rate x scale towards the sample, whatever its distance
            scale = np.sqrt(self._var)
            self._mu = self._mu + rate * _MAD_TO_STD * scale * np.sign(delta)
            mad = scale / _MAD_TO_STD + rate * (np.abs(delta) - scale / _MAD_TO_STD)
            self._var = np.maximum(_MAD_TO_STD * mad, _MIN_STD) ** 2
            return
        self._mu = self._mu + rate * delta
        self._var = (1.0 - rate) * (self._var + rate * delta * delta)

    def apply(self, features: np.ndarray) -> np.ndarray:
        """Normalised copy of one window's features (float32); the state is not changed."""
        x = np.asarray(features, dtype=np.float64)
        if self.kind != "session":
            return self._normalised(x, None, None)
        return self._normalised(x, self._mu, self._var)

    def _normalised(self, x: np.ndarray, mu: np.ndarray | None, var: np.ndarray | None) -> np.ndarray:
        """Features with the session baseline ``mu``, ``var`` (broadcast over x's leading axes)."""
        if self.kind == "none":
            return x.astype(np.float32)
        assert mu is not None and var is not None  # a session passes its baseline
        z = x - mu
        if self.scale:
            z = z / np.maximum(np.sqrt(var), _MIN_STD)
        if self.post_mean is not None:
            z = (z - self.post_mean) / self.post_std
        return z.astype(np.float32)

    def step(self, features: np.ndarray, speech: bool) -> np.ndarray:
        """One hop of the stream: :meth:`update` with this window, then :meth:`apply` to it."""
        self.update(features, speech)
        return self.apply(features)

    def run(self, feature_rows: np.ndarray, speech: np.ndarray | None = None) -> np.ndarray:
        """:meth:`step` over consecutive windows of one session (training's simulation of a stream).

        The same arithmetic as one :meth:`step` per window (``tests/test_normalize.py`` checks equality):
        the baseline moves window by window, and each block of :data:`RUN_BLOCK` windows is normalised
        at once (bounded memory on an hour-long file).
        """
        rows = np.asarray(feature_rows)
        flags = np.ones(len(rows), dtype=bool) if speech is None else np.asarray(speech, dtype=bool)
        if not len(rows):
            return np.zeros((0, *(rows.shape[1:] if rows.ndim >= 2 else (0,))), dtype=np.float32)
        out = np.empty(rows.shape, dtype=np.float32)
        for lo in range(0, len(rows), RUN_BLOCK):
            out[lo : lo + RUN_BLOCK] = self._run_block(rows[lo : lo + RUN_BLOCK], flags[lo : lo + RUN_BLOCK])
        return out

    def _run_block(self, rows: np.ndarray, flags: np.ndarray) -> np.ndarray:
        x = np.asarray(rows, dtype=np.float64)
        if self.kind != "session":
            return self._normalised(x, None, None)
        mu, var = np.empty((len(x), len(self._mu))), np.empty((len(x), len(self._var)))
        for i in range(len(x)):
            if flags[i]:
                self._move(x[i])
            mu[i], var[i] = self._mu, self._var
        if x.ndim == 3:  # a (K, D) sequence per window: one baseline row per window
            mu, var = mu[:, None, :], var[:, None, :]
        return self._normalised(x, mu, var)

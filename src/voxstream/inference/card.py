"""The model card: the JSON file beside every ``.tflite`` model.

The card is the contract between training and the runtime.  It names the
label order, every feature parameter, the normalisation, the streaming window,
the speech gate the model was trained with and the sha256 of the model file;
the runtime takes all of these from the card and never from constants, so what
was trained is what runs.

The gate is ``"gate": {"min_dbfs": ..., "active_fraction": ..., "rise_db": ...,
"floor_percentile": ...}`` (every :class:`~voxstream.config.GateConfig` field).
The runtime runs the card's gate, except for the values the user's config gives
(:func:`gate_for`).  The sha256 covers the ``.tflite`` only, so the card's JSON
may gain such keys without breaking the model.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from voxstream.config import Config, GateConfig
from voxstream.engine.params import FeatureParams
from voxstream.errors import ConfigError, ModelError

LABELS = ("angry", "disgust", "fear", "happy", "neutral", "ps", "sad")
"""The seven product labels, in the order every model of voxstream uses."""

SCHEMA_VERSION = 2
"""2: one trainer (evaluations per split and protocol, ``holdout``); 1: the two trainers before it."""


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelCard:
    """What the runtime needs from a card; the rest is kept in ``extra``."""

    name: str
    arch: str
    labels: tuple[str, ...]
    features: FeatureParams
    input_shape: tuple[int, ...]
    """Shape of one model input, batch of 1 included, e.g. (1, 40, 1)."""
    tflite_file: str
    tflite_sha256: str
    window_s: float = 2.0
    hop_s: float = 0.25
    normalization: dict = field(default_factory=lambda: {"kind": "none"})
    gate: GateConfig | None = None
    """The speech gate the model was trained with (None: a card from before cards recorded it)."""
    extra: dict = field(default_factory=dict, compare=False, repr=False)

    def to_dict(self) -> dict:
        data = dict(self.extra)
        data.update(
            {
                "schema_version": SCHEMA_VERSION,
                "name": self.name,
                "arch": self.arch,
                "labels": list(self.labels),
                "features": self.features.to_dict(),
                "input": {"shape": list(self.input_shape), "dtype": "float32"},
                "streaming": {"window_s": self.window_s, "hop_s": self.hop_s},
                "normalization": self.normalization,
                **({"gate": dataclasses.asdict(self.gate)} if self.gate is not None else {}),
                "tflite": {"file": self.tflite_file, "sha256": self.tflite_sha256},
            }
        )
        return data

    @classmethod
    def from_dict(cls, data: dict, where: str = "card") -> ModelCard:
        version = data.get("schema_version", data.get("card_version", 1))
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise ModelError(
                f"{where}: card schema_version {version!r} is newer than this voxstream reads "
                f"(<= {SCHEMA_VERSION}); upgrade voxstream"
            )
        try:
            extra = {
                k: v
                for k, v in data.items()
                if k
                not in {
                    "schema_version",
                    "card_version",
                    "name",
                    "arch",
                    "labels",
                    "features",
                    "input",
                    "streaming",
                    "normalization",
                    "gate",
                    "tflite",
                }
            }
            return cls(
                name=str(data["name"]),
                arch=str(data["arch"]),
                labels=tuple(str(x) for x in data["labels"]),
                features=FeatureParams.from_dict(data["features"]),
                input_shape=tuple(int(x) for x in data["input"]["shape"]),
                tflite_file=str(data["tflite"]["file"]),
                tflite_sha256=str(data["tflite"]["sha256"]),
                window_s=float(data.get("streaming", {}).get("window_s", 2.0)),
                hop_s=float(data.get("streaming", {}).get("hop_s", 0.25)),
                normalization=dict(data.get("normalization") or {"kind": "none"}),
                gate=_gate(data["gate"], where) if data.get("gate") is not None else None,
                extra=extra,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{where}: not a valid voxstream model card ({type(exc).__name__}: {exc})") from None

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n")


GATE_KEYS = tuple(f.name for f in dataclasses.fields(GateConfig))


def _gate(data, where: str) -> GateConfig:
    """The card's ``gate`` dict as a GateConfig (keys it leaves out: GateConfig's defaults)."""
    if not isinstance(data, dict):
        raise ModelError(f"{where}: gate: expected an object with {', '.join(GATE_KEYS)}")
    for key, value in data.items():
        if key not in GATE_KEYS:
            raise ModelError(f"{where}: gate.{key}: unknown key; expected {', '.join(GATE_KEYS)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ModelError(f"{where}: gate.{key}: expected a number, got {value!r}")
    try:
        return GateConfig(**{k: float(v) for k, v in data.items()})
    except ConfigError as exc:
        raise ModelError(f"{where}: {exc}") from None


def gate_for(card: ModelCard, cfg: Config) -> tuple[GateConfig, dict[str, str]]:
    """The speech gate to run ``card``'s model with, and ``"gate.<key>" -> "model card"`` for every value taken
    from the card: the card's gate, except where the config gives a value (file, environment, flag:
    :meth:`Config.is_given`), which wins.  A card without a gate: the config's gate, no value from the card."""
    if card.gate is None:
        return cfg.gate, {}
    values, origins = {}, {}
    for key in GATE_KEYS:
        if cfg.is_given(f"gate.{key}"):
            values[key] = getattr(cfg.gate, key)
        else:
            values[key] = getattr(card.gate, key)
            origins[f"gate.{key}"] = "model card"
    return GateConfig(**values), origins


def card_path_for(model_path: str | Path) -> Path:
    """``models/x.tflite`` -> ``models/x.json`` (a ``.json`` path is returned as is)."""
    path = Path(model_path)
    return path if path.suffix == ".json" else path.with_suffix(".json")


def load_card(model_path: str | Path, verify: bool = True) -> tuple[ModelCard, Path]:
    """Read and check the card of a model; returns it and the ``.tflite`` path.

    Raises :class:`ModelError` with one clear line when the card or the model
    file is missing, unreadable, or when the sha256 does not match.
    """
    card_file = card_path_for(model_path)
    if not card_file.is_file():
        raise ModelError(
            f"{card_file}: model card not found (every .tflite needs the .json card written by `voxstream train`)"
        )
    try:
        data = json.loads(card_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{card_file}: model card is not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ModelError(f"{card_file}: model card must be a JSON object")
    card = ModelCard.from_dict(data, where=str(card_file))
    tflite = card_file.parent / card.tflite_file
    if not tflite.is_file():
        raise ModelError(f"{tflite}: model file not found (named by {card_file})")
    if verify:
        actual = sha256_file(tflite)
        if actual != card.tflite_sha256:
            raise ModelError(
                f"{tflite}: sha256 {actual[:12]}... does not match its card "
                f"({card.tflite_sha256[:12]}...); the model and card do not belong together"
            )
    return card, tflite

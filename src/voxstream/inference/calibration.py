"""Speaker baselines: the normaliser's session state saved by ``voxstream calibrate``, loaded by ``run``.

A baseline file is JSON::

    {"schema": 1, "model_sha256": "...", "node": "kitchen", "speech_windows": 80,
     "state": {"mu": [...], "var": [...], "n": 80}}

``state`` is :meth:`~voxstream.engine.normalize.Normalizer.state` after the
calibration's speech windows; a session started from it
(:meth:`~voxstream.engine.normalize.Normalizer.with_state`) begins at this
speaker's ordinary voice instead of the training prior.  A baseline belongs to
one model (its statistics are in that model's feature space), so it is used
only when ``model_sha256`` is the loaded model's.  Kind ``"none"`` of
normalisation keeps no session: a baseline changes nothing there.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from voxstream.config import Config, node_slug
from voxstream.engine.normalize import Normalizer
from voxstream.inference.card import ModelCard

_LOGGER = logging.getLogger(__name__)

SCHEMA = 1
OFF = "off"
"""``[model] baseline = "off"``: never load a baseline."""


def default_baseline_path(node: str, environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_STATE_HOME/voxstream/<node slug>.baseline.json`` (``~/.local/state/...`` without it)."""
    env = os.environ if environ is None else environ
    state = env.get("XDG_STATE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local" / "state")
    return Path(state) / "voxstream" / f"{node_slug(node)}.baseline.json"


def baseline_path(cfg: Config, environ: Mapping[str, str] | None = None) -> Path | None:
    """The configured baseline file (``[model] baseline``), its default when empty; None when "off"."""
    value = cfg.model.baseline.strip()
    if value.lower() == OFF:
        return None
    return Path(value).expanduser() if value else default_baseline_path(cfg.node.name, environ)


def baseline_data(card: ModelCard, node: str, normalizer: Normalizer) -> dict:
    """The JSON of a baseline: the normaliser's state after calibration, for ``card``'s model."""
    return {
        "schema": SCHEMA,
        "model_sha256": card.tflite_sha256,
        "node": node,
        "speech_windows": normalizer.speech_windows,
        "state": normalizer.state(),
    }


def write_baseline(path: str | Path, data: dict) -> Path:
    """Write atomically (a reader never sees half a file); parent folders are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)
    return path


def read_baseline(path: str | Path, card: ModelCard) -> dict:
    """The saved ``state`` of a baseline file for ``card``'s model; ValueError (one line) saying why not."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: no baseline file (make one with `voxstream calibrate`)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: baseline is not readable JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(data.get("state"), dict):
        raise ValueError(f"{path}: not a voxstream baseline (expected schema {SCHEMA} with a state)")
    if data.get("model_sha256") != card.tflite_sha256:
        raise ValueError(
            f"{path}: baseline was calibrated with another model "
            f"(sha256 {str(data.get('model_sha256'))[:12]}..., loaded {card.tflite_sha256[:12]}...)"
        )
    Normalizer.from_dict(card.normalization, state=data["state"])  # validates lengths and values
    return data["state"]


def configured_state(card: ModelCard, cfg: Config) -> dict | None:
    """The state ``run`` starts from: the configured baseline if it exists and fits ``card``, else None.

    A missing default file is the normal case (no log); any other reason to ignore it is one INFO line.
    """
    path = baseline_path(cfg)
    if path is None or (not cfg.model.baseline.strip() and not path.is_file()):
        return None
    try:
        state = read_baseline(path, card)
    except ValueError as exc:
        _LOGGER.info("speaker baseline ignored, sessions start from the model's prior: %s", exc)
        return None
    _LOGGER.info("sessions start from the speaker baseline %s", path)
    return state

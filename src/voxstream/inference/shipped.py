"""The models shipped inside the package, and the one rule that turns ``--model`` into a file.

``--model`` and ``[model] path`` take either a shipped name (``voxstream``,
``session_mlp``, ``seed``: ``<name>.tflite`` + ``<name>.json`` in the package
``voxstream.models``, found with :mod:`importlib.resources`, so the default
works wherever the command runs) or a path to a ``.tflite`` (or its ``.json``
card), relative to the working directory.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from voxstream.errors import ModelError
from voxstream.inference.card import card_path_for

SHIPPED_PACKAGE = "voxstream.models"
DEFAULT_MODEL = "voxstream"
"""The shipped name ``[model] path`` defaults to."""


def shipped_dir() -> Path:
    """The folder of the shipped models (inside site-packages, or the checkout's ``models/`` when editable)."""
    try:
        folder = resources.files(SHIPPED_PACKAGE)
    except ModuleNotFoundError:
        raise ModelError(
            f"{SHIPPED_PACKAGE}: the shipped models are not installed; "
            "expected them with the package (reinstall voxstream)"
        ) from None
    if not isinstance(folder, Path):  # a zip import; pip always installs to the file system
        raise ModelError(f"{SHIPPED_PACKAGE}: shipped models must be installed as files, not in {folder}")
    return folder


def shipped_models() -> dict[str, Path]:
    """Shipped name -> its ``.tflite`` (those with a card beside them), sorted by name."""
    folder = shipped_dir()
    return {p.stem: p for p in sorted(folder.glob("*.tflite")) if card_path_for(p).is_file()}


def _is_name(value: str) -> bool:
    """A bare name (no folder, no suffix) is looked up among the shipped models, never in the working directory."""
    return "/" not in value and "\\" not in value and not Path(value).suffix and value not in (".", "..")


def resolve_model(name_or_path: str | Path) -> Path:
    """The ``.tflite`` (or card) path for a shipped name or a path; one-line :class:`ModelError` if neither."""
    value = str(name_or_path).strip()
    if not value:
        raise ModelError(
            f"model: empty name; expected a shipped model ({', '.join(shipped_models())}) or a path to a .tflite file"
        )
    if _is_name(value):
        models = shipped_models()
        if value in models:
            return models[value]
        raise ModelError(
            f"{value}: no shipped model of that name; expected one of {', '.join(models)} or a path to a .tflite file"
        )
    path = Path(value).expanduser()
    if not path.is_file() and not card_path_for(path).is_file():
        raise ModelError(
            f"{path}: model not found; expected a .tflite file with its .json card beside it, "
            f"or a shipped model ({', '.join(shipped_models())})"
        )
    return path

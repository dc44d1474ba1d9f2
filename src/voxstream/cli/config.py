"""``voxstream config``: the effective configuration as TOML, each value with where it came from.

Origins: ``default`` (the built-in dataclass default), the config file's path,
``command line`` (a flag such as ``--model``), the environment variable
(``VOXSTREAM_MQTT_HOST``), or ``model card <path>`` for the ``[gate]`` values the
config does not give, which the model's card sets (the gate it was trained with).  The header names the file
that was read and every place that was searched; the model line shows the file ``[model] path``
resolves to.  Passwords are shown as ``"***"``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path

from voxstream.cli.common import add_config_flags, overrides_from_args
from voxstream.config import SECTIONS, Config, config_candidates, default_config_path, load_config
from voxstream.errors import ModelError
from voxstream.inference.card import card_path_for, gate_for, load_card
from voxstream.inference.shipped import resolve_model

SECRET_KEYS = {"mqtt.password", "websocket.token"}


def register(sub) -> None:
    p = sub.add_parser(
        "config",
        help="print the effective configuration and where each value came from",
        description="Print the effective configuration (TOML) with the origin of every value.",
    )
    add_config_flags(p)
    p.add_argument("--node", help="node name, as `run --node` sets it (to see what wins over the file and environment)")
    p.set_defaults(func=cmd_config)


def toml_value(value) -> str:
    """One value as TOML (JSON's string and list syntax is valid TOML for these types)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def file_header(chosen: Path | None, explicit: bool) -> list[str]:
    """Which file was read, and where the others would have been looked for."""
    if explicit:
        return [f"# config file: {chosen} (--config)"]
    searched = ", ".join(str(p) for p in config_candidates())
    if chosen is None:
        return ["# config file: none found, built-in defaults apply", f"# searched: {searched}"]
    how = "$VOXSTREAM_CONFIG" if os.environ.get("VOXSTREAM_CONFIG") else "first found"
    return [f"# config file: {chosen} ({how})", f"# searched: {searched}"]


def render(cfg: Config, sources: dict[str, str]) -> list[str]:
    """The configuration as TOML tables, each key with a trailing ``# origin`` comment."""
    lines: list[str] = []
    for section, cls in SECTIONS.items():
        lines += ["", f"[{section}]"]
        for key in (f.name for f in dataclasses.fields(cls)):
            value = getattr(getattr(cfg, section), key)
            name = f"{section}.{key}"
            shown = '"***"' if name in SECRET_KEYS and value else toml_value(value)
            lines.append(f"{key} = {shown}  # {sources[name]}")
    return lines


def cmd_config(args: argparse.Namespace) -> int:
    chosen = Path(args.config) if args.config else default_config_path()
    sources: dict[str, str] = {}
    cfg = load_config(chosen, overrides_from_args(args), sources=sources)
    lines = file_header(chosen, bool(args.config))
    try:
        model = resolve_model(cfg.model.path)
        lines.append(f"# model: {cfg.model.path} -> {model}")
        card, _ = load_card(model, verify=False)
        gate, origins = gate_for(card, cfg)
        cfg = dataclasses.replace(cfg, gate=gate)
        sources.update({key: f"model card {card_path_for(model)}" for key in origins})
    except ModelError as exc:
        lines.append(f"# model: {exc}")
    print("\n".join(lines + render(cfg, sources)))
    return 0

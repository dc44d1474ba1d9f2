"""Flags shared by the commands that load a configuration and a model (run, classify, bench, fleet).

The one place where command-line flags become config overrides and where the
configured model is loaded, so every command reads them the same way.
"""

from __future__ import annotations

import argparse
import logging

from voxstream.config import Config, default_config_path, load_config

# flag -> (section, key, converter); None values are not overrides
_FLAG_KEYS = {
    "device": ("audio", "device", str),
    "model": ("model", "path", str),
    "node": ("node", "name", str),
    "window": ("window", "window_s", float),
    "hop": ("window", "hop_s", float),
    "ws_host": ("websocket", "host", str),
    "ws_port": ("websocket", "port", int),
    "mqtt_host": ("mqtt", "host", str),
    "mqtt_port": ("mqtt", "port", int),
}


def add_config_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        metavar="PATH",
        help="config file (default: $VOXSTREAM_CONFIG, ./config.toml, "
        "$XDG_CONFIG_HOME/voxstream/config.toml, /etc/voxstream/config.toml)",
    )
    p.add_argument(
        "--model", metavar="NAME|PATH", help="a shipped model (voxstream, session_mlp, seed) or a .tflite with its card"
    )


def overrides_from_args(args: argparse.Namespace) -> dict:
    """Command-line flags as config overrides (flags not given are left out)."""
    out: dict[str, dict] = {}
    for flag, (section, key, conv) in _FLAG_KEYS.items():
        value = getattr(args, flag, None)
        if value is not None:
            out.setdefault(section, {})[key] = conv(value)
    if getattr(args, "no_ws", False):
        out.setdefault("websocket", {})["enabled"] = False
    if getattr(args, "no_mqtt", False):
        out.setdefault("mqtt", {})["enabled"] = False
    return out


def config_from_args(args: argparse.Namespace) -> Config:
    cfg = load_config(args.config or default_config_path(), overrides_from_args(args))
    if not getattr(args, "debug", False):
        logging.getLogger().setLevel(cfg.log.level.upper())
    return cfg

"""Configuration: frozen dataclasses, one per ``config.toml`` table.

Precedence, lowest first: the dataclass defaults (mirrored by the top-level
``config.toml``), a TOML file, the environment (``VOXSTREAM_<SECTION>_<KEY>``,
for systemd and containers), then command-line flags.  The file is the
first of ``--config``, ``$VOXSTREAM_CONFIG``, ``./config.toml``,
``$XDG_CONFIG_HOME/voxstream/config.toml`` (``~/.config/...``) and
``/etc/voxstream/config.toml`` (:func:`default_config_path`); with none, the
defaults apply.  ``load_config(..., sources=d)`` records where each value came
from (``voxstream config`` prints it).
Unknown keys, wrong types and out-of-range values are rejected with the key's
name and what was expected (:class:`ConfigError`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voxstream.errors import ConfigError

ENV_PREFIX = "VOXSTREAM_"
RESERVED_ENV: dict[str, str] = {
    "VOXSTREAM_CONFIG": "the config file to read (:func:`default_config_path`)",
    "VOXSTREAM_CACHE": "the training feature cache (``voxstream.train.rows``)",
}
"""``VOXSTREAM_*`` names that are not ``VOXSTREAM_<SECTION>_<KEY>`` settings, each with what reads it: the
config loader passes over them."""


@dataclass(frozen=True)
class AudioConfig:
    device: str = ""
    """Input device: an index, a name substring, or "" for the system default."""
    device_rate: int = 0
    """Rate to open the device at, in Hz; 0 picks the device's default rate."""
    channels: int = 1
    """Channels to capture; more than one are averaged to mono."""
    block_s: float = 0.05
    """Length of one captured block in seconds."""
    queue_blocks: int = 64
    """Blocks the capture queue holds before the oldest is dropped (and counted)."""
    reopen_min_s: float = 0.5
    """First delay before reopening a device that failed, in seconds."""
    reopen_max_s: float = 10.0
    """Longest delay between reopen attempts, in seconds."""


@dataclass(frozen=True)
class ModelConfig:
    path: str = "voxstream"
    """A shipped model's name (voxstream, session_mlp, seed) or a path to a .tflite file, its card
    the .json beside it; relative paths are from the working directory."""
    num_threads: int = 1
    """Interpreter threads (1 is fastest for this small model)."""
    baseline: str = ""
    """The speaker baseline written by ``voxstream calibrate`` that ``run`` starts each session from (if the
    file exists and was made with this model); "" means ``$XDG_STATE_HOME/voxstream/<node slug>.baseline.json``
    (``~/.local/state/...``), "off" never loads one."""


@dataclass(frozen=True)
class WindowConfig:
    window_s: float = 0.0
    """Analysis window in seconds; 0 takes the model card's value."""
    hop_s: float = 0.0
    """Time between two events in seconds; 0 takes the model card's value."""


@dataclass(frozen=True)
class GateConfig:
    """The speech gate (:mod:`voxstream.engine.gate`): relative to each window's own noise floor."""

    min_dbfs: float = -95.0
    """Absolute minimum speech-band level of an active 25 ms sub-frame, dBFS (keeps dither out)."""
    active_fraction: float = 0.2
    """Fraction of 25 ms sub-frames that must be active (rise above the floor) for speech."""
    rise_db: float = 9.0
    """How far above the window's noise floor an active sub-frame's speech-band level must be, dB."""
    floor_percentile: float = 10.0
    """Percentile of the window's sub-frame levels taken as its noise floor, 0-100."""

    def __post_init__(self) -> None:
        if not (isinstance(self.rise_db, (int, float)) and 0 < self.rise_db <= 60):
            raise ConfigError(f"config: gate.rise_db must be in (0, 60] dB, got {self.rise_db!r}")
        if not (isinstance(self.floor_percentile, (int, float)) and 0 <= self.floor_percentile <= 100):
            raise ConfigError(f"config: gate.floor_percentile must be between 0 and 100, got {self.floor_percentile!r}")


@dataclass(frozen=True)
class SmootherConfig:
    alpha: float = 0.5
    """Weight of the newest scores in the exponential moving average (0-1]."""
    margin: float = 0.2
    """Lead over the current label that a challenger needs, in probability."""
    dwell_s: float = 0.5
    """How long a challenger must keep its lead before the label changes, in seconds."""
    threshold: float = 0.4
    """Below this smoothed confidence the label is "uncertain"."""
    silence_s: float = 1.5
    """After this long without speech the label becomes "silence", in seconds; a shorter pause keeps the
    label."""
    uncertain_s: float = 3.0
    """How long every label must stay below ``threshold`` (in speech) before the label becomes "uncertain", in
    seconds."""
    fast_margin: float = 0.4
    """Lead over the current label with which a challenger takes over at once, without ``dwell_s`` (1: never).
    The defaults of this section were chosen on the inner folds of ``lao`` (``scripts/live_tune.py``,
    docs/model.md#the-label-a-user-sees)."""


@dataclass(frozen=True)
class NodeConfig:
    name: str = "voxstream"
    """Name of this device in events, MQTT topics and Home Assistant."""


@dataclass(frozen=True)
class WebsocketConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    """Listen address; 0.0.0.0 exposes the page to the network (an explicit choice)."""
    port: int = 8765
    token: str = ""
    """Shared secret clients pass as ?token=...; empty disables the check."""
    allowed_origins: list[str] = field(default_factory=list)
    """Origins allowed to open the WebSocket; empty allows any (and none)."""
    client_queue: int = 32
    """Messages buffered per client before its oldest are dropped."""
    max_message_bytes: int = 4096
    """Largest message accepted from a client."""


@dataclass(frozen=True)
class MqttConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str = ""
    """Empty derives "voxstream-<node slug>-<run id>" (a random run id: each process its own client)."""
    username: str = ""
    password: str = field(default="", repr=False)
    """Never logged (kept out of repr)."""
    tls: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    tls_insecure: bool = False
    """Accept a certificate whose host name does not match (self-signed setups)."""
    keepalive_s: int = 30
    prefix: str = "voxstream"
    """Topics are <prefix>/<node>/emotion and <prefix>/<node>/status."""
    min_interval_s: float = 2.0
    """Unchanged labels are republished at most this often, in seconds."""
    discovery: bool = True
    """Publish Home Assistant MQTT discovery config."""
    discovery_prefix: str = "homeassistant"
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 60.0


@dataclass(frozen=True)
class LogConfig:
    level: str = "INFO"


@dataclass(frozen=True)
class Config:
    audio: AudioConfig = field(default_factory=AudioConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    window: WindowConfig = field(default_factory=WindowConfig)
    gate: GateConfig = field(default_factory=GateConfig)
    smoother: SmootherConfig = field(default_factory=SmootherConfig)
    node: NodeConfig = field(default_factory=NodeConfig)
    websocket: WebsocketConfig = field(default_factory=WebsocketConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    log: LogConfig = field(default_factory=LogConfig)
    given: frozenset[str] = field(default=frozenset(), compare=False, repr=False)
    """``"section.key"`` of every value set by the file, the environment, a flag or :meth:`replace` (not a
    default): a model card's ``gate`` replaces only the gate values not given
    (:func:`voxstream.inference.card.gate_for`)."""

    def replace(self, section: str, **values: Any) -> Config:
        return dataclasses.replace(
            self,
            **{section: dataclasses.replace(getattr(self, section), **values)},
            given=self.given | {f"{section}.{key}" for key in values},
        )

    def is_given(self, key: str) -> bool:
        """Was ``"section.key"`` set (file, environment, flag, :meth:`replace`), or does it differ from its default?"""
        section, name = key.split(".")
        return key in self.given or getattr(getattr(self, section), name) != getattr(SECTIONS[section](), name)


SECTIONS: dict[str, type] = {k: v for k, v in typing.get_type_hints(Config).items() if k != "given"}


def _expected(tp: Any) -> str:
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(tp, "a list of strings")


def _coerce(where: str, tp: Any, value: Any, from_text: bool) -> Any:
    """Check (or, for environment text, parse) one value against its field type."""
    if from_text and isinstance(value, str):
        value = _parse_text(where, tp, value)
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and _finite(value)
        value = float(value) if ok else value
    elif tp is str:
        ok = isinstance(value, str)
    else:
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    if not ok:
        raise ConfigError(f"{where}: expected {_expected(tp)}, got {value!r}")
    return value


def _show(name: Any) -> str:
    """A key as written, or its repr when it holds newlines or other unprintable characters (one-line errors)."""
    return name if isinstance(name, str) and name.isprintable() else repr(name)


def _finite(value: int | float) -> bool:
    """math.isfinite that says False (instead of raising OverflowError) for ints too big for a float."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _parse_text(where: str, tp: Any, text: str) -> Any:
    try:
        if tp is bool:
            low = text.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if tp is int:
            return int(text)
        if tp is float:
            return float(text)
        if tp is str:
            return text
        return [s.strip() for s in text.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"{where}: expected {_expected(tp)}, got {text!r}") from None


def _field_types(section_cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(section_cls)
    out = {}
    for name, tp in hints.items():
        if typing.get_origin(tp) in (list, types.GenericAlias) or tp == list[str]:
            tp = list
        out[name] = tp
    return out


def _apply(
    cfg: Config,
    updates: Mapping[str, Mapping[str, Any]],
    origin: str,
    from_text: bool = False,
    sources: dict[str, str] | None = None,
) -> Config:
    """Check and apply ``{section: {key: value}}``; ``sources`` (if given) gets ``"section.key" -> origin``."""
    for section, values in updates.items():
        if section not in SECTIONS:
            raise ConfigError(f"{origin}: unknown section [{_show(section)}]; expected one of {sorted(SECTIONS)}")
        if not isinstance(values, Mapping):
            raise ConfigError(f"{origin}: [{section}] must be a table")
        types_ = _field_types(SECTIONS[section])
        clean = {}
        for key, value in values.items():
            if key not in types_:
                raise ConfigError(f"{origin}: unknown key {section}.{_show(key)}; expected one of {sorted(types_)}")
            clean[key] = _coerce(f"{origin}: {section}.{key}", types_[key], value, from_text)
            if sources is not None:
                sources[f"{section}.{key}"] = f"{ENV_PREFIX}{section}_{key}".upper() if from_text else origin
        cfg = cfg.replace(section, **clean)
    return cfg


def _validate(cfg: Config) -> None:
    def need(cond: bool, key: str, what: str) -> None:
        if not cond:
            raise ConfigError(f"config: {key} must be {what}, got {_get(cfg, key)!r}")

    need(cfg.audio.block_s > 0 and cfg.audio.block_s <= 1, "audio.block_s", "in (0, 1] seconds")
    need(cfg.audio.channels >= 1, "audio.channels", ">= 1")
    need(cfg.audio.device_rate >= 0, "audio.device_rate", ">= 0 (0 = device default)")
    need(cfg.audio.queue_blocks >= 2, "audio.queue_blocks", ">= 2")
    need(0 < cfg.audio.reopen_min_s <= cfg.audio.reopen_max_s, "audio.reopen_min_s", "> 0 and <= reopen_max_s")
    need(cfg.model.num_threads >= 1, "model.num_threads", ">= 1")
    need(cfg.window.window_s >= 0, "window.window_s", ">= 0 (0 = model card)")
    need(cfg.window.hop_s >= 0, "window.hop_s", ">= 0 (0 = model card)")
    if cfg.window.window_s and cfg.window.hop_s:
        need(cfg.window.hop_s <= cfg.window.window_s, "window.hop_s", "<= window.window_s")
    need(-120 <= cfg.gate.min_dbfs <= 0, "gate.min_dbfs", "between -120 and 0 dBFS")
    need(0 <= cfg.gate.active_fraction <= 1, "gate.active_fraction", "between 0 and 1")
    need(0 < cfg.smoother.alpha <= 1, "smoother.alpha", "in (0, 1]")
    need(0 <= cfg.smoother.margin < 1, "smoother.margin", "in [0, 1)")
    need(cfg.smoother.dwell_s >= 0, "smoother.dwell_s", ">= 0")
    need(0 <= cfg.smoother.threshold <= 1, "smoother.threshold", "in [0, 1]")
    need(cfg.smoother.silence_s >= 0, "smoother.silence_s", ">= 0")
    need(cfg.smoother.uncertain_s >= 0, "smoother.uncertain_s", ">= 0")
    need(cfg.smoother.margin <= cfg.smoother.fast_margin <= 1, "smoother.fast_margin", "in [smoother.margin, 1]")
    need(
        bool(cfg.node.name.strip())
        and "/" not in cfg.node.name
        and "+" not in cfg.node.name
        and "#" not in cfg.node.name,
        "node.name",
        "a non-empty name without / + #",
    )
    need(0 <= cfg.websocket.port <= 65535, "websocket.port", "0-65535")
    need(cfg.websocket.client_queue >= 1, "websocket.client_queue", ">= 1")
    need(cfg.websocket.max_message_bytes >= 64, "websocket.max_message_bytes", ">= 64")
    need(0 < cfg.mqtt.port <= 65535, "mqtt.port", "1-65535")
    need(cfg.mqtt.keepalive_s >= 5, "mqtt.keepalive_s", ">= 5")
    need(cfg.mqtt.min_interval_s >= 0, "mqtt.min_interval_s", ">= 0")
    need(0 < cfg.mqtt.reconnect_min_s <= cfg.mqtt.reconnect_max_s, "mqtt.reconnect_min_s", "> 0 and <= reconnect_max_s")
    need(cfg.log.level.upper() in ("DEBUG", "INFO", "WARNING", "ERROR"), "log.level", "DEBUG, INFO, WARNING or ERROR")


def _get(cfg: Config, key: str) -> Any:
    section, name = key.split(".")
    return getattr(getattr(cfg, section), name)


def env_overrides(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """``VOXSTREAM_MQTT_HOST=x`` -> ``{"mqtt": {"host": "x"}}``."""
    out: dict[str, dict[str, str]] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in RESERVED_ENV:
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        section = next((s for s in SECTIONS if rest.startswith(s + "_")), None)
        if section is None:
            raise ConfigError(
                f"environment: unknown variable {name}; expected VOXSTREAM_<SECTION>_<KEY> "
                f"with SECTION one of {sorted(s.upper() for s in SECTIONS)}, "
                f"or one of {sorted(RESERVED_ENV)}"
            )
        out.setdefault(section, {})[rest[len(section) + 1 :]] = value
    return out


def read_toml(path: str | Path) -> dict:
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: config file not readable ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


def load_config(
    path: str | Path | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    environ: Mapping[str, str] | None = None,
    sources: dict[str, str] | None = None,
) -> Config:
    """Defaults <- TOML file <- environment <- ``overrides`` (CLI flags): a flag always wins.

    ``sources``, if given, is filled with ``"section.key" -> origin`` for every key: ``default``,
    the file's path, ``command line``, or the environment variable's name.
    """
    cfg = Config()
    if sources is not None:
        sources.update({f"{s}.{k}": "default" for s, cls in SECTIONS.items() for k in _field_types(cls)})
    if path is not None:
        cfg = _apply(cfg, read_toml(path), str(path), sources=sources)
    cfg = _apply(
        cfg, env_overrides(os.environ if environ is None else environ), "environment", from_text=True, sources=sources
    )
    if overrides:
        cfg = _apply(cfg, overrides, "command line", sources=sources)
    _validate(cfg)
    return cfg


def config_candidates(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> list[Path]:
    """Where a config file is looked for when there is no ``--config``, first match wins."""
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    out = [Path(env["VOXSTREAM_CONFIG"])] if env.get("VOXSTREAM_CONFIG") else []
    return out + [
        (cwd or Path.cwd()) / "config.toml",
        Path(xdg) / "voxstream" / "config.toml",
        Path("/etc/voxstream/config.toml"),
    ]


def default_config_path(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> Path | None:
    """``$VOXSTREAM_CONFIG`` (which must exist), else the first existing of ``./config.toml``,
    ``$XDG_CONFIG_HOME/voxstream/config.toml`` (``~/.config/...``), ``/etc/voxstream/config.toml``; else None."""
    env = os.environ if environ is None else environ
    if env.get("VOXSTREAM_CONFIG"):
        return Path(env["VOXSTREAM_CONFIG"])
    return next((p for p in config_candidates(env, cwd) if p.is_file()), None)


def node_slug(node: str) -> str:
    """The node name as an MQTT topic level and Home Assistant ID, by Home Assistant's own rule.

    That rule is ``homeassistant.util.slugify``: python-slugify's ``slugify(name, separator="_")``, which
    transliterates to ASCII (text-unidecode) and keeps ``[a-z0-9]`` runs joined by ``_``: ``Living Room``
    -> ``living_room``, ``Küche 2`` -> ``kuche_2``, ``Straße`` -> ``strasse``, ``客厅`` -> ``ke_ting``.
    Names that differ only in case, spaces, punctuation or emoji are the same node (``Kitchen!`` is
    ``kitchen``).  A name with nothing left (``""``, ``🎉``) is ``voxstream``.
    """
    from slugify import slugify  # here: the transliteration table loads only when a slug is needed

    return slugify(node, separator="_") or "voxstream"

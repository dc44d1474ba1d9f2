"""Every ``VOXSTREAM_*`` name the docs mention is accepted by the config loader, with a value valid for it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from voxstream.config import ENV_PREFIX, RESERVED_ENV, SECTIONS, default_config_path, load_config

ROOT = Path(__file__).resolve().parents[1]
DOCS = [
    ROOT / "README.md",
    ROOT / "config.toml",
    ROOT / "deploy" / "voxstream.service",
    *sorted((ROOT / "docs").glob("*.md")),
]
NAME = re.compile(r"VOXSTREAM_[A-Z0-9_]*")


def mentioned() -> dict[str, str]:
    """Name -> the first file mentioning it; ``VOXSTREAM_`` followed by ``<SECTION>`` is the pattern, not a name."""
    out: dict[str, str] = {}
    for path in DOCS:
        for name in NAME.findall(path.read_text(encoding="utf-8")):
            if name != ENV_PREFIX:
                out.setdefault(name, str(path.relative_to(ROOT)))
    return out


def _section_key(name: str) -> tuple[str, str] | None:
    rest = name[len(ENV_PREFIX) :].lower()
    for section in SECTIONS:
        if rest.startswith(section + "_"):
            return section, rest[len(section) + 1 :]
    return None


def _as_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(value)
    return str(value)


def test_the_docs_mention_names():
    """The scan finds the names it should (so an empty scan cannot pass the test below)."""
    names = mentioned()
    assert {"VOXSTREAM_CONFIG", "VOXSTREAM_CACHE", "VOXSTREAM_MQTT_PASSWORD", "VOXSTREAM_MQTT_HOST"} <= set(names)


@pytest.mark.parametrize("name, where", sorted(mentioned().items()))
def test_mentioned_name_is_accepted(tmp_path, name, where):
    """A reserved name with a real value, a ``<SECTION>_<KEY>`` with its default as text, or a ``<SECTION>_*``
    pattern naming a real section: the loader takes it."""
    if name.endswith("_"):  # a family such as VOXSTREAM_MQTT_*
        assert name[len(ENV_PREFIX) : -1].lower() in SECTIONS, f"{where} mentions {name}*, not a config section"
        return
    if name in RESERVED_ENV:
        value = str(_write_config(tmp_path)) if name == "VOXSTREAM_CONFIG" else str(tmp_path / "dir")
        environ = {name: value}
        load_config(default_config_path(environ), environ=environ)
        return
    section_key = _section_key(name)
    default = getattr(SECTIONS[section_key[0]](), section_key[1], "1") if section_key else "1"
    cfg = load_config(None, None, {name: _as_text(default)})  # an unknown name raises ConfigError naming it
    assert section_key is not None
    assert getattr(getattr(cfg, section_key[0]), section_key[1]) == default


def _write_config(tmp_path: Path) -> Path:
    path = tmp_path / "named.toml"
    path.write_text('[node]\nname = "from file"\n')
    return path


def test_reserved_names_are_the_ones_read(tmp_path, monkeypatch):
    """Each reserved name does what the docs say: VOXSTREAM_CONFIG names the file read, VOXSTREAM_CACHE the
    training feature cache; a new reserved name needs a check here."""
    assert set(RESERVED_ENV) == {"VOXSTREAM_CONFIG", "VOXSTREAM_CACHE"}
    named = _write_config(tmp_path)
    environ = {"VOXSTREAM_CONFIG": str(named), "VOXSTREAM_CACHE": str(tmp_path / "cache")}
    assert default_config_path(environ, tmp_path) == named
    assert load_config(named, environ=environ).node.name == "from file"
    rows = pytest.importorskip("voxstream.train.rows")  # numpy and the engine only, but part of train
    monkeypatch.setenv("VOXSTREAM_CACHE", str(tmp_path / "cache"))
    assert rows.default_cache_dir() == tmp_path / "cache"


def test_an_unknown_name_is_still_refused():
    """The reserved list is not a hole: a name that is neither reserved nor a setting is an error naming it."""
    from voxstream.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown variable VOXSTREAM_CACHES"):
        load_config(None, None, {"VOXSTREAM_CACHES": "x"})

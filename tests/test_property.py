"""Property-based tests (hypothesis): the config and audio loaders fail only with their own one-line errors."""

from __future__ import annotations

import dataclasses
import math
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from voxstream.audio.files import READ_FRAMES, iter_blocks, load_audio
from voxstream.config import SECTIONS, load_config
from voxstream.errors import AudioError, ConfigError

SR = 16000
FIELDS = {s: [f.name for f in dataclasses.fields(cls)] for s, cls in SECTIONS.items()}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.lists(st.one_of(st.text(max_size=5), st.integers()), max_size=4),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
section_names = st.one_of(st.sampled_from(sorted(SECTIONS)), st.text(max_size=8))


@st.composite
def config_dicts(draw) -> dict:
    out = {}
    for section in draw(st.lists(section_names, max_size=4)):
        if draw(st.booleans()) and section in FIELDS:
            keys = draw(st.lists(st.one_of(st.sampled_from(FIELDS[section]), st.text(max_size=8)), max_size=4))
            out[section] = {k: draw(scalars) for k in keys}
        else:
            out[section] = draw(scalars)
    return out


@st.composite
def environments(draw) -> dict:
    env = {}
    for _ in range(draw(st.integers(0, 4))):
        if draw(st.booleans()):
            section = draw(st.sampled_from(sorted(FIELDS)))
            key = draw(st.one_of(st.sampled_from(FIELDS[section]), st.text("abcxyz_", max_size=6)))
            name = f"VOXSTREAM_{section}_{key}".upper()
        else:
            name = "VOXSTREAM_" + draw(st.text("ABCXYZ_", max_size=10))
        env[name] = draw(
            st.one_of(
                st.text(max_size=12),
                st.sampled_from(
                    ["1", "-1", "0", "1e400", "nan", "inf", "true", "no", "1.5", "99999999999999999999", "a,b", ""]
                ),
            )
        )
    return env


@settings(max_examples=300, deadline=None)
@given(overrides=config_dicts(), environ=environments())
@example(overrides={"smoother": {"alpha": 10**400}}, environ={})  # int too big for a float (found by this test)
@example(overrides={}, environ={"VOXSTREAM_SMOOTHER_ALPHA": "1" + "0" * 400})
def test_config_loader_raises_only_config_error(overrides, environ):
    """Random tables and VOXSTREAM_* variables give a valid Config or a ConfigError, never anything else."""
    try:
        cfg = load_config(None, overrides, environ)
    except ConfigError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert 0 <= cfg.websocket.port <= 65535 and cfg.audio.block_s > 0
    for section in FIELDS:
        for name, value in dataclasses.asdict(getattr(cfg, section)).items():
            assert not isinstance(value, float) or math.isfinite(value), (section, name)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200))
def test_toml_text_never_crashes_the_reader(text, tmp_path):
    """Arbitrary text as a config file is read or refused with ConfigError (after validation too)."""
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    try:
        load_config(path, None, {})
    except ConfigError:
        pass


def _write_bytes(data: bytes, suffix: str) -> Path:
    fd, name = tempfile.mkstemp(suffix=suffix)
    with open(fd, "wb") as fh:
        fh.write(data)
    return Path(name)


RIFF = (
    b"RIFF\x24\x08\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80\x3e\x00\x00\x00\x7d\x00\x00\x02\x00\x10\x00data"
)


@settings(max_examples=200, deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=600),
        st.binary(max_size=400).map(lambda b: RIFF + b),
        st.binary(max_size=400).map(lambda b: b"fLaC" + b),
        st.binary(max_size=200).map(lambda b: b"OggS" + b),
    ),
    suffix=st.sampled_from([".wav", ".flac", ".ogg", ".mp3", ".aiff", ".bin"]),
)
def test_random_bytes_give_audio_error_or_audio(data, suffix):
    """Random bytes (some with real headers) under an audio extension: AudioError or finite audio, nothing else."""
    path = _write_bytes(data, suffix)
    try:
        y = load_audio(path, SR)
    except AudioError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
    else:
        assert y.dtype == np.float32 and y.ndim == 1 and np.isfinite(y).all()
    finally:
        path.unlink()


FORMATS = [
    ("WAV", "PCM_U8"),
    ("WAV", "PCM_16"),
    ("WAV", "PCM_24"),
    ("WAV", "PCM_32"),
    ("WAV", "FLOAT"),
    ("WAV", "DOUBLE"),
    ("FLAC", "PCM_16"),
    ("FLAC", "PCM_24"),
    ("OGG", "VORBIS"),
    ("AIFF", "PCM_16"),
]


@settings(max_examples=80, deadline=None)
@given(
    fmt=st.sampled_from(FORMATS),
    rate=st.sampled_from([8000, 11025, 16000, 22050, 32000, 44100, 48000, 96000]),
    channels=st.integers(1, 8),
    frames=st.integers(1, 6000),
    seed=st.integers(0, 2**16),
    nonfinite=st.booleans(),
    block=st.sampled_from([160, 1024, 4000]),
)
def test_valid_audio_becomes_finite_mono_at_16k(fmt, rate, channels, frames, seed, nonfinite, block):
    """Any rate (8-96 kHz), 1-8 channels, any depth: finite float32 mono at 16 kHz of the expected length."""
    kind, subtype = fmt
    if kind == "FLAC" and rate > 65535:
        rate = 48000
    x = np.random.default_rng(seed).uniform(-1, 1, (frames, channels)).astype(np.float32)
    if nonfinite and subtype in ("FLOAT", "DOUBLE"):
        x[:: max(1, frames // 7)] = np.nan
    path = _write_bytes(b"", "." + {"WAV": "wav", "FLAC": "flac", "OGG": "ogg", "AIFF": "aiff"}[kind])
    expected = frames * SR / rate
    try:
        sf.write(str(path), x, rate, format=kind, subtype=subtype)
        try:
            y = load_audio(path, SR)
        except AudioError:
            assert expected < 1.5, "valid audio of at least one output sample was refused"
            return
        blocks = list(iter_blocks(path, SR, block))
    finally:
        path.unlink()
    assert y.dtype == np.float32 and y.ndim == 1 and np.isfinite(y).all()
    assert abs(len(y) - expected) <= 1 + (0 if kind != "OGG" else 2048), (len(y), expected)
    assert all(len(b) == block for b in blocks[:-1]) and 0 < len(blocks[-1]) <= block
    np.testing.assert_array_equal(np.concatenate(blocks), y)
    assert len(y) <= READ_FRAMES * 4 + 1

"""Robust file reading: clear errors for bad files, NaN handling, block reader == whole-file load."""

import numpy as np
import pytest
import soundfile as sf

from voxstream.audio.files import ReadStats, find_audio_files, iter_blocks, load_audio
from voxstream.errors import AudioError

SR = 16000


def write_tone(path, rate=SR, seconds=1.0, channels=1, subtype="PCM_16", fmt=None):
    t = np.arange(int(rate * seconds)) / rate
    x = 0.5 * np.sin(2 * np.pi * 440 * t)
    data = np.stack([x] * channels, axis=1) if channels > 1 else x
    sf.write(str(path), data, rate, subtype=subtype, format=fmt)
    return path


@pytest.mark.parametrize(
    "maker, expected",
    [
        (lambda p: p.write_bytes(b""), "empty file (0 bytes)"),
        (lambda p: p.write_bytes(b"this is not audio at all, just text\n" * 20), "not a readable audio file"),
        (lambda p: p.write_bytes(write_tone(p).read_bytes()[:30]), "not a readable audio file"),
        (lambda p: p.write_bytes(write_tone(p).read_bytes()[:20000]), "truncated WAV"),
        (lambda p: sf.write(str(p), np.zeros(0), SR), "no audio samples"),
        (lambda p: None, "file not found"),
    ],
)
def test_bad_files_give_one_clear_line_naming_the_file(tmp_path, maker, expected):
    """Empty, non-audio, cut header, truncated data, zero frames, missing: one AudioError line with the name."""
    path = tmp_path / "bad.wav"
    maker(path)
    with pytest.raises(AudioError) as err:
        load_audio(path, SR)
    msg = str(err.value)
    assert str(path) in msg and expected in msg and "\n" not in msg


def test_truncated_flac_is_reported_while_reading(tmp_path):
    """A FLAC cut in half fails with 'truncated or corrupt' naming the file, not a libsndfile traceback."""
    full = write_tone(tmp_path / "full.flac", seconds=5.0)
    cut = tmp_path / "cut.flac"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(AudioError, match="truncated or corrupt") as err:
        load_audio(cut, SR)
    assert str(cut) in str(err.value)


def test_nan_and_inf_are_zeroed_and_counted(tmp_path, caplog):
    """NaN/Inf samples in a float WAV become 0, are counted and warned about once."""
    x = np.full(SR, 0.25, np.float32)
    x[[10, 20, 30]] = [np.nan, np.inf, -np.inf]
    path = tmp_path / "nan.wav"
    sf.write(str(path), x, SR, subtype="FLOAT")
    stats = ReadStats()
    y = load_audio(path, SR, stats)
    assert stats.nonfinite == 3 and np.all(np.isfinite(y)) and y[10] == 0.0 and y[11] == 0.25
    assert "3 NaN/Inf samples" in caplog.text


def test_stereo_44k_is_mono_at_the_model_rate(tmp_path):
    """Stereo 44.1 kHz with opposite channels averages to silence, length scaled to 16 kHz."""
    t = np.arange(44100) / 44100
    x = 0.5 * np.sin(2 * np.pi * 300 * t)
    path = tmp_path / "st.wav"
    sf.write(str(path), np.stack([x, -x], axis=1), 44100, subtype="FLOAT")
    y = load_audio(path, SR)
    assert abs(len(y) - SR) <= 1 and np.max(np.abs(y)) < 1e-6 and y.dtype == np.float32


@pytest.mark.parametrize("block", [256, 1024, 1600])
def test_blocks_concatenate_to_the_whole_file(tmp_path, block):
    """iter_blocks in any block size gives exactly load_audio's samples; all blocks but the last are full."""
    path = write_tone(tmp_path / "t.wav", rate=22050, seconds=2.3)
    whole = load_audio(path, SR)
    blocks = list(iter_blocks(path, SR, block))
    assert all(len(b) == block for b in blocks[:-1]) and 0 < len(blocks[-1]) <= block
    np.testing.assert_array_equal(np.concatenate(blocks), whole)


def test_long_file_reads_in_bounded_blocks(tmp_path):
    """A 10-minute file streams as many small blocks (never one big array)."""
    path = tmp_path / "long.wav"
    sf.write(str(path), np.zeros(SR * 600, np.int16), SR, subtype="PCM_16")
    sizes = [len(b) for b in iter_blocks(path, SR, 4000)]
    assert sum(sizes) == SR * 600 and max(sizes) == 4000


def test_find_audio_files_recurses_into_folders(tmp_path):
    """Folders are searched recursively for audio; named files are kept even if not audio."""
    (tmp_path / "a" / "b").mkdir(parents=True)
    write_tone(tmp_path / "a" / "b" / "x.wav")
    write_tone(tmp_path / "a" / "y.flac")
    (tmp_path / "a" / "notes.txt").write_text("hi")
    found = find_audio_files([tmp_path / "a", tmp_path / "a" / "notes.txt"])
    assert [p.name for p in found] == ["x.wav", "y.flac", "notes.txt"]


def test_the_system_libsndfile_decodes_the_same_samples(tmp_path):
    """audio_io reads through the system's libsndfile when there is one (setup.sh installs libsndfile1);
    a FLAC file gives the same samples through it as through the soundfile wheel's own copy."""
    import soundfile as sf

    from voxstream.audio import files as audio_io  # noqa: F401 - importing it makes the choice
    from voxstream.audio.sndfile import handles, library_version, prefer_system_library, system_library

    path = system_library()
    if path is None:
        pytest.skip("no system libsndfile (apt-get install libsndfile1)")
    assert prefer_system_library() == "system"
    system = sf._snd
    assert handles()["system"] is system and library_version(system) != ""
    y = np.random.default_rng(3).uniform(-0.5, 0.5, 48000).astype(np.float32)
    f = tmp_path / "x.flac"
    sf.write(f, y, 16000, subtype="PCM_16")
    through_system = sf.read(f, dtype="float32")[0]
    bundled = handles()["bundled"]
    assert bundled is not system
    try:
        sf._snd = bundled
        through_bundled = sf.read(f, dtype="float32")[0]
    finally:
        sf._snd = system
    np.testing.assert_array_equal(through_system, through_bundled)
    np.testing.assert_allclose(through_system, y, atol=1 / 32768)

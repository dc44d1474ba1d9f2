"""Robust audio file reading: validate, read in blocks, mix to mono, resample to the model rate.

Every reader in voxstream goes through here (``run --file``, ``classify``,
training), so a file gives the same samples everywhere: :func:`load_audio` is
literally the concatenation of :func:`iter_blocks`.  Problems with a file are
one :class:`AudioError` line naming the file and what was expected.  NaN and
infinite samples are replaced by 0, counted in :class:`ReadStats` and logged
once per file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from voxstream.audio.sndfile import prefer_system_library
from voxstream.errors import AudioError

prefer_system_library()

_LOGGER = logging.getLogger(__name__)

READ_FRAMES = 65536
"""Frames read from the file per libsndfile call (bounded memory for long files)."""


@dataclass
class ReadStats:
    """What happened while reading one file."""

    frames_read: int = 0
    """Frames at the file's own rate."""
    nonfinite: int = 0
    """NaN or infinite samples replaced by 0."""


@dataclass(frozen=True)
class AudioInfo:
    path: Path
    sample_rate: int
    channels: int
    frames: int
    format: str

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


def audio_info(path: str | Path) -> AudioInfo:
    """Validate a file and describe it; raises :class:`AudioError` with one clear line."""
    with _open(path) as (_, info):
        return info


@contextlib.contextmanager
def _open(path: str | Path) -> Iterator[tuple[sf.SoundFile, AudioInfo]]:
    """The validated file, open (one open for the checks and the reading), and its description."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise AudioError(f"{p}: file not found; expected an audio file (wav, flac, ogg, ...)") from None
    except OSError as exc:
        raise AudioError(f"{p}: cannot be read ({exc.strerror}); expected a readable audio file") from None
    if not stat.S_ISREG(st.st_mode):
        raise AudioError(f"{p}: not a regular file; expected an audio file")
    if st.st_size == 0:
        raise AudioError(f"{p}: empty file (0 bytes); expected audio")
    try:
        fh = sf.SoundFile(str(p))
    except (sf.LibsndfileError, RuntimeError) as exc:
        reason = str(exc).split(": ", 1)[-1] if ": " in str(exc) else str(exc)
        raise AudioError(
            f"{p}: not a readable audio file ({reason.strip()}); "
            "expected a format libsndfile reads (wav, flac, ogg, mp3, ...)"
        ) from None
    with fh:
        if fh.frames <= 0 or fh.samplerate <= 0:
            raise AudioError(f"{p}: contains no audio samples; expected at least one frame")
        _check_wav_length(p, fh, st.st_size)
        yield fh, AudioInfo(p, int(fh.samplerate), int(fh.channels), int(fh.frames), f"{fh.format}/{fh.subtype}")


def _check_wav_length(path: Path, info: sf.SoundFile, size: int) -> None:
    """A WAV whose data chunk is shorter than its header says was cut off (libsndfile hides it)."""
    if info.format != "WAV":
        return
    with open(path, "rb") as fh:
        head = fh.read(min(size, 1 << 16))
    pos = head.find(b"data", 12)
    if pos < 0 or pos + 8 > len(head):
        return
    declared = struct.unpack("<I", head[pos + 4 : pos + 8])[0]
    if declared in (0, 0xFFFFFFFF):  # streaming writers leave the size open
        return
    actual = size - (pos + 8)
    if declared > actual:
        raise AudioError(
            f"{path}: truncated WAV (header declares {declared} data bytes, file holds {actual}); "
            "expected a complete file"
        )


def to_mono(block: np.ndarray) -> np.ndarray:
    """(frames, channels) or (frames,) -> (frames,) float32, channels averaged."""
    block = np.asarray(block, dtype=np.float32)
    if block.ndim == 2:
        block = block[:, 0] if block.shape[1] == 1 else block.mean(axis=1, dtype=np.float32)
    return block


def sanitize(block: np.ndarray) -> int:
    """Replace NaN/Inf samples by 0 in place; returns how many there were."""
    with np.errstate(invalid="ignore", over="ignore"):  # Inf - Inf is NaN: that is the point
        if np.isfinite(np.add.reduce(block, dtype=np.float64)):  # a NaN or Inf sample makes the sum one too
            return 0
    bad = ~np.isfinite(block)
    n = int(np.count_nonzero(bad))
    if n:
        block[bad] = 0.0
    return n


class Resampler:
    """Streaming mono resampler (soxr); identity when the rates are equal."""

    def __init__(self, in_rate: float, out_rate: int) -> None:
        self.in_rate, self.out_rate = float(in_rate), int(out_rate)
        self._stream = None
        if abs(self.in_rate - self.out_rate) > 1e-9:
            import soxr

            self._stream = soxr.ResampleStream(self.in_rate, self.out_rate, 1, dtype="float32", quality="HQ")

    def __call__(self, block: np.ndarray, last: bool = False) -> np.ndarray:
        if self._stream is None:
            return np.ascontiguousarray(block, dtype=np.float32)
        return self._stream.resample_chunk(np.ascontiguousarray(block, dtype=np.float32), last=last)


class Rechunker:
    """Cuts a stream of arrays into blocks of exactly ``size`` samples (the last may be shorter)."""

    def __init__(self, size: int) -> None:
        if size <= 0:
            raise ValueError("block size must be positive")
        self.size = size
        self._parts: list[np.ndarray] = []
        self._n = 0

    def push(self, data: np.ndarray) -> Iterator[np.ndarray]:
        if len(data):
            self._parts.append(data)
            self._n += len(data)
        while self._n >= self.size:
            buf = np.concatenate(self._parts) if len(self._parts) > 1 else self._parts[0]
            yield buf[: self.size].copy()
            rest = buf[self.size :]
            self._parts, self._n = ([rest] if len(rest) else []), len(rest)

    def flush(self) -> Iterator[np.ndarray]:
        if self._n:
            yield np.concatenate(self._parts) if len(self._parts) > 1 else self._parts[0]
        self._parts, self._n = [], 0


def iter_blocks(
    path: str | Path, sample_rate: int, block_samples: int, stats: ReadStats | None = None
) -> Iterator[np.ndarray]:
    """Mono float32 blocks of ``block_samples`` at ``sample_rate`` (the last may be shorter).

    Memory stays bounded whatever the file's length.  Raises :class:`AudioError`
    for an invalid file, or one that turns out to be corrupt while reading.
    """
    stats = stats if stats is not None else ReadStats()
    with _open(path) as (fh, info):
        yield from _blocks(fh, info, sample_rate, block_samples, stats)


def _blocks(
    fh: sf.SoundFile, info: AudioInfo, sample_rate: int, block_samples: int, stats: ReadStats
) -> Iterator[np.ndarray]:
    resample, chunks = Resampler(info.sample_rate, sample_rate), Rechunker(block_samples)
    try:
        while len(raw := fh.read(READ_FRAMES, dtype="float32", always_2d=info.channels > 1)):  # no copy
            mono = to_mono(raw)
            stats.frames_read += len(mono)
            stats.nonfinite += sanitize(mono)
            yield from chunks.push(resample(mono))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(
            f"{info.path}: truncated or corrupt after {stats.frames_read} of {info.frames} frames "
            f"({exc}); expected a complete audio file"
        ) from None
    yield from chunks.push(resample(np.zeros(0, np.float32), last=True))
    yield from chunks.flush()
    if stats.nonfinite:
        _LOGGER.warning("%s: %d NaN/Inf samples replaced by 0", info.path, stats.nonfinite)


def load_audio(path: str | Path, sample_rate: int, stats: ReadStats | None = None) -> np.ndarray:
    """The whole file as mono float32 at ``sample_rate`` (for classify and training)."""
    blocks = list(iter_blocks(path, sample_rate, READ_FRAMES, stats))
    if not blocks:
        raise AudioError(f"{path}: contains no audio samples; expected at least one frame")
    return np.concatenate(blocks).astype(np.float32, copy=False)


AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif", ".au", ".opus", ".w64", ".caf")
"""Suffixes (any case) of the files a folder is searched for: ``classify``, ``bench`` and training's scan."""


def is_audio_name(name: str) -> bool:
    """The one rule for a file found in a folder: an audio suffix (any case, ``.WAV`` too) and not hidden
    (``.x.wav``, macOS' ``._x.wav`` resource forks)."""
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in AUDIO_SUFFIXES


def audio_files_in(folder: str | Path) -> list[Path]:
    """Every audio file (:func:`is_audio_name`) under ``folder``, recursively, hidden folders left out, symbolic
    links to folders not followed; sorted."""
    files = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        files += [Path(root) / n for n in names if is_audio_name(n) and os.path.isfile(os.path.join(root, n))]
    return sorted(files)


def find_audio_files(paths: list[str | Path]) -> list[Path]:
    """Files named directly, plus the audio files found recursively in named folders (:func:`audio_files_in`)."""
    out: list[Path] = []
    for item in map(Path, paths):
        out.extend(audio_files_in(item) if item.is_dir() else [item])
    return out

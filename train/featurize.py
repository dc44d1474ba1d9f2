"""Features of a whole dataset: parallel, with an on-disk cache keyed by file content.

Every vector comes from :mod:`voxstream.stream.features` (the one feature
code), so training sees what streaming computes.  A clip gives either one
vector pooled over all its frames (``Windowing(window_s=None)``, the seed
recipe) or one vector per streaming window (``window_s``/``hop_s`` as in the
model card).  The cache file name is the sha256 of the file's bytes, the
feature parameters and the windowing, so renamed or moved files still hit
and an edited file misses.  Cache files are ``.npz`` read with
``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from voxstream.stream.audio_io import load_audio
from voxstream.stream.features import FeatureParams, MfccFrames, pool, window_features, windows

_LOGGER = logging.getLogger(__name__)
CACHE_VERSION = 1
_EXTRACTORS: dict[FeatureParams, MfccFrames] = {}


@dataclass(frozen=True)
class Windowing:
    """How a clip becomes vectors: whole clip (window_s None) or streaming windows."""

    window_s: float | None = None
    """Window length in seconds; None pools all frames of the clip into one vector."""
    hop_s: float = 0.25
    """Hop between windows in seconds (only with window_s)."""


@dataclass
class Features:
    """Per-clip feature arrays (n_windows, dim) in table order; failed clips are None."""

    arrays: list[np.ndarray | None]
    hits: int = 0
    misses: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> np.ndarray:
        return np.array([a is not None for a in self.arrays], dtype=bool)

    def clip_matrix(self) -> np.ndarray:
        """One row per good clip (its first window): (n_ok, dim) float32."""
        return np.stack([a[0] for a in self.arrays if a is not None]).astype(np.float32)


def default_cache_dir() -> Path:
    """``$VOXSTREAM_CACHE`` or ``~/.cache/voxstream``."""
    return Path(os.environ.get("VOXSTREAM_CACHE") or Path.home() / ".cache" / "voxstream")


def cache_key(content_sha256: str, params: FeatureParams, windowing: Windowing) -> str:
    blob = json.dumps({"v": CACHE_VERSION, "content": content_sha256, "features": params.to_dict(),
                       "windowing": asdict(windowing)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def clip_features(samples: np.ndarray, params: FeatureParams, windowing: Windowing,
                  extractor: MfccFrames | None = None) -> np.ndarray:
    """Feature vectors of one clip at ``params.sample_rate``: (n_windows, dim) float32."""
    extractor = extractor or MfccFrames(params)
    if windowing.window_s is None:
        return pool(extractor(samples), params.pooling)[None, :]
    win = int(round(windowing.window_s * params.sample_rate))
    hop = int(round(windowing.hop_s * params.sample_rate))
    return np.stack([window_features(samples[s:e], params, extractor) for s, e in windows(len(samples), win, hop)])


def _extractor(params: FeatureParams) -> MfccFrames:
    if params not in _EXTRACTORS:
        _EXTRACTORS[params] = MfccFrames(params)
    return _EXTRACTORS[params]


def _file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _save_npz(target: Path, x: np.ndarray) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as fh:
        np.savez(fh, x=x)
    os.replace(tmp, target)


def _one(job: tuple[str, FeatureParams, Windowing, str | None]) -> tuple[np.ndarray | None, bool, str | None]:
    """Features of one file: (array or None, cache hit, error message)."""
    path, params, windowing, cache_dir = job
    try:
        target = None
        if cache_dir is not None:
            key = cache_key(_file_sha256(path), params, windowing)
            target = Path(cache_dir) / "features" / key[:2] / f"{key}.npz"
            if target.is_file():
                with np.load(target, allow_pickle=False) as data:
                    return data["x"], True, None
        x = clip_features(load_audio(path, params.sample_rate), params, windowing, _extractor(params))
        if target is not None:
            _save_npz(target, x)
        return x, False, None
    except Exception as exc:  # one bad file must never stop a dataset
        return None, False, str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def featurize(paths: list[str], params: FeatureParams, windowing: Windowing = Windowing(),
              cache_dir: str | Path | None = "default", workers: int = 2, progress: bool = True) -> Features:
    """Features of every file (in order); failures are logged, counted and left as None.

    ``cache_dir="default"`` uses :func:`default_cache_dir`; None disables the cache.
    """
    if cache_dir == "default":
        cache_dir = default_cache_dir()
    jobs = [(str(p), params, windowing, None if cache_dir is None else str(cache_dir)) for p in paths]
    results = _run(jobs, workers, progress)
    out = Features(arrays=[r[0] for r in results])
    for (path, *_), (x, hit, err) in zip(jobs, results):
        out.hits += hit
        out.misses += (x is not None and not hit)
        if err is not None:
            _LOGGER.warning("%s: no features, skipped (%s)", path, err)
            out.errors.append((path, err))
    _LOGGER.info("features: %d clips, %d from cache, %d computed, %d failed",
                 len(jobs), out.hits, out.misses, len(out.errors))
    return out


def _run(jobs: list, workers: int, progress: bool) -> list:
    from tqdm import tqdm

    bar = dict(total=len(jobs), desc="features", unit="clip", disable=not progress)
    if workers <= 1 or len(jobs) < 8:
        return [r for r in tqdm(map(_one, jobs), **bar)]
    import multiprocessing

    # spawn: safe even when the parent already imported TensorFlow (fork is not)
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool_:
        return list(tqdm(pool_.map(_one, jobs, chunksize=8), **bar))

"""Features of a whole dataset, per variant: parallel, cached by file content.

Every clip becomes the rows the streaming engine would compute
(:func:`voxstream.offline.clips.window_rows`: one feature array per streaming
window plus the speech gate's verdict), or, for an architecture trained on
whole clips (the seed), one vector pooled over all the clip's frames.  The
cache entry of a clip is keyed by the sha256 of its bytes, the feature
parameters, the windowing, the variant and the gate, so renamed files still
hit and an edited file misses.  Cache files are ``.npz`` read with
``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from voxstream.audio.files import load_audio
from voxstream.config import GateConfig
from voxstream.engine.frames import MfccFrames
from voxstream.engine.gate import SpeechGate
from voxstream.engine.params import FeatureParams
from voxstream.engine.pooling import pool
from voxstream.engine.window import WindowSpec
from voxstream.inference.card import sha256_file
from voxstream.offline.clips import ClipRows, window_rows
from voxstream.train.variants import check, transform

_LOGGER = logging.getLogger(__name__)
CACHE_VERSION = 2


@dataclass(frozen=True)
class Windowing:
    """How a clip becomes rows: streaming windows, or one whole-clip vector (``window_s`` None)."""

    window_s: float | None = 2.0
    hop_s: float = 0.25

    def spec(self, params: FeatureParams) -> WindowSpec | None:
        if self.window_s is None:
            return None
        return WindowSpec.from_seconds(self.window_s, self.hop_s, params.sample_rate, params.hop_length)


@dataclass
class DatasetRows:
    """Rows of every clip of one variant: ``x[offs[i]:offs[i+1]]`` belong to clip i."""

    x: np.ndarray
    speech: np.ndarray
    offs: np.ndarray

    def clip(self, i: int) -> ClipRows:
        s = slice(int(self.offs[i]), int(self.offs[i + 1]))
        return ClipRows(self.x[s], self.speech[s], 0)

    def rows_of(self, clips: np.ndarray) -> np.ndarray:
        """Row indices of the given clips, in the given order."""
        return np.concatenate([np.arange(self.offs[c], self.offs[c + 1]) for c in clips]).astype(np.int64)


def default_cache_dir() -> Path:
    """``$VOXSTREAM_CACHE`` or ``~/.cache/voxstream``."""
    return Path(os.environ.get("VOXSTREAM_CACHE") or Path.home() / ".cache" / "voxstream")


def _key(content: str, params: FeatureParams, windowing: Windowing, variant: str, gate: GateConfig, seed: int) -> str:
    blob = json.dumps(
        {
            "v": CACHE_VERSION,
            "content": content,
            "features": params.to_dict(),
            "windowing": asdict(windowing),
            "variant": variant,
            "gate": asdict(gate),
            "seed": seed if variant != "orig" else None,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def clip_rows(
    samples: np.ndarray,
    params: FeatureParams,
    windowing: Windowing,
    gate: GateConfig,
    extractor: MfccFrames | None = None,
) -> ClipRows:
    """Rows of one clip (at the model rate)."""
    extractor = extractor or MfccFrames(params)
    spec = windowing.spec(params)
    if spec is None:
        x = pool(extractor(samples), params)[None]
        return ClipRows(x.astype(np.float32), np.ones(1, dtype=bool), len(samples))
    return window_rows(samples, params, spec, SpeechGate.from_config(gate, params.sample_rate), extractor)


_EXTRACTORS: dict[FeatureParams, MfccFrames] = {}


def _one(job) -> tuple[np.ndarray, np.ndarray]:
    path, index, params, windowing, variant, gate, seed, cache_dir = job
    target = None
    if cache_dir is not None:
        key = _key(sha256_file(path), params, windowing, variant, gate, seed)
        target = Path(cache_dir) / "rows" / key[:2] / f"{key}.npz"
        if target.is_file():
            with np.load(target, allow_pickle=False) as data:
                return data["x"], data["speech"]
    extractor = _EXTRACTORS.setdefault(params, MfccFrames(params))
    samples = transform(
        load_audio(path, params.sample_rate),
        variant,
        params.sample_rate,
        np.random.default_rng([seed, index, sum(map(ord, variant))]),
    )
    rows = clip_rows(samples, params, windowing, gate, extractor)
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, x=rows.x, speech=rows.speech)
        os.replace(tmp, target)
    return rows.x, rows.speech


def dataset_rows(
    paths: list[str],
    params: FeatureParams,
    windowing: Windowing,
    variant: str = "orig",
    gate: GateConfig | None = None,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    workers: int = 2,
) -> DatasetRows:
    """Rows of every file (in order) for one variant; the copy of file ``i`` is seeded by (seed, i, variant)."""
    check(variant)
    gate = gate or GateConfig()
    jobs = [
        (str(p), i, params, windowing, variant, gate, seed, None if cache_dir is None else str(cache_dir))
        for i, p in enumerate(paths)
    ]
    if workers <= 1 or len(jobs) < 16:
        results = [_one(j) for j in jobs]
    else:
        import multiprocessing

        # spawn: safe even when the parent already imported TensorFlow (fork is not)
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as ex:
            results = list(ex.map(_one, jobs, chunksize=16))
    offs = np.cumsum([0] + [len(x) for x, _ in results])
    rows = DatasetRows(np.concatenate([x for x, _ in results]), np.concatenate([s for _, s in results]), offs)
    _LOGGER.info("%s: %d rows of %d clips (%.0f%% speech)", variant, len(rows.x), len(paths), 100 * rows.speech.mean())
    return rows

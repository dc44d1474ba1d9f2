"""``voxstream classify --scheduler tcp://HOST:8786``: the chunks of files on a Dask distributed cluster.

Needs the optional extra ``voxstream[dask]`` (``dask[distributed]``) here and
on every worker, and the files readable by every worker at the same paths.
Each chunk is one task (:func:`voxstream.offline.archive.score_chunk`); a worker
thread loads the model once (:func:`~voxstream.offline.archive.scorer_for`)
and keeps it for every later chunk.  Results come back in input order as
soon as each chunk (and those before it) is done, in the same format as a
local run.
"""

from __future__ import annotations

from collections.abc import Iterator

from voxstream.errors import ConfigError
from voxstream.offline.archive import ChunkResult, Job, score_chunk

CONNECT_TIMEOUT_S = 10.0
"""How long to wait for the scheduler before giving up."""


def _client(address: str):
    try:
        from distributed import Client
    except ImportError:
        raise ConfigError("--scheduler: Dask is not installed; expected pip install 'voxstream[dask]'") from None
    try:
        return Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ConfigError(
            f"--scheduler {address}: cannot reach the Dask scheduler ({exc}); "
            "expected a running `dask scheduler` and workers"
        ) from None


def run_dask(parts: list[list[str]], job: Job, address: str) -> Iterator[ChunkResult]:
    """Chunk results in input order from the cluster at ``address``."""
    with _client(address) as client:
        futures = client.map(score_chunk, parts, job=job, pure=False)
        try:
            for future in futures:
                yield future.result()
        finally:
            client.cancel(futures)

"""Chunks of files scored on a pool of worker processes (``voxstream classify --workers N``).

Each worker loads the model once (:func:`~voxstream.offline.archive.scorer_for`
in its initializer) and starts with one BLAS thread.  On Linux the workers
are forked when this process runs a single thread (they start in
milliseconds, with numpy and LiteRT already imported, instead of a fresh
interpreter's 0.2 s each); otherwise, or elsewhere, they are spawned.  :func:`run_local` yields
the chunk results in input order as soon as each (and those before it) is
done, so the output is the same whatever the number of workers.
"""

from __future__ import annotations

import concurrent.futures
import concurrent.futures.process
import contextlib
import os
import sys
import threading
from collections.abc import Iterator

from voxstream.held_signals import worker_handlers
from voxstream.offline.archive import STAGES, ChunkResult, Job, score_chunk, scorer_for
from voxstream.offline.heap import keep_freed_memory

SINGLE_THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
"""Set to 1 in spawned workers: the runtime's matrices are tiny, and BLAS threads fighting over the
cores each worker already fills make the mel matrix product ~20x slower on a busy machine."""


def _init_worker(job: Job) -> None:
    """A worker: Ctrl-C is the parent's to handle (it cancels the rest), SIGTERM ends it (a forked worker
    would inherit the parent's handler); keep freed memory for the next file (:mod:`.heap`); load the model."""
    worker_handlers()
    keep_freed_memory()
    scorer_for(job)


@contextlib.contextmanager
def _single_thread_env():
    """Children spawned inside this block start with one BLAS thread (unless the user chose otherwise)."""
    saved = {k: os.environ.get(k) for k in SINGLE_THREAD_ENV}
    for k in SINGLE_THREAD_ENV:
        os.environ.setdefault(k, "1")
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)


def run_local(parts: list[list[str]], job: Job, workers: int, task=score_chunk) -> Iterator[ChunkResult]:
    """Chunk results in input order, each as soon as it and those before it are done.

    ``workers <= 1`` scores in this process; otherwise in ``workers`` worker
    processes, each loading the model once.  A worker that dies (a native
    crash in a decoder) takes only its files down: its chunk is retried one
    file per task, and a file that kills a worker on its own is reported as
    failed.
    """
    if workers <= 1 or len(parts) <= 1:
        keep_freed_memory()  # this process scores every file
        for part in parts:
            yield task(part, job)
        return
    parts, done = list(parts), 0
    while done < len(parts):
        try:
            for result in _pool_map(parts[done:], job, workers, task):
                yield result
                done += 1
        except concurrent.futures.process.BrokenProcessPool:
            part = parts[done]  # pending when a worker died: maybe the culprit, maybe a bystander
            if len(part) > 1:
                parts[done : done + 1] = [[path] for path in part]
                continue
            yield _alone(part, job, task)
            done += 1


def _alone(part: list[str], job: Job, task) -> ChunkResult:
    """One file in a worker of its own: its result, or a failure if it kills that worker too."""
    try:
        (result,) = _pool_map([part], job, 1, task)  # runs the generator to its end: the pool shuts down here
        return result
    except concurrent.futures.process.BrokenProcessPool:
        error = f"{part[0]}: the worker process died while scoring it; expected a file the decoder can read"
        return ChunkResult([None], [error], dict.fromkeys(STAGES, 0.0))


def _threads() -> int:
    """Threads of this process, native ones included (a library's thread pool is not in ``threading``)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count() + 1  # unknown: assume more than one


def _context():
    """fork on Linux when this process runs one thread (forking a threaded process, e.g. one that imported
    TensorFlow, can deadlock the child in a lock another thread held); spawn otherwise."""
    import multiprocessing

    if sys.platform.startswith("linux") and _threads() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _pool_map(parts: list[list[str]], job: Job, workers: int, task) -> Iterator[ChunkResult]:
    for stream in (sys.stdout, sys.stderr):  # a forked worker must not inherit (and later flush) unwritten output
        stream.flush()
    with (
        _single_thread_env(),
        concurrent.futures.ProcessPoolExecutor(
            max_workers=min(workers, len(parts)), mp_context=_context(), initializer=_init_worker, initargs=(job,)
        ) as pool,
    ):
        try:
            yield from pool.map(task, parts, [job] * len(parts))
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise

"""Process memory: keep freed heap memory for reuse (glibc only), and the one peak-memory reader.

Each file's spectra are arrays of a megabyte or more.  glibc serves such
allocations with fresh ``mmap`` pages and returns them on ``free``, so every
file's arrays are new pages the kernel must fault in and zero.  Raising the
mmap and trim thresholds keeps that memory in the heap for the next file: the
worker's page faults are gone and its peak memory stays bounded (``bench/archive.py``
prints each worker's peak; ``tests/test_heap.py`` counts the faults).  Elsewhere
(musl, macOS) this is a no-op.

:func:`peak_rss_mb` reads a process's peak resident memory: each ``classify``
worker's own (``bench/archive.py``) and ``voxstream bench``'s child's.
"""

from __future__ import annotations

import ctypes
import resource
from typing import overload

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
"""``mallopt`` parameters (glibc's malloc.h)."""
MMAP_THRESHOLD = 32 << 20
"""Allocations below this come from the heap (glibc's largest allowed value on 64-bit)."""
TRIM_THRESHOLD = 64 << 20
"""Free memory at the top of the heap kept for reuse instead of returned to the system."""


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed memory for reuse; False where that is not possible."""
    try:  # the process's own symbols (libc is loaded): ctypes.util.find_library would run ldconfig
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    settings = ((M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD), (M_TOP_PAD, 16 << 20))
    return all(mallopt(option, value) == 1 for option, value in settings)


@overload
def peak_rss_mb(pid: None = None) -> float: ...


@overload
def peak_rss_mb(pid: int | str) -> float | None: ...


def peak_rss_mb(pid: int | str | None = None) -> float | None:
    """Peak resident set size in MB of this process (``pid`` None) or of the live process ``pid``.

    Linux: ``VmHWM`` of ``/proc/<pid>/status``, the peak of that program's own memory; ``ru_maxrss`` also
    counts the parent's RSS at the fork before ``exec`` (a worker spawned by a 1 GB process would report
    1 GB).  For this process without ``/proc`` (macOS) it falls back to ``ru_maxrss``; for another
    process it is None once that process has exited (or where there is no ``/proc``).
    """
    try:
        with open(f"/proc/{'self' if pid is None else pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    if pid is not None:
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

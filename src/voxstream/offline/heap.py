"""Keep freed heap memory for reuse in a process that scores files back to back (glibc only).

Each file's spectra are arrays of a megabyte or more.  glibc serves such
allocations with fresh ``mmap`` pages and returns them on ``free``, so every
file's arrays are new pages the kernel must fault in and zero.  Raising the
mmap and trim thresholds keeps that memory in the heap for the next file: the
worker's page faults are gone and its peak memory stays bounded (``bench/archive.py``
prints each worker's peak; ``tests/test_heap.py`` counts the faults).  Elsewhere
(musl, macOS) this is a no-op.
"""

from __future__ import annotations

import ctypes

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

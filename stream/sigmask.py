"""SIGINT and SIGTERM held while C extensions initialise.

A signal whose handler raises (Ctrl-C's ``KeyboardInterrupt``, voxstream's
SIGTERM handler) inside an extension module's initialisation does not stop
the program cleanly: the import fails as an ``ImportError`` or leaves the
module half built.  SIGINT during LiteRT's import made ``voxstream run`` exit
with "no TFLite runtime" (``tests/test_signals.py``).  Inside :func:`held`
both signals wait and are delivered as soon as the block ends, where the
program stops the usual way.
"""

from __future__ import annotations

import contextlib
import signal
from typing import Iterator

STOP = frozenset({signal.SIGINT, signal.SIGTERM})


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM for this thread inside the block (nothing where signal masks do not exist)."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not POSIX
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, STOP)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)

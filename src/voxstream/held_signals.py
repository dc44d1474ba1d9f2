"""SIGINT and SIGTERM held back while C extensions initialise.

A signal whose handler raises (Ctrl-C's ``KeyboardInterrupt``, voxstream's
SIGTERM handler) inside an extension module's initialisation does not stop
the program cleanly: the import fails as an ``ImportError`` or leaves the
module half built.  SIGINT during LiteRT's import made ``voxstream run`` exit
with "no TFLite runtime" in 2 of 60 tries.  Inside :func:`held` both signals
are only noted, and raised again, to the handlers of before, as soon as the
block ends, where the program stops the usual way.

Python runs signal handlers in the main thread only, whichever thread the
kernel picked, so swapping the handlers covers every thread; a signal mask
would not (a process-directed signal goes to any thread that leaves it
unblocked).  In another thread there is nothing to hold: no handler can
interrupt it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

STOP = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Inside the block SIGINT and SIGTERM are noted; after it they are raised again, in arrival order."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []
    previous = {sig: signal.getsignal(sig) for sig in STOP}
    swapped = [sig for sig, handler in previous.items() if handler is not None]  # None: not set from Python
    for sig in swapped:
        signal.signal(sig, lambda signum, frame: arrived.append(signum))
    try:
        yield
    finally:
        for sig in swapped:
            signal.signal(sig, previous[sig])
        for sig in arrived:
            signal.raise_signal(sig)

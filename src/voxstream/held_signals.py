"""Every install of SIGINT and SIGTERM handlers: the command's, the event loop's, a worker's, and holding
them back while C extensions initialise.

- :func:`install_stop_handlers` (``voxstream`` at start): SIGTERM stops quietly like Ctrl-C, and SIGINT
  raises ``KeyboardInterrupt`` even when inherited as ignored.
- :func:`loop_stop_handlers` (``run`` and ``fleet`` inside ``asyncio.run``): both signals call a function
  in the event loop; after the block the handlers of before are back (asyncio alone would leave
  SIGTERM at ``SIG_DFL``: killed, not a clean exit).
- :func:`worker_handlers` (``classify``'s worker processes): Ctrl-C is the parent's to handle,
  SIGTERM ends the worker.
- :func:`held`, below.

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
from collections.abc import Callable, Iterator

STOP = (signal.SIGINT, signal.SIGTERM)


def _terminate(signum, frame) -> None:
    """SIGTERM outside the event loop (start-up, shutdown): stop quietly, like Ctrl-C."""
    raise KeyboardInterrupt


def install_stop_handlers() -> None:
    """The command's handlers for its whole run: SIGTERM and SIGINT raise ``KeyboardInterrupt``.

    SIGINT too when started with it ignored (a background job of a script): the event loops of ``run``
    and ``fleet`` handle it whatever was inherited, so Ctrl-C / kill -INT stops every phase alike.
    """
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)


@contextlib.contextmanager
def loop_stop_handlers(loop, callback: Callable[[], object]) -> Iterator[None]:
    """Inside the block SIGINT and SIGTERM call ``callback`` in the running event ``loop``; after it the
    handlers of before are installed again."""
    previous = {sig: signal.getsignal(sig) for sig in STOP}
    for sig in previous:
        loop.add_signal_handler(sig, callback)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            loop.remove_signal_handler(sig)  # leaves SIG_DFL (SIGTERM would kill) or default_int_handler
            if handler is not None:  # None: not set from Python; nothing to restore
                signal.signal(sig, handler)


def worker_handlers() -> None:
    """A worker process: Ctrl-C is the parent's to handle (it cancels the rest); SIGTERM ends it (a forked
    worker would inherit the parent's handler)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


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
        for signum in arrived:
            signal.raise_signal(signum)

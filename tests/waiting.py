"""The one way a test waits for a condition it cannot await: poll it, and fail naming it after a timeout."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

V = TypeVar("V")


async def until(predicate: Callable[[], V], timeout: float = 15.0, what: str = "a condition", step: float = 0.02) -> V:
    """Call ``predicate`` (sync) every ``step`` seconds until it returns something truthy, and return that;
    raise TimeoutError naming ``what`` after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (value := predicate()):
        if loop.time() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(step)
    return value

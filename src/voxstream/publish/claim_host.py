"""This host's side of a node's claim (:mod:`~voxstream.publish.mqtt_claim`): the claim this run makes, and
whether the process behind a claim made on this host has ended (read from the process table)."""

from __future__ import annotations

import os
import secrets
import socket
import time
from pathlib import Path

from voxstream.publish.mqtt_claim import Claim

PROCESS_START_MS = int(time.time() * 1000)
"""About when this process started (this module's import): a claim with this pid made earlier was another's."""


def process_gone(claim: Claim) -> bool:
    """Has the process of a claim made on this host ended?  Its pid is not running, or is running a process
    that started after the claim was made (pids are reused, e.g. after a reboot; this process's own pid
    after a container restart)."""
    if claim.pid == os.getpid():
        return claim.since_ms < PROCESS_START_MS
    if claim.pid <= 0:
        return True
    try:
        os.kill(claim.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's process: running
        pass
    started = process_start(claim.pid)
    return started is not None and started > claim.since_ms / 1000 + START_SLACK_S


START_SLACK_S = 2.0
"""A process that started more than this after a claim cannot have made it (the boot time is in whole seconds)."""


def process_start(pid: int) -> float | None:
    """When a process of this host started, epoch seconds, from /proc (None where there is none)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(
            int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime ")
        )
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22 of stat: start time in clock ticks
    except (OSError, StopIteration, ValueError, IndexError):
        return None


def new_claim() -> Claim:
    """This run's claim: a random run id, this host and process, the wall-clock start."""
    return Claim(run=secrets.token_hex(4), host=socket.gethostname(), pid=os.getpid(), since_ms=int(time.time() * 1000))

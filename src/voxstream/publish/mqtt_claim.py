"""One process per node: the claim on the node's status topic, decided without I/O (pure, like ``mqtt_state``).

Every status message a running publisher sends (``online``, or ``offline`` while it has no state yet)
carries MQTT 5 user properties naming its run: a random run id, the host, the process id and the
start time (:class:`Claim`).  The status topic is retained, so it always says who holds the node:

* a message *with* a run is a live claim;
* a message *without* one releases it: the last will (``offline``, sent by the broker when a process
  dies, even by SIGKILL) and the ``offline`` of a clean shutdown carry none.

A publisher that connects subscribes to the status topic, and then to a second topic whose SUBACK
marks the end of the first one's retained message (mosquitto sends that message after the first
SUBACK, but before the second).  :class:`NodeClaim` then decides:

* the retained status is a live claim of another run: the newcomer is **refused** and publishes
  nothing; the running node sees no message at all;
* otherwise (nothing retained, a release, its own run, or a claim left on this host by a process that
  is no longer running) the publisher **claims** the node and carries on.

Two processes that both found the node free (started at the same moment) both claim it; each then
sees the other's claim, and the older one (earlier start, then the smaller run id) keeps the node:
the other stops, the keeper claims again so that its claim is the one retained.  A release the keeper
did not send (a crashed newcomer's last will) is also answered by claiming again.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

RUN = "voxstream-run"
"""User property names on status messages."""
HOST = "voxstream-host"
PID = "voxstream-pid"
SINCE = "voxstream-since"


@dataclass(frozen=True)
class Claim:
    """The run that holds a node: what its status messages carry."""

    run: str
    """Random id of the run (new at every start)."""
    host: str
    pid: int
    since_ms: int
    """Wall-clock start of the run, epoch milliseconds: the older claim keeps the node."""

    def properties(self) -> list[tuple[str, str]]:
        return [(RUN, self.run), (HOST, self.host), (PID, str(self.pid)), (SINCE, str(self.since_ms))]

    @classmethod
    def from_properties(cls, pairs: Iterable[tuple[str, str]] | None) -> Claim | None:
        """The claim a status message carries; None for a release (no run, or a message from another client)."""
        props = dict(pairs or ())
        if not props.get(RUN):
            return None
        try:
            return cls(
                run=props[RUN],
                host=props.get(HOST, ""),
                pid=int(props.get(PID, "0")),
                since_ms=int(props.get(SINCE, "0")),
            )
        except ValueError:
            return None

    def beats(self, other: Claim) -> bool:
        """The older run keeps the node (ties: the smaller run id)."""
        return (self.since_ms, self.run) < (other.since_ms, other.run)

    def describe(self) -> str:
        since = datetime.fromtimestamp(self.since_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"run {self.run}, pid {self.pid} on host {self.host or '?'}, since {since}"


class Verdict(enum.Enum):
    KEEP = "keep"
    """Nothing to do."""
    CLAIM = "claim"
    """(Re)publish this run's status with its claim."""
    LOST = "lost"
    """Another live run holds the node: stop, publishing nothing."""


class NodeClaim:
    """This run's view of who holds the node; fed every status message, it says what to do (pure).

    ``gone(claim)`` tells whether the process that made a claim on this host has ended (injected: it reads
    the process table).
    """

    def __init__(self, mine: Claim, gone: Callable[[Claim], bool]) -> None:
        self.mine = mine
        self._gone = gone
        self.claimed = False
        """This run's claim went out (on some connection)."""
        self.holder: Claim | None = None
        """The other run that holds the node, once this run lost it."""

    def stale(self, claim: Claim) -> bool:
        """A claim left on this host by a process that has ended (a power cut before the broker noticed, or a
        restarted container whose new process has the old one's pid)."""
        return claim.host == self.mine.host and self._gone(claim)

    def checked(self, retained: Claim | None) -> Verdict:
        """The status retained when this connection subscribed (None: nothing, or a release)."""
        if retained is not None and retained.run != self.mine.run and not self.stale(retained):
            return self._lose(retained)
        if retained is not None and retained.run == self.mine.run:
            return Verdict.KEEP  # still ours (the broker had not noticed the old connection end)
        self.claimed = True
        return Verdict.CLAIM

    def seen(self, claim: Claim | None) -> Verdict:
        """A status message after the check: an echo, a release, or another run's claim."""
        if claim is not None and claim.run == self.mine.run:
            return Verdict.KEEP
        if claim is not None and claim.beats(self.mine) and not self.stale(claim):
            return self._lose(claim)
        return Verdict.CLAIM  # a release we did not send, or a younger claim: ours must be the retained one

    def _lose(self, holder: Claim) -> Verdict:
        self.holder = holder
        return Verdict.LOST

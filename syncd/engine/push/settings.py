"""What one connector's push is given, built from the configuration (or by a test).

The cycle hands the settings to its steps whole (``send``, ``jobs``): each reads
what it needs, and nothing is forwarded argument by argument.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from syncd.engine.diff import DiffPolicy
from syncd.engine.guard import Threshold
from syncd.engine.push.read import MapperLike
from syncd.limits.policy import LimitPolicy
from syncd.polling import Backoff
from syncd.vendors.base import Adapter

DIRECTION = "push"  # in sync_runs, sync_status and the log's event names


@dataclass(frozen=True, slots=True)
class JobPolling(Backoff):
    """How patiently asynchronous jobs are awaited."""

    first_delay: float = 1.0
    max_delay: float = 30.0
    timeout: float = 1800.0  # waited within one cycle; then reported, polled again next cycle
    # A job still running this long after it was sent (across cycles and restarts) is
    # given up: what it carried is looked up and sent again (``Escrow``), naming the person.
    give_up_after: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Escrow:
    """How operations that failed for a passing reason are tried again by later cycles.

    A passing reason is a vendor fault, not the record's: an answer lost to a timeout or
    a 5xx, a job that never ended, a batch task that stopped before applying an item
    (``OutcomeStatus.RETRY`` and ``UNKNOWN``). The first retry goes with the next cycle
    (a blip is over by then; a lost answer is looked up at once); after the n-th failed
    send (n > 1) the operation waits ``first_wait`` doubled n-2 times, at most
    ``longest_wait``; after ``attempts`` sends it fails for good, for ``syncd retry``.
    With the defaults: six sends, waiting 5, 10, 20 and 40 minutes between the last
    ones, as Microsoft Entra's provisioning escrows a failing person instead of
    retrying them every cycle. A refusal of the record itself is never retried by itself.
    """

    attempts: int = 6
    first_wait: timedelta = timedelta(minutes=5)
    longest_wait: timedelta = timedelta(hours=4)

    def next_attempt(self, sends: int, now: datetime) -> datetime | None:
        """When an operation that failed passingly on its ``sends``-th send goes again
        (``now``: with the next cycle); None when that was its last allowed send."""
        if sends >= self.attempts:
            return None
        if sends <= 1:
            return now
        return now + min(self.first_wait * 2 ** (sends - 2), self.longest_wait)


@dataclass(slots=True)
class PushSettings:
    """Everything one connector's push needs, built from the configuration (or by a test)."""

    connector: str
    engine: Engine
    adapter: Adapter
    mapper: MapperLike
    key: str
    records: Callable[[], Iterable[Any]]  # opens the source afresh for each cycle
    policy: DiffPolicy = field(default_factory=DiffPolicy)
    threshold: Threshold = field(default_factory=lambda: Threshold.parse(None))
    match: str | None = None
    polling: JobPolling = field(default_factory=JobPolling)
    escrow: Escrow = field(default_factory=Escrow)
    stop: threading.Event = field(default_factory=threading.Event)
    only: frozenset[str] | None = None  # HR keys to push on demand; None: everyone
    source: str = "the source"  # its configured name, for messages
    limits: LimitPolicy | None = None  # the credential's rate limits, for a plan's estimate
    # A pull reads the vendor's results: a leaver's are kept before they can vanish (``leavers``).
    pulls_vendor: bool = False

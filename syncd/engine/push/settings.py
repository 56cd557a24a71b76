"""What one connector's push is given, built from the configuration (or by a test).

The cycle hands the settings to its steps whole (``send``, ``jobs``): each reads
what it needs, and nothing is forwarded argument by argument.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
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
    # given up: its operations fail, naming the person, until ``syncd retry``.
    give_up_after: timedelta | None = None


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
    stop: threading.Event = field(default_factory=threading.Event)
    only: frozenset[str] | None = None  # HR keys to push on demand; None: everyone
    source: str = "the source"  # its configured name, for messages
    limits: LimitPolicy | None = None  # the credential's rate limits, for a plan's estimate

"""Pull settings every vendor reads the same way: the call budget, start date and overlap.

Each adapter is given ``pull.budget_share``, ``pull.start_date`` and ``pull.overlap``
as ``PullOptions`` in its context (SPEC §3). What they mean does not depend on the
vendor, so they are read here once:

- a pull cycle may spend ``budget_share`` of the credential's rate limit, taken from
  the shortest window, so pushes and other connectors keep the rest; a vendor
  without a change feed is then scanned in slices over several cycles;
- ``start_date`` is a date, a datetime or ISO 8601 text, and an instant is UTC
  unless it names its offset;
- ``overlap`` is a duration (``1h``) or a number of seconds.

How each vendor uses them (a scan's cursor, a timeline's window) stays in its module.
Adapters are also given a ``ResultMemory``: what the connector last handed on.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from syncd.config.schema.durations import parse_duration
from syncd.config.schema.models import PullConfig
from syncd.model import LearningResult

DEFAULT_BUDGET_SHARE = 0.5
DEFAULT_OVERLAP = timedelta(hours=1)
MIN_BUDGET = 2
"""The least a cycle may make: a listing and one page read from it, so a scan moves on."""


def call_budget(windows: Sequence[tuple[int, float]], share: float) -> int:
    """Calls one pull cycle may make: ``share`` of the shortest window's allowance.

    ``windows`` are ``(calls, seconds)`` pairs as ``RateLimitConfig.windows`` gives them.
    With 60 a minute (the default margin keeps all of it) and the default share of 0.5, a
    cycle makes 30 calls; a larger backlog is read over several cycles.
    """
    if not windows:
        return MIN_BUDGET
    allowed, _seconds = min(windows, key=lambda window: (window[1], window[0]))
    return max(MIN_BUDGET, math.floor(allowed * share))


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 text (``Z`` or an offset; none means UTC) as an aware datetime, else None."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def start_option(value: Any) -> datetime | None:
    """Where a first pull starts (``pull.start_date``); None when it is not set.

    A date means its midnight UTC. Text that is no ISO 8601 date or time is an error
    naming the value, never a silent "from the beginning".
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    moment = parse_time(str(value))
    if moment is None:
        raise ValueError(f"start_date {value!r} is not an ISO 8601 date")
    return moment


def overlap_option(value: Any) -> timedelta:
    """How far before its cursor a pull reads again (``pull.overlap``), an hour when unset."""
    if value is None:
        return DEFAULT_OVERLAP
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    return parse_duration(value)


class ResultMemory(Protocol):
    """The results a connector last handed on (its sink accepted them, or they wait for a
    person to be linked), by ``result_id``. An adapter without a change feed compares
    what it reads with them, so that it reads further only where something changed."""

    def last_results(self, result_ids: Collection[str]) -> Mapping[str, LearningResult]: ...


class NoMemory:
    """Remembers nothing: every result read looks new (adapters built without a store)."""

    def last_results(self, result_ids: Collection[str]) -> Mapping[str, LearningResult]:
        return {}


@dataclass(frozen=True, slots=True)
class PullOptions:
    """A connector's ``pull`` settings as adapters read them (defaults without a ``pull``)."""

    start_date: datetime | None = None  # where a first pull starts (UTC)
    overlap: timedelta = DEFAULT_OVERLAP
    budget_share: float = DEFAULT_BUDGET_SHARE

    @classmethod
    def of(cls, pull: PullConfig | None) -> PullOptions:
        if pull is None:
            return cls()
        return cls(
            start_date=start_option(pull.start_date),
            overlap=overlap_option(pull.overlap),
            budget_share=pull.budget_share,
        )

"""A budgeted full scan: how a vendor without a change feed gives its learning results.

iLMS (every course's enrollments) and HowNow (every user's assigned contents) offer no
"changed since" read, so their pull reads everything, a slice per cycle. A cycle may
make ``budget`` calls (``call_budget``), and where it stopped travels in the cursor
the engine saves once the sink has accepted the page before it. What is scanned, and
how the place is found again when the listing changed, stays in each vendor's module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

import structlog

from syncd.vendors.base import PullPage

log = structlog.get_logger(__name__)


class CountsCalls(Protocol):
    """A vendor API wrapper that counts the calls it has made."""

    @property
    def api_calls(self) -> int: ...


class CallMeter:
    """How many of one pull cycle's ``budget`` calls are left, on the API's own count.

    A scan asks ``left`` before each call, so a cycle stops within its share of the rate
    limit and leaves its cursor where the next cycle goes on.
    """

    def __init__(self, api: CountsCalls, budget: int) -> None:
        self.budget = budget
        self._api = api
        self._at_start = api.api_calls

    @property
    def left(self) -> int:
        return self.budget - (self._api.api_calls - self._at_start)


Api = TypeVar("Api", bound=CountsCalls)


class BudgetedScan(Generic[Api]):
    """One pull cycle's slice of the full scan, within ``budget`` API calls."""

    def __init__(self, api: Api, budget: int) -> None:
        self.api = api
        self.calls = CallMeter(api, budget)

    def _paused(self, event: str, at: ScanPosition, **progress: Any) -> PullPage:
        """The budget is spent: an empty page whose cursor the next cycle goes on from."""
        log.info(event, **progress, budget=self.calls.budget, **at.shown())
        return PullPage([], at.as_cursor())


class ScanPosition:
    """Where a scan stands, saved as its cursor.

    Subclasses are dataclasses whose fields are names (default None) or whole numbers
    (never below their default). A saved value that is neither, from an older or
    damaged cursor, gives way to the default. ``logged`` names the fields a log line
    shows to say where the scan stands.
    """

    __slots__ = ()
    logged: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def of(cls, cursor: Mapping[str, Any] | None) -> Self:
        cursor = cursor or {}
        kept: dict[str, Any] = {}
        for spot in fields(cls):  # type: ignore[arg-type]
            value = cursor.get(spot.name)
            if spot.default is None:
                usable = isinstance(value, str) and bool(value)
            else:
                whole = isinstance(value, int) and not isinstance(value, bool)
                usable = whole and value >= spot.default
            if usable:
                kept[spot.name] = value
        return cls(**kept)

    def as_cursor(self) -> dict[str, Any]:
        return {spot.name: getattr(self, spot.name) for spot in fields(self)}  # type: ignore[arg-type]

    def shown(self) -> dict[str, Any]:
        """The ``logged`` fields and their values."""
        return {name: getattr(self, name) for name in self.logged}

"""A running cycle's progress: operations done of planned, calls, the wait for a rate limit, ETA.

The cycle keeps a ``Progress`` while it sends; the rate limiter says when the cycle's
thread waits and until when (``note_wait``); whoever shows it (a live line on a
terminal, a log line a minute) reads ``snapshot()`` of each ``active()`` one. Times are
epoch seconds, shown in UTC.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

_current = threading.local()
_active: list[Progress] = []
_active_lock = threading.Lock()


def span(seconds: float) -> str:
    """A duration for people: ``2h 5m``, ``31m``, ``45s``."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h"] if hours else []
    if minutes:
        parts.append(f"{minutes}m")
    if secs and not hours:
        parts.append(f"{secs}s")
    return " ".join(parts) or "0s"


def clock_time(epoch: float) -> str:
    """``14:35:10 UTC``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S UTC")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """How a cycle stands at ``now``."""

    connector: str
    direction: str
    done: int
    planned: int
    calls: int
    now: float
    wait_until: float | None  # waiting for the rate limit until then
    eta: float | None  # when the planned operations should be done

    def line(self) -> str:
        """``talentlms push: 1,234/3,220 operations, 1,830 calls; waiting for the rate limit
        until 14:35:10 UTC (52m); ETA 15:40:00 UTC (1h 5m)``."""
        text = (
            f"{self.connector} {self.direction}: {self.done:,}/{self.planned:,} operations, "
            f"{self.calls:,} calls"
        )
        if self.wait_until is not None:
            text += (
                f"; waiting for the rate limit until {clock_time(self.wait_until)} "
                f"({span(self.wait_until - self.now)})"
            )
        if self.eta is not None:
            text += f"; ETA {clock_time(self.eta)} ({span(self.eta - self.now)})"
        return text

    def fields(self) -> dict[str, Any]:
        """For a log line."""
        found: dict[str, Any] = {
            "connector": self.connector,
            "direction": self.direction,
            "done": self.done,
            "planned": self.planned,
            "calls": self.calls,
        }
        if self.wait_until is not None:
            found["rate_limit_wait_until"] = _iso(self.wait_until)
        if self.eta is not None:
            found["eta"] = _iso(self.eta)
            found["eta_s"] = round(self.eta - self.now)
        return found


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


class Progress:
    """One cycle's progress, updated by its thread and read by any other."""

    def __init__(
        self,
        connector: str,
        direction: str,
        calls: Callable[[], int] = lambda: 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.connector = connector
        self.direction = direction
        self._calls = calls
        self._clock = clock
        self._lock = threading.Lock()
        self._planned = 0
        self._done = 0
        self._at_limits = 0.0  # the least time the planned calls take at the rate limits
        self._started: float | None = None
        self._wait_until: float | None = None

    def plan(self, operations: int, at_limits: float = 0.0) -> None:
        """``operations`` more are to be sent; at the rate limits they take ``at_limits`` s."""
        with self._lock:
            self._planned += operations
            self._at_limits += at_limits
            if self._started is None and operations:
                self._started = self._clock()

    def advance(self, operations: int = 1) -> None:
        with self._lock:
            self._done += operations

    def waiting(self, seconds: float | None) -> None:
        """The cycle waits ``seconds`` for the rate limit from now; None: it waits no more."""
        with self._lock:
            self._wait_until = None if seconds is None else self._clock() + seconds

    def snapshot(self) -> Snapshot:
        with self._lock:
            now = self._clock()
            wait_until = self._wait_until if self._wait_until and self._wait_until > now else None
            return Snapshot(
                self.connector,
                self.direction,
                self._done,
                self._planned,
                self._calls(),
                now,
                wait_until,
                self._eta(now, wait_until),
            )

    def _eta(self, now: float, wait_until: float | None) -> float | None:
        """The latest of: the pace so far, the rate limits' pace, the end of the current wait."""
        remaining = self._planned - self._done
        if not self._planned or self._started is None:
            return None
        if remaining <= 0:
            return now
        left = self._at_limits * remaining / self._planned
        if self._done:
            left = max(left, (now - self._started) / self._done * remaining)
        if wait_until is not None:
            left = max(left, wait_until - now)
        return now + left


@contextmanager
def tracking(progress: Progress) -> Iterator[Progress]:
    """``progress`` is this thread's (for ``note_wait``) and shown among ``active()``."""
    previous = getattr(_current, "progress", None)
    _current.progress = progress
    with _active_lock:
        _active.append(progress)
    try:
        yield progress
    finally:
        _current.progress = previous
        with _active_lock:
            _active.remove(progress)


def note_wait(seconds: float | None) -> None:
    """This thread waits ``seconds`` for a rate limit (None: no longer): its progress says so."""
    progress = getattr(_current, "progress", None)
    if progress is not None:
        progress.waiting(seconds)


def active() -> list[Progress]:
    """The progress of every cycle running in this process now."""
    with _active_lock:
        return list(_active)

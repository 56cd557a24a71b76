"""Time for the simulators: real by default, hand-driven in tests that must not sleep.

Every timestamp, rate-limit window, token expiry and job progress reads the same
clock, so a test can move one ``ManualClock`` forward and see the whole vendor age
consistently.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class Clock:
    """Wall-clock seconds since the epoch."""

    def time(self) -> float:
        return time.time()


class ManualClock(Clock):
    """A clock that only moves when told to; shared safely between test and server threads."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


def iso_offset(ts: float) -> str:
    """TalentLMS style: ``2025-07-10T09:23:34+00:00``."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def iso_z(ts: float) -> str:
    """HowNow style: ``2025-10-31T06:11:53Z``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> float:
    """Seconds since the epoch of an ISO-8601 timestamp; a missing offset means UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()

"""A hand-moved clock that tests share with a long-lived sandbox."""

from __future__ import annotations

from datetime import UTC, datetime

from syncd.sandbox import ManualClock

START = 1_780_000_000.0  # 2026-05-28T20:26:40Z


class RewindableClock(ManualClock):
    """A hand-driven clock that goes back to START before each test, so a module can keep
    one sandbox running while each test sees the same instant."""

    def rewind(self) -> None:
        self.advance(START - self.time())

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

"""A connector that keeps failing is tried less often (quarantine), then normally again.

A cycle that fails outright (the vendor refuses the credentials, cannot be reached,
or the source is unreadable) is not retried at every tick: after the n-th failure in
a row the next attempt waits 1, 2, 4 ... minutes, at most an hour. With a schedule
of 15 minutes this only matters after several failures; it keeps a daemon with a
revoked key from knocking on the vendor every few minutes for days, which some
vendors answer by locking the key. One success ends the quarantine.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

FIRST_PAUSE = timedelta(minutes=1)
LONGEST_PAUSE = timedelta(hours=1)


@dataclass(slots=True)
class Failures:
    """A connector and direction in quarantine: failed cycles in a row, the last one's
    reason, and when the next attempt may run."""

    count: int = 0
    not_before: datetime | None = None
    reason: str = ""


class Quarantine:
    """Consecutive failed cycles per connector and direction, and when to try again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[tuple[str, str], Failures] = {}

    def waiting_until(self, name: str, direction: str, now: datetime) -> datetime | None:
        """When the next attempt may run, if that is later than ``now``."""
        with self._lock:
            failures = self._failures.get((name, direction))
        if failures is None or failures.not_before is None or failures.not_before <= now:
            return None
        return failures.not_before

    def record(
        self, name: str, direction: str, failed: bool, now: datetime, reason: str = ""
    ) -> int:
        """Note a cycle's result; the number of failures in a row so far."""
        with self._lock:
            if not failed:
                self._failures.pop((name, direction), None)
                return 0
            failures = self._failures.setdefault((name, direction), Failures())
            failures.count += 1
            failures.reason = reason
            pause = min(FIRST_PAUSE * 2 ** (failures.count - 1), LONGEST_PAUSE)
            failures.not_before = now + pause
            return failures.count

    def current(self) -> dict[tuple[str, str], Failures]:
        """Every connector and direction in quarantine now (a copy)."""
        with self._lock:
            return {
                key: Failures(f.count, f.not_before, f.reason) for key, f in self._failures.items()
            }

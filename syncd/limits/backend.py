"""What a rate-limit backend is: where a credential's call log lives, and how waiters wake."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from syncd.limits.policy import Finished, Grant, LimitPolicy, Priority, Snapshot, VendorSignal


class LimitBackend(Protocol):
    """Where the call log lives: this process (``MemoryBackend``) or the store (``SqlBackend``)."""

    def acquire(self, credential: str, policy: LimitPolicy, priority: Priority) -> Grant | float:
        """Log a call and return its grant, or the seconds to wait before asking again."""
        ...

    def finish(
        self,
        credential: str,
        policy: LimitPolicy,
        grant: Grant,
        elapsed: float,
        signal: VendorSignal,
        rng: Callable[[], float],
    ) -> Finished:
        """Record a call's end (``elapsed`` seconds after its grant) and what the vendor said."""
        ...

    def snapshot(self, credential: str, policy: LimitPolicy) -> Snapshot: ...

    def wait_for_change(self, timeout: float) -> None:
        """Sleep up to ``timeout``, waking early when a call of this process finishes."""
        ...


class Wakeups:
    """Lets waiters of this process re-check as soon as one of its calls finishes."""

    def __init__(self) -> None:
        self._changed = threading.Condition()

    def wait_for_change(self, timeout: float) -> None:
        with self._changed:
            self._changed.wait(timeout)

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

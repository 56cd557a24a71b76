"""What a rate-limit backend is: where a credential's call log lives, and how waiters wake.

The decisions are the policy's and are taken here, once for every backend; a backend
(``MemoryBackend``, the store's ``SqlBackend``) only keeps the log, the pause and the
throttle, so every process sharing the backend shares all three.
"""

from __future__ import annotations

import random
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager
from enum import Enum
from typing import Protocol

from syncd.limits.policy import (
    CallLog,
    Finished,
    Grant,
    LimitPolicy,
    Pause,
    Priority,
    Snapshot,
    Throttle,
    VendorSignal,
    after_answer,
    wait_needed,
)


class Access(Enum):
    """Why a backend opens a credential's log: it may lock and tidy accordingly."""

    ADMIT = "admit"  # locked: a call may be added; calls past every window may be dropped
    FINISH = "finish"  # locked: an answered call is settled, the pause may change
    READ = "read"  # a look for a snapshot: no lock needed


class OpenLog(CallLog, Protocol):
    """A credential's call log, pause and throttle, opened by a backend at one moment of its
    clock."""

    now: float
    pause: Pause
    throttle: Throttle

    def add(self, at: float, weight: int = 1, window_seconds: float | None = None) -> int:
        """Log ``weight`` calls at ``at`` (counted only in that window when it is given)."""
        ...

    def settle(self, call_id: int, at: float) -> None:
        """Move an answered call to the moment it was answered."""
        ...

    def save(self, pause: Pause, throttle: Throttle) -> None: ...


class LimitBackend(ABC):
    """Where the call log lives: this process (``MemoryBackend``) or the store (``SqlBackend``).

    Waiters of this process re-check as soon as one of its calls finishes.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()

    @abstractmethod
    def _open(
        self, credential: str, policy: LimitPolicy, access: Access
    ) -> AbstractContextManager[OpenLog]:
        """The credential's log, for ``access``; its changes last when the block ends."""

    def acquire(self, credential: str, policy: LimitPolicy, priority: Priority) -> Grant | float:
        """Log a call and return its grant, or the seconds to wait before asking again."""
        with self._open(credential, policy, Access.ADMIT) as log:
            scale = log.throttle.at(log.now, policy)
            wait = wait_needed(log.now, policy, priority, log.pause.until, log, scale)
            if wait > 0:
                return wait
            return Grant(log.add(log.now + policy.in_flight), log.now)

    def finish(
        self,
        credential: str,
        policy: LimitPolicy,
        grant: Grant,
        elapsed: float,
        signal: VendorSignal,
        rng: Callable[[], float] = random.random,
    ) -> Finished:
        """Record a call's end (``elapsed`` seconds after its grant) and what the vendor said."""
        with self._open(credential, policy, Access.FINISH) as log:
            log.settle(grant.id, grant.granted_at + max(0.0, elapsed))
            state = (log.pause, log.throttle)
            pause, throttle, result = after_answer(log.now, grant, signal, policy, state, log, rng)
            if (pause, throttle) != state:
                log.save(pause, throttle)
            if result.learned is not None:
                window, extra = result.learned
                log.add(log.now, extra, window.seconds)
        with self._changed:
            self._changed.notify_all()
        return result

    def snapshot(self, credential: str, policy: LimitPolicy) -> Snapshot:
        with self._open(credential, policy, Access.READ) as log:
            return Snapshot.of(policy, log.used(policy.windows), log.pause, log.now, log.throttle)

    def wait_for_change(self, timeout: float) -> None:
        """Sleep up to ``timeout``, waking early when a call of this process finishes."""
        with self._changed:
            self._changed.wait(timeout)

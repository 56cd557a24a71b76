"""The waiting loop callers use: ``RateLimiter.acquire`` before each call, ``Permit.finish`` after.

Why not pyrate-limiter: its SQLite and PostgreSQL buckets share several rates per
key across processes, but it has no notion of a call in flight (a crash would
under-count), of priorities with reserves, of a pause every process honours after
a 429, or of following the vendor's ``X-RateLimit-Remaining``; wrapping it would
have meant a second log beside its own. Retries do use a library (tenacity).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import structlog

from syncd.limits.backend import LimitBackend
from syncd.limits.memory import MemoryBackend
from syncd.limits.policy import (
    DEFAULT_RESERVE,
    Finished,
    Grant,
    LimitPolicy,
    Priority,
    Snapshot,
    VendorSignal,
    Window,
    as_windows,
)
from syncd.progress import note_wait
from syncd.shutdown import raise_if_stopping

log = structlog.get_logger(__name__)

_PROCESS_MEMORY = MemoryBackend()
"""Used when no backend is given: every limiter of the process meets here."""


class RateLimitTimeout(Exception):
    """A call would have waited longer than its caller allows for the rate limit.

    The HTTP stack reports it as the vendor being unreachable (exit code 4).
    """


class RateLimiter:
    """The budget of one credential: ``acquire`` before each call, ``Permit.finish`` after it.

    ``sleep`` and ``monotonic`` can be injected (tests with a fake clock; a daemon
    whose sleep raises on shutdown). Without ``sleep``, waiters also wake as soon
    as a call of this process finishes.
    """

    def __init__(
        self,
        credential: str,
        windows: Iterable[Window | tuple[int, float]],
        *,
        backend: LimitBackend | None = None,
        name: str = "",
        reserve: Mapping[Priority, float] = DEFAULT_RESERVE,
        in_flight: float = 120.0,
        backoff_initial: float = 5.0,
        backoff_max: float = 300.0,
        max_sleep: float | None = None,
        sleep: Callable[[float], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.credential = credential
        self.name = name or credential[:12]
        self.policy = LimitPolicy(
            as_windows(windows), dict(reserve), in_flight, backoff_initial, backoff_max
        )
        self.backend: LimitBackend = backend if backend is not None else _PROCESS_MEMORY
        shortest = min((w.seconds for w in self.policy.windows), default=10.0)
        self._max_sleep = max_sleep if max_sleep is not None else min(1.0, shortest / 10)
        self._sleep = sleep
        self._monotonic = monotonic
        self._rng = rng

    def acquire(
        self, priority: Priority = Priority.WRITE, *, max_wait: float | None = None
    ) -> Permit:
        """Wait until a call of ``priority`` may go, log it, and return its permit.

        Raises ``RateLimitTimeout`` when that would take longer than ``max_wait`` seconds.
        """
        started = self._monotonic()
        while True:
            # Taken before asking: the call's end is then never logged earlier than it was.
            asked = self._monotonic()
            result = self.backend.acquire(self.credential, self.policy, priority)
            waited = self._monotonic() - started
            if isinstance(result, Grant):
                if waited > 0:
                    note_wait(None)
                if waited >= 1.0:
                    log.info(
                        "rate_limit_wait",
                        vendor=self.name,
                        priority=priority.name,
                        wait_ms=round(waited * 1000),
                    )
                return Permit(self, result, priority, waited, asked)
            if max_wait is not None and waited + result > max_wait:
                raise RateLimitTimeout(
                    f"{self.name}: the rate limit would hold this call more than {max_wait:g}s"
                )
            note_wait(result)  # a running cycle shows the wait and its end
            nap = min(result, self._max_sleep)
            if self._sleep is not None:
                self._sleep(nap)
            else:
                self.backend.wait_for_change(nap)
            raise_if_stopping()  # a stopping process does not sit out a long pause

    def snapshot(self) -> Snapshot:
        return self.backend.snapshot(self.credential, self.policy)

    def _finish(self, permit: Permit, signal: VendorSignal) -> Finished:
        """Settle the call; log a pause, a lowered throttle and calls learned from headers."""
        elapsed = self._monotonic() - permit.started
        done = self.backend.finish(
            self.credential, self.policy, permit.grant, elapsed, signal, self._rng
        )
        if done.paused_for > 0:
            log.warning(
                "rate_limit_paused",
                vendor=self.name,
                pause_ms=round(done.paused_for * 1000),
                retry_after=signal.retry_after is not None,
                strikes=done.strikes,
            )
        if done.lowered_to is not None:
            log.warning(
                "rate_limit_lowered",
                limiter=self.name,
                share=round(done.lowered_to, 3),
                limits={w.label: limit for w, limit in done.effective},
            )
        if done.learned is not None:
            window, extra = done.learned
            log.info(
                "rate_limit_learned",
                vendor=self.name,
                window=window.label,
                vendor_limit=signal.limit,
                vendor_remaining=signal.remaining,
                added=extra,
            )
        return done


@dataclass(slots=True)
class Permit:
    """One admitted call. ``finish`` it exactly once, with the answer or with None."""

    limiter: RateLimiter
    grant: Grant
    priority: Priority
    waited: float  # seconds spent waiting for the rate limit
    started: float  # limiter's monotonic clock when the admitting request began
    done: Finished | None = None

    def finish(self, status: int | None, headers: Mapping[str, str] | None = None) -> Finished:
        """Record the answer: settles the call's time, pauses on 429, learns from headers."""
        if self.done is None:
            signal = VendorSignal.from_response(status, headers, time.time())
            self.done = self.limiter._finish(self, signal)
        return self.done

"""The in-memory rate-limit backend: one process's call log, as the store's but unshared."""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from syncd.limits.backend import Wakeups
from syncd.limits.policy import (
    Finished,
    Grant,
    LimitPolicy,
    Priority,
    Snapshot,
    VendorSignal,
    Window,
    WindowUsage,
    learned_calls,
    pause_after_429,
    wait_needed,
)


@dataclass(slots=True)
class _Call:
    id: int
    at: float
    weight: int = 1
    window_seconds: float | None = None


@dataclass(slots=True)
class _MemoryCredential:
    calls: list[_Call] = field(default_factory=list)
    paused_until: float = 0.0
    paused_at: float = 0.0
    strikes: int = 0


class _MemoryLog:
    def __init__(self, state: _MemoryCredential, now: float) -> None:
        self._state = state
        self._now = now

    def _counts(self, call: _Call, window: Window) -> bool:
        return call.at > self._now - window.seconds and call.window_seconds in (
            None,
            window.seconds,
        )

    def used(self, windows: Sequence[Window]) -> list[int]:
        return [sum(c.weight for c in self._state.calls if self._counts(c, w)) for w in windows]

    def oldest(self, window: Window, count: int) -> list[tuple[float, int]]:
        mine = sorted((c for c in self._state.calls if self._counts(c, window)), key=lambda c: c.at)
        return [(c.at, c.weight) for c in mine[:count]]


class MemoryBackend(Wakeups):
    """The call log in this process only: for tests, the demo and single-process runs."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self._clock = clock
        self._lock = threading.Lock()
        self._credentials: dict[str, _MemoryCredential] = {}
        self._ids = itertools.count(1)

    def _state(self, credential: str, policy: LimitPolicy, now: float) -> _MemoryCredential:
        state = self._credentials.setdefault(credential, _MemoryCredential())
        horizon = now - policy.longest
        state.calls = [c for c in state.calls if c.at > horizon]
        return state

    def acquire(self, credential: str, policy: LimitPolicy, priority: Priority) -> Grant | float:
        with self._lock:
            now = self._clock()
            state = self._state(credential, policy, now)
            wait = wait_needed(now, policy, priority, state.paused_until, _MemoryLog(state, now))
            if wait > 0:
                return wait
            grant = Grant(next(self._ids), now)
            state.calls.append(_Call(grant.id, now + policy.in_flight))
            return grant

    def finish(
        self,
        credential: str,
        policy: LimitPolicy,
        grant: Grant,
        elapsed: float,
        signal: VendorSignal,
        rng: Callable[[], float] = random.random,
    ) -> Finished:
        with self._lock:
            now = self._clock()
            state = self._state(credential, policy, now)
            for call in state.calls:
                if call.id == grant.id:
                    call.at = grant.granted_at + max(0.0, elapsed)
                    break
            result = Finished(strikes=state.strikes)
            if signal.status == 429:
                state.paused_until, state.paused_at, state.strikes, pause = pause_after_429(
                    now,
                    grant,
                    signal,
                    policy,
                    state.paused_until,
                    state.paused_at,
                    state.strikes,
                    rng,
                )
                result = Finished(paused_for=pause, strikes=state.strikes)
            elif signal.status is not None and grant.granted_at > state.paused_at:
                state.strikes = 0
            learned = learned_calls(policy, signal, _MemoryLog(state, now))
            if learned is not None:
                window, extra = learned
                state.calls.append(_Call(next(self._ids), now, extra, window.seconds))
                result = Finished(result.paused_for, result.strikes, learned)
        self._notify()
        return result

    def snapshot(self, credential: str, policy: LimitPolicy) -> Snapshot:
        with self._lock:
            now = self._clock()
            state = self._state(credential, policy, now)
            used = _MemoryLog(state, now).used(policy.windows)
            return Snapshot(
                tuple(WindowUsage(w, u) for w, u in zip(policy.windows, used, strict=True)),
                state.paused_until,
                state.strikes,
                now,
            )

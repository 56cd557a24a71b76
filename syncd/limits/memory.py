"""The in-memory rate-limit backend: one process's call log, as the store's but unshared."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from syncd.limits.backend import Access, LimitBackend
from syncd.limits.policy import LimitPolicy, Pause, Throttle, Window


@dataclass(slots=True)
class _Call:
    id: int
    at: float
    weight: int = 1
    window_seconds: float | None = None


@dataclass(slots=True)
class _MemoryCredential:
    calls: list[_Call] = field(default_factory=list)
    pause: Pause = field(default_factory=Pause)
    throttle: Throttle = field(default_factory=Throttle)


class _MemoryLog:
    """One credential's log, held under the backend's lock."""

    def __init__(self, state: _MemoryCredential, now: float, ids: Iterator[int]) -> None:
        self._state = state
        self._ids = ids
        self.now = now

    @property
    def pause(self) -> Pause:
        return self._state.pause

    @property
    def throttle(self) -> Throttle:
        return self._state.throttle

    def _counts(self, call: _Call, window: Window) -> bool:
        return call.at > self.now - window.seconds and call.window_seconds in (
            None,
            window.seconds,
        )

    def used(self, windows: Sequence[Window]) -> list[int]:
        return [sum(c.weight for c in self._state.calls if self._counts(c, w)) for w in windows]

    def oldest(self, window: Window, count: int) -> list[tuple[float, int]]:
        mine = sorted((c for c in self._state.calls if self._counts(c, window)), key=lambda c: c.at)
        return [(c.at, c.weight) for c in mine[:count]]

    def add(self, at: float, weight: int = 1, window_seconds: float | None = None) -> int:
        call = _Call(next(self._ids), at, weight, window_seconds)
        self._state.calls.append(call)
        return call.id

    def settle(self, call_id: int, at: float) -> None:
        for call in self._state.calls:
            if call.id == call_id:
                call.at = at
                return

    def save(self, pause: Pause, throttle: Throttle) -> None:
        self._state.pause = pause
        self._state.throttle = throttle


class MemoryBackend(LimitBackend):
    """The call log in this process only: for tests, the demo and single-process runs."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self._clock = clock
        self._lock = threading.Lock()
        self._credentials: dict[str, _MemoryCredential] = {}
        self._ids = itertools.count(1)

    @contextmanager
    def _open(self, credential: str, policy: LimitPolicy, access: Access) -> Iterator[_MemoryLog]:
        """Every access takes the lock and drops the calls past the policy's longest window."""
        with self._lock:
            now = self._clock()
            state = self._credentials.setdefault(credential, _MemoryCredential())
            horizon = now - policy.longest
            state.calls = [c for c in state.calls if c.at > horizon]
            yield _MemoryLog(state, now, self._ids)

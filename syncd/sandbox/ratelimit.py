"""Rate limits as the vendors state them: several windows per credential, 429 beyond.

Windows slide (a request counts against a window for exactly ``seconds`` after it
was accepted). The vendors do not say whether their windows are fixed or sliding;
sliding is the stricter reading, so a client that never trips the sandbox never
trips a fixed-window vendor either. Refused requests are not counted.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from syncd.sandbox.clock import Clock


@dataclass(frozen=True, slots=True)
class Window:
    name: str
    limit: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    remaining: dict[str, int]  # by window name, after this request
    exceeded: str | None = None  # the window that refused the request
    retry_after: float = 0.0  # seconds until the refusing window has room again


class SlidingWindowLimiter:
    """Per-credential sliding-window counters. Not thread-safe: used under the simulator lock."""

    def __init__(self, windows: Sequence[Window], clock: Clock) -> None:
        self.windows = list(windows)
        self._clock = clock
        self._hits: dict[tuple[str, str], deque[float]] = {}

    def _bucket(self, credential: str, window: Window, now: float) -> deque[float]:
        hits = self._hits.setdefault((credential, window.name), deque())
        while hits and hits[0] <= now - window.seconds:
            hits.popleft()
        return hits

    def hit(self, credential: str) -> Verdict:
        """Count one request for ``credential`` if every window has room."""
        now = self._clock.time()
        buckets = [(w, self._bucket(credential, w, now)) for w in self.windows]
        for window, hits in buckets:
            if len(hits) >= window.limit:
                wait = hits[0] + window.seconds - now if hits else window.seconds
                remaining = {w.name: max(0, w.limit - len(h)) for w, h in buckets}
                return Verdict(False, remaining, window.name, max(0.0, wait))
        for _, hits in buckets:
            hits.append(now)
        return Verdict(True, {w.name: w.limit - len(h) for w, h in buckets})

    def remaining(self, credential: str) -> dict[str, int]:
        now = self._clock.time()
        return {
            w.name: max(0, w.limit - len(self._bucket(credential, w, now))) for w in self.windows
        }

    def reset(self) -> None:
        self._hits.clear()


def retry_after_header(seconds: float) -> str:
    """A ``Retry-After`` value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))

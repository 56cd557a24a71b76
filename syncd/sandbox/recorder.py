"""What the sandbox saw: a bounded request log and counters by endpoint and status.

Tests use these to prove things a user cares about ("no 429 was ever returned",
"the batch endpoint was called twice"). Only method, path, query, endpoint,
status and fault are kept: never headers or bodies, so never a secret.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import asdict, dataclass
from typing import Any

from syncd.sandbox.clock import iso_offset

DROPPED = "dropped"


@dataclass(frozen=True, slots=True)
class RequestRecord:
    seq: int
    time: str
    method: str
    path: str
    query: str
    endpoint: str | None  # "GET /api/v2/users/{id}", None when no route matched
    status: int | str  # an HTTP status, or "dropped" when the connection was closed unanswered
    fault: str | None  # "drop", "storm", "error" when a fault decided the answer
    duration_ms: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class RequestLog:
    """The last ``size`` requests, oldest first. Not thread-safe: used under the simulator lock."""

    def __init__(self, size: int) -> None:
        self._records: deque[RequestRecord] = deque(maxlen=size)
        self._seq = 0

    def add(
        self,
        *,
        now: float,
        method: str,
        path: str,
        query: str,
        endpoint: str | None,
        status: int | str,
        fault: str | None,
        duration_ms: float,
    ) -> RequestRecord:
        self._seq += 1
        record = RequestRecord(
            self._seq, iso_offset(now), method, path, query, endpoint, status, fault, duration_ms
        )
        self._records.append(record)
        return record

    def records(self, since: int = 0, limit: int | None = None) -> list[RequestRecord]:
        """Records with ``seq`` greater than ``since``; the newest ``limit`` of them."""
        found = [r for r in self._records if r.seq > since]
        return found[-limit:] if limit else found

    def clear(self) -> None:
        self._records.clear()
        self._seq = 0


class Counters:
    """Requests counted by endpoint template and status (dropped ones under "dropped")."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()

    def add(self, endpoint: str | None, status: int | str) -> None:
        self._counts[(endpoint or "unmatched", str(status))] += 1

    def snapshot(self) -> dict[str, dict[str, int]]:
        result: dict[str, dict[str, int]] = {}
        for (endpoint, status), count in sorted(self._counts.items()):
            result.setdefault(endpoint, {})[status] = count
        return result

    def count(self, endpoint: str | None = None, status: int | str | None = None) -> int:
        """How many requests matched ``endpoint`` and ``status`` (None = any)."""
        return sum(
            n
            for (ep, st), n in self._counts.items()
            if (endpoint is None or ep == endpoint) and (status is None or st == str(status))
        )

    def clear(self) -> None:
        self._counts.clear()

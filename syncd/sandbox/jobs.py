"""Asynchronous jobs (TalentLMS tasks, HowNow job_ids) that progress with time.

A job holds the items it will apply and a duration. Nothing runs in the
background: every request (and every dump) first calls ``advance``, which applies
the items whose share of the duration has elapsed, in order. So a batch task is
visibly half-applied half-way through, and the order of effects is deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from syncd.sandbox.clock import Clock
from syncd.sandbox.faults import JobOutcome

JobState = Literal["pending", "running", "finished", "failed"]


@dataclass(slots=True)
class ItemResult:
    """What applying one item did: errors make it a failed item, warnings a partial one."""

    errors: list[Any] = field(default_factory=list)
    warnings: list[Any] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


ApplyItem = Callable[["Job", int, Any], ItemResult]


@dataclass(slots=True)
class Job:
    id: str
    kind: str
    created_at: float
    duration: float
    items: list[Any]
    apply_item: ApplyItem
    forced: JobOutcome | None = None
    fail_share: float = 0.0
    owner: str | None = None
    results: list[ItemResult] = field(default_factory=list)
    finished_at: float | None = None
    state: JobState = "pending"
    meta: dict[str, Any] = field(default_factory=dict)

    def fraction(self, now: float) -> float:
        if self.duration <= 0:
            return 1.0
        return min(1.0, max(0.0, (now - self.created_at) / self.duration))

    @property
    def applied(self) -> int:
        return len(self.results)

    @property
    def done(self) -> bool:
        return self.state in ("finished", "failed")

    def progress(self, now: float) -> int:
        """0-100: time-based while running, 100 when finished, the applied share when failed."""
        if self.state == "finished":
            return 100
        if self.state == "failed":
            return math.floor(100 * self.applied / len(self.items)) if self.items else 0
        return min(99, math.floor(100 * self.fraction(now)))

    @property
    def item_errors(self) -> list[tuple[int, ItemResult]]:
        return [(i, r) for i, r in enumerate(self.results) if r.errors]

    @property
    def item_warnings(self) -> list[tuple[int, ItemResult]]:
        return [(i, r) for i, r in enumerate(self.results) if r.warnings]

    def summary(self, now: float) -> dict[str, Any]:
        """Vendor-neutral view for the control API's dump."""
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "forced": self.forced,
            "progress": self.progress(now),
            "items": len(self.items),
            "applied": self.applied,
            "errors": [{"index": i, "errors": r.errors} for i, r in self.item_errors],
            "warnings": [{"index": i, "warnings": r.warnings} for i, r in self.item_warnings],
        }


class JobRegistry:
    """All jobs of one simulator. Not thread-safe: used under the simulator lock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._jobs: dict[str, Job] = {}
        self._pending: list[Job] = []  # unfinished jobs, oldest first

    def create(
        self,
        job_id: str,
        kind: str,
        items: list[Any],
        apply_item: ApplyItem,
        *,
        duration: float,
        forced: JobOutcome | None = None,
        fail_share: float = 0.0,
        owner: str | None = None,
    ) -> Job:
        job = Job(
            job_id,
            kind,
            self._clock.time(),
            duration,
            list(items),
            apply_item,
            forced,
            fail_share,
            owner,
        )
        self._jobs[job_id] = job
        self._pending.append(job)
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        return list(self._jobs.values())

    def __contains__(self, job_id: str) -> bool:
        return job_id in self._jobs

    def advance(self) -> None:
        """Apply every item that is due, in job creation order, and finish due jobs."""
        now = self._clock.time()
        for job in self._pending:
            fraction = job.fraction(now)
            due = math.floor(len(job.items) * fraction + 1e-9)
            if job.forced == "failed":
                due = min(due, math.floor(len(job.items) * job.fail_share))
            while job.applied < due:
                index = job.applied
                job.results.append(job.apply_item(job, index, job.items[index]))
            if fraction >= 1.0:
                job.state = "failed" if job.forced == "failed" else "finished"
                job.finished_at = job.created_at + job.duration
            elif fraction > 0:
                job.state = "running"
        self._pending = [job for job in self._pending if not job.done]

    def clear(self) -> None:
        self._jobs.clear()
        self._pending.clear()

"""An in-memory LMS that serves learning results behind the Adapter protocol, for pull tests.

Every change to a result gets the next sequence number. An incremental pull
answers the results changed after the cursor's ``seq`` in pages of
``page_size``, each page carrying the cursor of its last result; a full-scan
one (like vendors without a "changed since" filter) answers every result each
time. One page read is one API call.

Run as ``python -m tests.fake_results DB_URL SINK_JSON`` it is a pull process
that kills itself (SIGKILL) right after the sink accepted the first batch:
the crash the exactly-once design must survive.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from syncd.model import DesiredUser, LearningResult, Operation, Outcome, ResultStatus
from syncd.vendors.base import Capabilities, Confirmed, PullPage, RemoteAccount

START = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


class FakeResultsLMS:
    vendor = "fakelms"

    def __init__(self, *, page_size: int = 3, incremental: bool = True) -> None:
        self.capabilities = Capabilities(pull=True, incremental_pull=incremental)
        self.page_size = page_size
        self.incremental = incremental
        self.results: dict[tuple[str, str], tuple[int, LearningResult]] = {}
        self.seq = 0
        self.calls = 0
        self.cursors_seen: list[dict[str, Any] | None] = []
        self.fail_next: Exception | None = None  # raised by the next page read, once
        self.fail_after_pages: int | None = None  # pages served before ``fail_next`` is raised
        # LMS users whose results the adapter skips, naming them in unknown_users instead.
        self.report_unknown: set[str] = set()

    # --- what a test changes ---------------------------------------------------------------------
    def set(self, user: str, course: str, **values: Any) -> LearningResult:
        """Create or change one result; unchanged fields keep their value."""
        self.seq += 1
        previous = self.results.get((user, course))
        base: dict[str, Any] = (
            {name: getattr(previous[1], name) for name in _FIELDS}
            if previous
            else {
                "course_name": f"Course {course}",
                "status": ResultStatus.IN_PROGRESS,
                "progress": 50.0,
                "started_at": START,
            }
        )
        base.update(values)
        base["updated_at"] = START + timedelta(minutes=self.seq)
        result = LearningResult(vendor=self.vendor, lms_user_id=user, course_id=course, **base)
        self.results[user, course] = (self.seq, result)
        return result

    def complete(self, user: str, course: str, score: float = 90.0) -> LearningResult:
        return self.set(
            user,
            course,
            status=ResultStatus.COMPLETED,
            progress=100.0,
            score=score,
            completed_at=START + timedelta(days=1),
        )

    # --- the protocol ----------------------------------------------------------------------------
    @property
    def api_calls(self) -> int:
        return self.calls

    def pull(self, cursor: Mapping[str, Any] | None) -> Iterator[PullPage]:
        self.cursors_seen.append(dict(cursor) if cursor is not None else None)
        since = int((cursor or {}).get("seq", 0)) if self.incremental else 0
        changed = sorted(
            ((seq, result) for seq, result in self.results.values() if seq > since),
            key=lambda item: item[0],
        )
        starts = range(0, max(len(changed), 1), self.page_size)
        for served, start in enumerate(starts):
            if self.fail_next is not None and served >= (self.fail_after_pages or 0):
                error, self.fail_next = self.fail_next, None
                raise error
            self.calls += 1
            chunk = changed[start : start + self.page_size]
            results = [_copy(result) for _, result in chunk]
            unknown = sorted({r.lms_user_id for r in results} & self.report_unknown)
            results = [r for r in results if r.lms_user_id not in self.report_unknown]
            last = chunk[-1][0] if chunk else since
            yield PullPage(results, {"seq": last} if self.incremental else {}, unknown)

    def validate(self, user: DesiredUser) -> list[str]:
        return []

    def match_existing(
        self, users: Sequence[DesiredUser], match: str | None
    ) -> dict[str, RemoteAccount]:
        return {}

    def execute(self, ops: Sequence[Operation]) -> list[Outcome]:
        raise AssertionError("a pull never writes to the LMS")

    def poll_job(self, job_id: str, ops: Sequence[Operation]) -> list[Outcome] | None:
        raise AssertionError("a pull never polls jobs")

    def confirm_in_bulk(self, jobs: Mapping[str, Sequence[Operation]]) -> Confirmed:
        raise AssertionError("a pull never waits for jobs")

    def close(self) -> None:
        pass


_FIELDS = (
    "course_name",
    "status",
    "progress",
    "score",
    "started_at",
    "completed_at",
    "certificate_url",
    "certificate_expires_at",
)


def _copy(result: LearningResult) -> LearningResult:
    """What a fresh read returns: a new object each time, as parsing a response would give."""
    return dataclasses.replace(result)


def learned(
    hr_key: str, course: str, status: ResultStatus, vendor: str = "talentlms", **values: Any
) -> LearningResult:
    """One identified result of LMS user ``lms-<hr_key>``, as the pull engine delivers it."""
    return LearningResult(
        vendor=vendor,
        lms_user_id=values.pop("lms_user_id", f"lms-{hr_key}"),
        course_id=course,
        status=status,
        hr_key=hr_key,
        **values,
    )


def standard_lms(users: int = 4, courses: int = 2, **options: Any) -> FakeResultsLMS:
    """A deterministic LMS: users "u1".."uN", each with ``courses`` results."""
    lms = FakeResultsLMS(**options)
    for number in range(1, users + 1):
        for course in range(1, courses + 1):
            lms.set(f"u{number}", f"c{course}")
    return lms


class KillAfterWrite:
    """A sink wrapper whose process dies (SIGKILL) right after the first accepted batch."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.max_batch = inner.max_batch

    def write(self, results: Sequence[LearningResult]) -> None:
        self.inner.write(results)
        os.kill(os.getpid(), signal.SIGKILL)

    def close(self) -> None:
        self.inner.close()


def _main(db_url: str, sink_json: str) -> None:
    from pydantic import TypeAdapter

    from syncd.assemble import open_sink
    from syncd.config.schema.sinks import SinkConfig
    from syncd.engine.pull.run import PullSettings, run_pull
    from syncd.state.db import make_engine

    sink = open_sink("training", TypeAdapter(SinkConfig).validate_python(json.loads(sink_json)))
    engine = make_engine(db_url)
    run_pull(
        PullSettings(
            connector="lms",
            engine=engine,
            adapter=standard_lms(),
            sink=KillAfterWrite(sink),
            sink_name="training",
        )
    )
    raise SystemExit("the sink wrapper should have killed this process")


if __name__ == "__main__":
    _main(sys.argv[1], sys.argv[2])

"""Learning results out of iLMS, read only where something changed, in budgeted slices.

iLMS offers no "changed since" read (digest §7), and only the per-user transcripts carry
certification status and expiry, credits and hours (T1, L2854-L2870). Reading every
transcript costs a call per person and cycle, so a round goes from cheap to costly and
stops as soon as nothing moved:

1. list the courses (``includeHistorical=true``, paged);
2. ask each course's enrollment summary (R1, L4869-L4960: Enrolled, NotStarted,
   InProgress, Passed, Failed, Waived) and compare it with the counts kept from the
   last time that course was read through; a course whose counts did not move is done;
3. page a course whose counts moved (``includeInactiveUsers=true``) and compare each
   enrollment with what the connector last handed on (``ResultMemory``): status, start,
   completion, score. A new enrollment not yet started is handed on as it is (its
   transcript says nothing more); an unchanged one costs nothing more;
4. read the transcript of each person whose enrollment moved, once for all their
   courses, and hand on its records of courses that moved (or were never handed on).

Counts cannot show everything: a re-take that passes again, or two people swapping
statuses, leaves them as they were. So every ``results_recheck_every`` (target setting,
1 day unless set) a round reads every course's enrollments whatever its counts say
(still reading transcripts only of people whose enrollment moved). The first round is
such a round.

Where the organization lacks a feature (403, L5132): without the summary report every
course is read through for the rest of the round; without transcripts the moved
enrollments are handed on as they are, without certification, credits or hours.

A pull cycle may spend only its share of the credential's rate budget (``budget``
calls, ``call_budget``): every step makes at most one call, the scan stops when the
budget is spent, and the cursor (saved by the engine only once the sink accepted the
results before it) says where the next cycle goes on. A cycle finishes at most one round.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

import structlog

from syncd.model import LearningResult, ResultStatus
from syncd.vendors.base import PullPage
from syncd.vendors.ilms.api import (
    COURSE_ENROLLMENTS,
    COURSES,
    ENROLLMENTS_SUMMARY,
    USER_TRANSCRIPTS,
    ILMSApi,
    Page,
)
from syncd.vendors.ilms.results import from_enrollment, from_transcript, moved
from syncd.vendors.ilms.summary import GONE, course_counts
from syncd.vendors.pulling import ResultMemory
from syncd.vendors.scanning import BudgetedScan

log = structlog.get_logger(__name__)

BATCH = 100
"""Results handed to the engine at once: each batch is one delivery and one saved cursor."""

REFUSED = 403  # "feature is not available to the organization" (L5132)
GONE_STATUS = 404


def _names(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) and item for item in value)


def _counts(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in value
    )


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _moment(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


_VALID: dict[str, Callable[[Any], bool]] = {
    "counts": lambda v: isinstance(v, dict) and all(_counts(c) for c in v.values()),
    "listing": _whole,
    "queue": lambda v: v is None or _names(v),
    "course": lambda v: v is None or (isinstance(v, str) and bool(v)),
    "target": lambda v: v is None or _counts(v),
    "page": lambda v: _whole(v) and v >= 1,
    "more": lambda v: isinstance(v, bool),
    "todo": _names,
    "full": lambda v: isinstance(v, bool),
    "full_at": lambda v: v is None or _moment(v),
    "summaries": lambda v: isinstance(v, bool),
    "transcripts": lambda v: isinstance(v, bool),
    "rounds": _whole,
}


@dataclass(slots=True)
class Position:
    """Where the scan stands, saved as the pull's cursor (plain JSON)."""

    counts: dict[str, list[int]] = field(default_factory=dict)  # course -> last counts read
    listing: int = 0  # the course listing's next page while the round lists (0: not listing)
    queue: list[str] | None = None  # courses still to check this round (None: none begun)
    course: str | None = None  # the course being read through
    target: list[int] | None = None  # its counts when its reading began (None: unknown)
    page: int = 1  # its next enrollment page
    more: bool = False  # whether it has pages left
    todo: list[str] = field(default_factory=list)  # people whose transcripts are to read
    full: bool = False  # this round reads every course, whatever its counts
    full_at: str | None = None  # when the last such round began (ISO 8601, UTC)
    summaries: bool = True  # the summary report answered this round
    transcripts: bool = True  # transcripts answered this round
    rounds: int = 0  # rounds completed

    @classmethod
    def of(cls, cursor: Mapping[str, Any] | None) -> Position:
        """The saved position; a value that is not what it should be (an older or damaged
        cursor) gives way to its default."""
        cursor = cursor or {}
        kept = {
            spot.name: cursor[spot.name]
            for spot in fields(cls)
            if spot.name in cursor and _VALID[spot.name](cursor[spot.name])
        }
        return cls(**kept)

    def as_cursor(self) -> dict[str, Any]:
        return asdict(self)

    def known_courses(self) -> set[str]:
        return {*self.counts, *(self.queue or ()), *([self.course] if self.course else [])}


class ChangeScan(BudgetedScan[ILMSApi]):
    """One pull cycle's slice of the round, within ``budget`` API calls."""

    def __init__(
        self,
        api: ILMSApi,
        budget: int,
        memory: ResultMemory,
        recheck: timedelta | None,
        now: Callable[[], datetime],
    ) -> None:
        super().__init__(api, budget)
        self.memory = memory
        self.recheck = recheck
        self.now = now
        self.found: dict[str, LearningResult] = {}  # read this cycle, not yet handed on
        self.handed: dict[str, LearningResult] = {}  # handed on this cycle

    def pages(self, cursor: Mapping[str, Any] | None) -> Iterator[PullPage]:
        at = Position.of(cursor)
        while True:
            if at.course is not None and not at.todo and not at.more:
                self._course_read(at)
                if self.found:
                    yield self._page(at)
                continue
            if at.course is None and at.queue == [] and not at.listing:
                at.rounds, at.queue = at.rounds + 1, None
                log.info("ilms_round_complete", rounds=at.rounds, courses=len(at.counts))
                yield self._page(at)
                return
            if self.calls.left <= 0:
                log.info("ilms_scan_paused", budget=self.calls.budget, course=at.course)
                yield self._page(at)
                return
            self._step(at)
            if len(self.found) >= BATCH:
                yield self._page(at)

    # --- the steps: each makes one call -------------------------------------------------------

    def _step(self, at: Position) -> None:
        if at.todo:
            self._transcript(at, at.todo.pop(0))
        elif at.more:
            self._enrollments(at)
        elif at.listing or at.queue is None:
            self._list_courses(at)
        else:
            assert at.queue is not None
            self._check(at, at.queue.pop(0))

    def _list_courses(self, at: Position) -> None:
        if at.queue is None:
            self._begin_round(at)
        assert at.queue is not None
        page = self.api.page(COURSES, at.listing, params={"includeHistorical": "true"})
        assert isinstance(page, Page)
        listed = {str(item["ID"]) for item in page.items if item.get("ID")}
        at.queue = sorted({*at.queue, *listed})
        at.listing = 0 if page.is_last else at.listing + 1
        if not at.listing:  # courses gone since keep no counts
            at.counts = {course: n for course, n in at.counts.items() if course in at.queue}

    def _begin_round(self, at: Position) -> None:
        now = self.now()
        last = datetime.fromisoformat(at.full_at) if at.full_at else None
        due = self.recheck is not None and (last is None or now - last >= self.recheck)
        at.queue, at.listing, at.full = [], 1, due or not at.counts
        at.summaries = at.transcripts = True
        if at.full:
            at.full_at = now.isoformat()
        log.info("ilms_round_begins", full=at.full, rounds=at.rounds)

    def _check(self, at: Position, course: str) -> None:
        """The course's counts; it is read through when they moved (or in a full round)."""
        counts = None
        if at.summaries:
            counts = course_counts(self.api, ENROLLMENTS_SUMMARY, course)
            if counts is GONE:
                at.counts.pop(course, None)
                return
            if counts is None:
                log.warning("ilms_summary_unavailable", course=course, effect="read every course")
                at.summaries = False
        if counts is not None and not at.full and at.counts.get(course) == counts:
            return
        at.course, at.target, at.page, at.more, at.todo = course, counts, 1, True, []

    def _enrollments(self, at: Position) -> None:
        """One page of the course's enrollments: what moved waits for its transcript."""
        assert at.course is not None
        page = self.api.page(
            COURSE_ENROLLMENTS,
            at.page,
            path_params={"course_id": at.course},
            params={"includeInactiveUsers": "true"},
            accept=frozenset({GONE_STATUS}),
        )
        if not isinstance(page, Page):  # the course went away since it was listed
            at.more, at.target = False, None
            return
        at.page, at.more = at.page + 1, not page.is_last
        read = [r for r in map(from_enrollment, page.items) if r is not None]
        last = self._last(r.result_id for r in read)
        todo: dict[str, None] = {}
        for result in read:
            before = last.get(result.result_id)
            if before is not None and not moved(result, before):
                continue
            new_not_started = before is None and result.status is ResultStatus.NOT_STARTED
            if new_not_started or not at.transcripts:
                self._take([result])
            else:
                todo[result.lms_user_id] = None
        at.todo = list(todo)

    def _transcript(self, at: Position, user: str) -> None:
        answer = self.api.read(
            USER_TRANSCRIPTS,
            path_params={"user_id": user},
            accept=frozenset({REFUSED, GONE_STATUS}),
        )
        if isinstance(answer, list):
            known = at.known_courses()
            read = [from_transcript(user, row) for row in answer]
            results = [r for r in read if r is not None and r.course_id in known]
            last = self._last(r.result_id for r in results)
            self._take(r for r in results if r.result_id not in last or moved(r, last[r.result_id]))
        elif answer.status == REFUSED:  # read the page again and hand on what it shows
            log.warning("ilms_transcripts_unavailable", effect="enrollments handed on as read")
            at.transcripts, at.todo, at.page, at.more = False, [], max(1, at.page - 1), True

    def _course_read(self, at: Position) -> None:
        """The course was read through: its counts are now the ones to compare with."""
        assert at.course is not None
        if at.target is None:
            at.counts.pop(at.course, None)
        else:
            at.counts[at.course] = at.target
        at.course, at.target, at.page, at.more = None, None, 1, False

    # --- results ------------------------------------------------------------------------------

    def _take(self, results: Iterable[LearningResult]) -> None:
        for result in results:
            self.found[result.result_id] = result

    def _last(self, result_ids: Iterable[str]) -> dict[str, LearningResult]:
        """What was last handed on: this cycle first, then the connector's memory."""
        ids = list(dict.fromkeys(result_ids))
        seen = {**self.handed, **self.found}
        last = {rid: seen[rid] for rid in ids if rid in seen}
        rest = [rid for rid in ids if rid not in last]
        if rest:
            last.update(self.memory.last_results(rest))
        return last

    def _page(self, at: Position) -> PullPage:
        results = list(self.found.values())
        self.handed.update(self.found)
        self.found = {}
        return PullPage(results, at.as_cursor())

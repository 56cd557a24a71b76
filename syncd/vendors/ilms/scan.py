"""Learning results out of iLMS: a full scan of every course's enrollments, in slices.

iLMS offers no "changed since" read (digest §7): no endpoint takes a modified-since
or completed-since filter, and admins can back-date completions, so a watermark
would miss changes anyway. The digest's primary pull is per course: list the courses
(``includeHistorical=true``), then page each course's enrollments
(``includeInactiveUsers=true``, so leavers' results still arrive). A full scan costs
about one call per course and hundred enrollments.

A pull cycle may spend only its share of the credential's rate budget (``budget``
calls, see ``call_budget``), so the scan is cut into slices: each cycle reads as
many pages as the budget allows (and at least one page of enrollments after the
course listing, so that a scan always moves on) and the cursor remembers where it
stopped; the next
cycle goes on from there, and a finished scan starts over on the cycle after. The
pull engine delivers only new or changed results (content hash), so re-reading
unchanged enrollments costs calls but never a duplicate row in the sink.

The cursor (saved by the engine only once the sink accepted the page before it):

- ``course``/``page``: the course being read and the next page of its enrollments;
- ``after``: the last course read completely. Courses are taken in id order, so the
  place is found again when courses were added or removed since;
- ``scans``: full scans completed so far.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import structlog

from syncd.model import LearningResult
from syncd.vendors.base import PullPage
from syncd.vendors.ilms.api import COURSE_ENROLLMENTS, COURSES, ILMSApi, Page
from syncd.vendors.ilms.results import from_enrollment
from syncd.vendors.pulling import call_budget
from syncd.vendors.scanning import BudgetedScan, ScanPosition

__all__ = ["EnrollmentScan", "Position", "call_budget"]

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class Position(ScanPosition):
    course: str | None = None
    page: int = 1
    after: str | None = None
    scans: int = 0

    logged: ClassVar[tuple[str, ...]] = ("course", "page")


class EnrollmentScan(BudgetedScan[ILMSApi]):
    """A slice of the scan of every course's enrollments."""

    def pages(self, cursor: Mapping[str, Any] | None) -> Iterator[PullPage]:
        at = Position.of(cursor)
        courses = self._course_ids()
        pages_read = 0
        for course_id in self._remaining(courses, at):
            if at.course != course_id:
                at.course, at.page = course_id, 1
            while True:
                if self.calls.left <= 0 and pages_read:
                    yield self._paused("ilms_scan_paused", at, pages_this_cycle=pages_read)
                    return
                page = self._enrollments(course_id, at.page)
                pages_read += 1
                results = [] if page is None else self._results(page)
                if page is not None and not page.is_last:
                    at.page += 1
                    yield PullPage(results, at.as_cursor())
                    continue
                at.after, at.course, at.page = course_id, None, 1
                yield PullPage(results, at.as_cursor())
                break
        finished = Position(scans=at.scans + 1)
        log.info(
            "ilms_scan_complete",
            scans=finished.scans,
            courses=len(courses),
            pages_this_cycle=pages_read,
        )
        yield PullPage([], finished.as_cursor())

    @staticmethod
    def _remaining(courses: list[str], at: Position) -> list[str]:
        """The courses still to read in this scan, in id order, from where it stopped."""
        if at.course is not None and at.course in courses:
            return courses[courses.index(at.course) :]
        last = at.course or at.after  # a course read in part is gone: go on after it
        at.course, at.page = None, 1
        if last is None:
            return courses
        return [course for course in courses if course > last]

    def _course_ids(self) -> list[str]:
        ids: set[str] = set()
        for page in self.api.pages(COURSES, params={"includeHistorical": "true"}):
            ids.update(str(item["ID"]) for item in page.items if item.get("ID"))
        return sorted(ids)

    def _enrollments(self, course_id: str, number: int) -> Page | None:
        """A page of the course's enrollments; None when the course has gone (404)."""
        page = self.api.page(
            COURSE_ENROLLMENTS,
            number,
            path_params={"course_id": course_id},
            params={"includeInactiveUsers": "true"},
            accept=frozenset({404}),
        )
        return page if isinstance(page, Page) else None

    def _results(self, page: Page) -> list[LearningResult]:
        results = []
        for row in page.items:
            result = from_enrollment(row)
            if result is not None:
                results.append(result)
        return results

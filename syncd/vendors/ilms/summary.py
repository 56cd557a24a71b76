"""A course's enrollment counts from iLMS's enrollment summary report (R1, L4869-L5097).

``GET /reports/enrollmentssummary?courseid=…&includeinactiveusers=true`` answers a bare
array: for a course, one row with ``Enrolled``, ``NotStarted``, ``InProgress``,
``Passed``, ``Failed`` and ``Waived`` (L4936-L4958); for a curriculum or an ILT course,
more rows, one per sub-course or session (L4961-L5075), told apart by
``ParentCurriculumIDOfCourse`` and ``SessionID``. Inactive users are counted, as the
enrollment lists syncd reads include them. The report is not documented as paged.

Counts are plain numbers in the examples; numeric text is read too (Q25). A course
row missing from the answer, or counts that are not numbers, mean "unknown", never zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from syncd.vendors.ilms.api import Answer, ILMSApi

COUNTS = ("Enrolled", "NotStarted", "InProgress", "Passed", "Failed", "Waived")
GONE: Final = "gone"
"""The course no longer exists (404)."""


def course_counts(api: ILMSApi, template: str, course_id: str) -> list[int] | str | None:
    """The course's counts in ``COUNTS`` order; ``GONE``; or None when the organization has no
    summary report (403) or its answer shows no usable row for the course."""
    answer = api.read(
        template,
        params={"courseid": course_id, "includeinactiveusers": "true"},
        accept=frozenset({403, 404}),
    )
    if isinstance(answer, Answer):
        return GONE if answer.status == 404 else None
    for row in answer:
        if _is_course_row(row, course_id):
            return _counts(row)
    return None


def _is_course_row(row: Mapping[str, Any], course_id: str) -> bool:
    return (
        str(row.get("CourseID", "")) == course_id
        and row.get("SessionID") in (None, 0, "0", "")
        and not row.get("ParentCurriculumIDOfCourse")
    )


def _counts(row: Mapping[str, Any]) -> list[int] | None:
    counts = []
    for name in COUNTS:
        value = row.get(name)
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            return None
        counts.append(value)
    return counts

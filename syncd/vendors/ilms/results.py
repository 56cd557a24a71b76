"""One iLMS enrollment record as a ``LearningResult`` (digest §6.7, §7).

An enrollment record (E1, L4121-L4153) carries the learner (``User.ID``), the course,
``CourseStatus``, ``Score``, ``StartDate`` and ``CompletionDate``. Its quirks:

- statuses are shown only as "Not Started" and "Pass"; writes and the summary report
  add fail, waived and in progress (Q26), so they are read without case or spaces,
  and an unknown one is judged by its completion date and logged;
- times have no zone and 0-3 fractional digits (Q48): read as UTC;
- ``Score`` is ``null`` until there is one, and a score of a course not started says
  nothing (Q25);
- iLMS gives no progress percentage and no certificate document: those stay empty,
  never invented (SPEC §4).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import structlog

from syncd.model import LearningResult, ResultStatus

log = structlog.get_logger(__name__)

VENDOR = "ilms"

STATUSES = {
    "notstarted": ResultStatus.NOT_STARTED,
    "inprogress": ResultStatus.IN_PROGRESS,
    "incomplete": ResultStatus.IN_PROGRESS,
    "started": ResultStatus.IN_PROGRESS,
    "pass": ResultStatus.PASSED,
    "passed": ResultStatus.PASSED,
    "fail": ResultStatus.FAILED,
    "failed": ResultStatus.FAILED,
    "waived": ResultStatus.WAIVED,
    "completed": ResultStatus.COMPLETED,
    "complete": ResultStatus.COMPLETED,
}

_RAW_KEYS = ("EnrollmentDate", "DueDate", "RequirementType", "TimeSpent", "SessionID")


def parse_time(value: Any) -> datetime | None:
    """``2013-12-08T10:05:59.877`` (no zone, any fraction) as UTC; anything else None."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        head, _, fraction = text.partition(".")
        try:
            moment = datetime.fromisoformat(head)
        except ValueError:
            return None
        digits = "".join(c for c in fraction if c.isdigit())[:6]
        if digits:
            moment = moment.replace(microsecond=int(digits.ljust(6, "0")))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def result_status(
    value: Any, completed_at: datetime | None, started_at: datetime | None
) -> ResultStatus:
    """The SPEC status of an iLMS course status (any case or spacing)."""
    key = "".join(str(value or "").split()).casefold().replace("_", "").replace("-", "")
    if key in STATUSES:
        return STATUSES[key]
    log.warning("ilms_unknown_course_status", status=str(value)[:40])
    if completed_at is not None:
        return ResultStatus.COMPLETED
    return ResultStatus.IN_PROGRESS if started_at is not None else ResultStatus.NOT_STARTED


def _score(value: Any, status: ResultStatus) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if not isinstance(value, int | float):
        return None
    if status is ResultStatus.NOT_STARTED and not value:
        return None
    return float(min(100, max(0, value)))


def from_enrollment(row: Mapping[str, Any]) -> LearningResult | None:
    """The result an enrollment record describes; None when it names no user or course."""
    user = row.get("User")
    user_id = user.get("ID") if isinstance(user, Mapping) else None
    course_id = row.get("CourseID")
    if user_id is None or not course_id:
        return None
    started_at = parse_time(row.get("StartDate"))
    completed_at = parse_time(row.get("CompletionDate"))
    status = result_status(row.get("CourseStatus", row.get("Status")), completed_at, started_at)
    name = row.get("CourseName")
    raw = {key: row[key] for key in _RAW_KEYS if key in row}
    if isinstance(user, Mapping) and user.get("UserStatus") is not None:
        raw["UserStatus"] = user["UserStatus"]
    return LearningResult(
        vendor=VENDOR,
        lms_user_id=str(user_id),
        course_id=str(course_id),
        course_name=name.strip() if isinstance(name, str) and name.strip() else None,
        status=status,
        score=_score(row.get("Score"), status),
        started_at=started_at,
        completed_at=completed_at,
        raw=raw,
    )

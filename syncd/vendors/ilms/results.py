"""One iLMS enrollment record or transcript record as a ``LearningResult`` (digest §6.6,
§6.7, §7).

An enrollment record (E1, L4121-L4153) carries the learner (``User.ID``), the course,
``CourseStatus``, ``Score``, ``StartDate`` and ``CompletionDate``. A transcript record
(T1, L2854-L2870) carries the same for one learner, with ``Status`` for the status, and
what only it holds: ``CertificationStatus``, ``CertificationExpirationDate``, ``Credits``
and ``Hours`` (numbers there, text in the course listing: Q25). Their quirks:

- statuses are shown only as "Not Started" and "Pass"; writes and the summary report
  add fail, waived and in progress (Q26), so they are read without case or spaces,
  and an unknown one is judged by its completion date and logged;
- times have no zone and 0-3 fractional digits (Q48): read as UTC;
- ``Score`` is ``null`` until there is one, and a score of a course not started says
  nothing (Q25);
- iLMS gives no progress percentage and no certificate document: those stay empty,
  never invented (SPEC §4); ``TimeSpent`` (unit not documented) is kept raw;
- ``CertificationStatus`` is shown as "Never Certified" or null, other values are not
  documented: it is passed on as iLMS words it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import structlog

from syncd.model import LearningResult, ResultStatus
from syncd.vendors.ilms.api import VENDOR

log = structlog.get_logger(__name__)

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

_RAW_KEYS = (
    "EnrollmentDate",
    "DueDate",
    "RequirementType",
    "TimeSpent",
    "SessionID",
    "LicenseExpirationDate",
)


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


def _number(value: Any) -> float | None:
    """A number, or numeric text (Q25); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    return float(value) if isinstance(value, int | float) else None


def _score(value: Any, status: ResultStatus) -> float | None:
    number = _number(value)
    if number is None or (status is ResultStatus.NOT_STARTED and not number):
        return None
    return min(100.0, max(0.0, number))


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def from_enrollment(row: Mapping[str, Any]) -> LearningResult | None:
    """The result an enrollment record describes; None when it names no user or course."""
    user = row.get("User")
    user_id = user.get("ID") if isinstance(user, Mapping) else None
    if user_id is None:
        return None
    raw = {} if user.get("UserStatus") is None else {"UserStatus": user["UserStatus"]}
    return _result(str(user_id), row, row.get("CourseStatus", row.get("Status")), raw)


def from_transcript(user_id: str, row: Mapping[str, Any]) -> LearningResult | None:
    """The result a transcript record of ``user_id`` describes, with its certification,
    credits and hours; None when it names no course or is a session's (``SessionID``
    other than 0 or null: sessions are not read)."""
    if row.get("SessionID") not in (None, 0, "0", ""):
        return None
    result = _result(user_id, row, row.get("Status", row.get("CourseStatus")))
    if result is None:
        return None
    return replace(
        result,
        credits=_number(row.get("Credits")),
        hours=_number(row.get("Hours")),
        certification_status=_text(row.get("CertificationStatus")),
        certificate_expires_at=parse_time(row.get("CertificationExpirationDate")),
    )


def moved(read: LearningResult, last: LearningResult) -> bool:
    """Whether an enrollment record says more than ``last`` (what was handed on) knew:
    another status, start or completion (to the second, Q48), or another score where
    the record has one (enrollments show null where transcripts show 0, Q25)."""
    if read.status is not last.status:
        return True
    if _second(read.started_at) != _second(last.started_at):
        return True
    if _second(read.completed_at) != _second(last.completed_at):
        return True
    return read.score is not None and read.score != last.score


def _second(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC).replace(microsecond=0)


def _result(
    user_id: str, row: Mapping[str, Any], status_text: Any, raw: Mapping[str, Any] | None = None
) -> LearningResult | None:
    course_id = row.get("CourseID")
    if not course_id:
        return None
    started_at = parse_time(row.get("StartDate"))
    completed_at = parse_time(row.get("CompletionDate"))
    status = result_status(status_text, completed_at, started_at)
    return LearningResult(
        vendor=VENDOR,
        lms_user_id=user_id,
        course_id=str(course_id),
        course_name=_text(row.get("CourseName")),
        status=status,
        score=_score(row.get("Score"), status),
        started_at=started_at,
        completed_at=completed_at,
        raw={**{key: row[key] for key in _RAW_KEYS if key in row}, **(raw or {})},
    )

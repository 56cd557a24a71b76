"""A learning result as the state store keeps it (``parked_results.result``,
``delivered_results.result``): everything a sink writes, plus the attempt.

``raw`` is left out (sinks never write it). Values are JSON: dates as ISO 8601 UTC
text, the status as its value. A copy written before a column existed reads back
with that value empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from syncd.model import LearningResult, ResultStatus

DATE_FIELDS = ("started_at", "completed_at", "certificate_expires_at", "updated_at")
PLAIN_FIELDS = (
    "vendor",
    "lms_user_id",
    "course_id",
    "course_name",
    "progress",
    "score",
    "certificate_url",
    "credits",
    "hours",
    "certification_status",
)


def encode_result(result: LearningResult) -> dict[str, Any]:
    row = result.as_row()
    value = {name: row[name] for name in (*PLAIN_FIELDS, *DATE_FIELDS, "status")}
    value["attempt"] = result.attempt
    return value


def decode_result(
    value: Mapping[str, Any], connector: str, hr_key: str | None = None
) -> LearningResult:
    dates = {
        name: datetime.fromisoformat(value[name]) if value.get(name) else None
        for name in DATE_FIELDS
    }
    return LearningResult(
        status=ResultStatus(value["status"]),
        connector=connector,
        hr_key=hr_key,
        attempt=str(value.get("attempt", "1")),
        **{name: value.get(name) for name in PLAIN_FIELDS},
        **dates,
    )

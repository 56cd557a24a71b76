"""Results parked until their LMS user is linked to an HR person (``parked_results``).

An incremental pull never returns such a result again, so the copy kept here,
written in the transaction that moves the cursor past it, is what gets
delivered once the person is linked.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select

from syncd.model import LearningResult, ResultStatus
from syncd.state.store import CHUNK, now, upsert_many
from syncd.state.tables import parked_results

_DATE_FIELDS = ("started_at", "completed_at", "certificate_expires_at", "updated_at")
_PLAIN_FIELDS = (
    "vendor",
    "lms_user_id",
    "course_id",
    "course_name",
    "progress",
    "score",
    "certificate_url",
)


def park(conn: Connection, connector: str, results: Sequence[LearningResult]) -> None:
    """Keep results of unknown users (the latest copy of each) for a later cycle."""
    stamp = now()
    rows = {
        result.result_id: {
            "connector": connector,
            "result_id": result.result_id,
            "result": _encode(result),
            "parked_at": stamp,
        }
        for result in results
    }
    upsert_many(conn, parked_results, list(rows.values()), ("connector", "result_id"))


def parked(conn: Connection, connector: str) -> Iterator[LearningResult]:
    query = select(parked_results.c.result).where(parked_results.c.connector == connector)
    for row in conn.execution_options(yield_per=2_000).execute(query):
        yield _decode(row.result, connector)


def unpark(conn: Connection, connector: str, result_ids: Iterable[str]) -> None:
    ids = list(result_ids)
    for start in range(0, len(ids), CHUNK):
        conn.execute(
            delete(parked_results).where(
                parked_results.c.connector == connector,
                parked_results.c.result_id.in_(ids[start : start + CHUNK]),
            )
        )


def count_parked(conn: Connection, connector: str) -> int:
    query = (
        select(func.count())
        .select_from(parked_results)
        .where(parked_results.c.connector == connector)
    )
    return int(conn.execute(query).scalar_one())


def _encode(result: LearningResult) -> dict[str, Any]:
    """Everything a sink writes, plus the attempt (``raw`` is left out: sinks never write it)."""
    row = result.as_row()
    value = {name: row[name] for name in (*_PLAIN_FIELDS, *_DATE_FIELDS, "status")}
    value["attempt"] = result.attempt
    return value


def _decode(value: Mapping[str, Any], connector: str) -> LearningResult:
    dates = {
        name: datetime.fromisoformat(value[name]) if value.get(name) else None
        for name in _DATE_FIELDS
    }
    return LearningResult(
        status=ResultStatus(value["status"]),
        connector=connector,
        attempt=str(value.get("attempt", "1")),
        **{name: value.get(name) for name in _PLAIN_FIELDS},
        **dates,
    )

"""Learning results as delivered, per person, and the certifications that expire soon:
``syncd results NAME`` and the ``syncd_certifications_expiring`` gauge.

Both read ``delivered_results`` of the connector's sink: what HR was given, not what the
LMS may hold since. A certification "expires within" a window when its expiry is after
now and no later than now plus the window; one already past is ``expired``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from syncd.model import LearningResult
from syncd.state.result_rows import decode_result
from syncd.state.tables import delivered_results

LISTED = (
    "course_id",
    "course_name",
    "status",
    "progress",
    "score",
    "completed_at",
    "credits",
    "hours",
    "certification_status",
    "certificate_expires_at",
)
"""The fields of each result ``syncd results`` shows (JSON gives them all)."""

EXPIRED, EXPIRING, VALID = "expired", "expiring", "valid"


@dataclass(frozen=True, slots=True)
class Listing:
    """A connector's delivered results, grouped by person, as of one moment."""

    connector: str
    sink: str
    as_of: datetime
    within: timedelta
    people: dict[str, list[dict[str, Any]]]  # HR key -> results, by course
    not_kept: int  # delivered before the store kept results: not listable until they change

    def expiring(self) -> list[tuple[str, dict[str, Any]]]:
        """(HR key, result) of every certification expiring within the window, soonest first."""
        found = [
            (hr_key, result)
            for hr_key, results in self.people.items()
            for result in results
            if result["certification"] == EXPIRING
        ]
        return sorted(found, key=lambda pair: (pair[1]["certificate_expires_at"], pair[0]))


def certification_state(expires: datetime | None, now: datetime, within: timedelta) -> str | None:
    """``expired``, ``expiring`` (within the window) or ``valid``; None without an expiry."""
    if expires is None:
        return None
    if expires <= now:
        return EXPIRED
    return EXPIRING if expires <= now + within else VALID


def list_results(
    engine: Engine,
    connector: str,
    sink: str,
    *,
    within: timedelta,
    now: datetime | None = None,
    expiring_only: bool = False,
) -> Listing:
    """Every result ``sink`` accepted from ``connector``, per person (HR key order)."""
    moment = now or datetime.now(UTC)
    people: dict[str, list[dict[str, Any]]] = {}
    not_kept = 0
    with engine.connect() as conn:
        for hr_key, result in _delivered(conn, connector, sink):
            if result is None:
                not_kept += 1
                continue
            shown = _shown(result, moment, within)
            if expiring_only and shown["certification"] != EXPIRING:
                continue
            people.setdefault(hr_key, []).append(shown)
    for results in people.values():
        results.sort(key=lambda r: (r["course_name"] or "", r["course_id"]))
    return Listing(connector, sink, moment, within, dict(sorted(people.items())), not_kept)


def count_expiring(
    conn: Connection, connector: str, sink: str, within: timedelta, now: datetime | None = None
) -> int:
    """How many certifications ``sink`` was given expire after now and within ``within``."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    expires = delivered_results.c.certificate_expires_at
    query = (
        select(func.count())
        .select_from(delivered_results)
        .where(
            delivered_results.c.connector == connector,
            delivered_results.c.sink == sink,
            expires > moment,
            expires <= moment + within,
        )
    )
    return int(conn.execute(query).scalar_one())


def _delivered(
    conn: Connection, connector: str, sink: str
) -> Iterator[tuple[str, LearningResult | None]]:
    table = delivered_results
    query = (
        select(table.c.hr_key, table.c.result)
        .where(table.c.connector == connector, table.c.sink == sink)
        .order_by(table.c.hr_key, table.c.result_id)
    )
    for row in conn.execution_options(yield_per=2_000).execute(query):
        value = row.result
        yield row.hr_key or "", None if value is None else decode_result(value, connector)


def listed(result: LearningResult) -> dict[str, Any]:
    """The ``LISTED`` fields of a result, as ``syncd results`` shows them."""
    row = result.as_row()
    return {name: row[name] for name in LISTED}


def _shown(result: LearningResult, now: datetime, within: timedelta) -> dict[str, Any]:
    row = result.as_row()
    shown = listed(result)
    shown["vendor"] = row["vendor"]
    shown["lms_user_id"] = row["lms_user_id"]
    shown["certification"] = certification_state(result.certificate_expires_at, now, within)
    return shown

"""Everything the state store knows about one person: ``syncd trace NAME HR_KEY``.

Answers the question an HR-IT engineer is asked most: "what happened to this
person?" — their link (LMS id, status, what was last pushed), every operation syncd
recorded for them and how it ended, the errors open and resolved, and the learning
results delivered to the HR side. Nothing here is a secret: passwords are never stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, Table, func, select

from syncd.state.status import ERROR_COLUMNS
from syncd.state.tables import delivered_results, links, operations, sync_errors

RECENT = 50
"""How many operations, errors and results a trace lists, newest first."""


def _plain(row: Any) -> dict[str, Any]:
    return {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in row._mapping.items()
    }


LISTED: dict[str, tuple[Table, tuple[str, ...], str]] = {
    "operations": (
        operations,
        (
            "id",
            "run_id",
            "kind",
            "target",
            "state",
            "attempts",
            "job_id",
            "error",
            "created_at",
            "updated_at",
        ),
        "id",
    ),
    "errors": (
        sync_errors,
        ("direction", *ERROR_COLUMNS[1:], "resolved_at"),  # the person is the trace's
        "last_seen_at",
    ),
    "results": (delivered_results, ("sink", "result_id", "delivered_at"), "delivered_at"),
}
"""What a trace lists of each table: (table, the columns shown, the column that orders newest
first)."""


def person_trace(engine: Engine, connector: str, hr_key: str) -> dict[str, Any]:
    """The person's link, recent operations, errors and delivered results (JSON-ready)."""
    with engine.connect() as conn:
        link = conn.execute(
            select(
                links.c.remote_id,
                links.c.status,
                links.c.active,
                links.c.fields,
                links.c.groups,
                links.c.courses,
                links.c.updated_at,
            ).where(*_of_person(links, connector, hr_key))
        ).first()
        recent = {
            name: [
                _plain(row)
                for row in conn.execute(_recent(table, columns, newest, connector, hr_key))
            ]
            for name, (table, columns, newest) in LISTED.items()
        }
        delivered = conn.execute(
            select(func.count())
            .select_from(delivered_results)
            .where(*_of_person(delivered_results, connector, hr_key))
        ).scalar_one()
    return {
        "connector": connector,
        "hr_key": hr_key,
        "link": _plain(link) if link is not None else None,
        "operations": recent["operations"],
        "errors": recent["errors"],
        "results_delivered": delivered,
        "results": recent["results"],
    }


def _of_person(table: Table, connector: str, hr_key: str) -> tuple[ColumnElement[bool], ...]:
    return (table.c.connector == connector, table.c.hr_key == hr_key)


def _recent(
    table: Table, columns: tuple[str, ...], newest: str, connector: str, hr_key: str
) -> Select:
    """The person's ``RECENT`` newest rows of ``table``."""
    return (
        select(*(table.c[name] for name in columns))
        .where(*_of_person(table, connector, hr_key))
        .order_by(table.c[newest].desc())
        .limit(RECENT)
    )

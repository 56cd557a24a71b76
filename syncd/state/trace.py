"""Everything the state store knows about one person: ``syncd trace NAME HR_KEY``.

Answers the question an HR-IT engineer is asked most: "what happened to this
person?" — their link (LMS id, status, what was last pushed), every operation syncd
recorded for them and how it ended, the errors open and resolved, and the learning
results delivered to the HR side. Nothing here is a secret: passwords are never stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select

from syncd.state.tables import delivered_results, links, operations, sync_errors

RECENT = 50
"""How many operations, errors and results a trace lists, newest first."""


def _plain(row: Any) -> dict[str, Any]:
    return {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in row._mapping.items()
    }


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
            ).where(links.c.connector == connector, links.c.hr_key == hr_key)
        ).first()
        ops = conn.execute(
            select(
                operations.c.id,
                operations.c.run_id,
                operations.c.kind,
                operations.c.target,
                operations.c.state,
                operations.c.attempts,
                operations.c.job_id,
                operations.c.error,
                operations.c.created_at,
                operations.c.updated_at,
            )
            .where(operations.c.connector == connector, operations.c.hr_key == hr_key)
            .order_by(operations.c.id.desc())
            .limit(RECENT)
        ).all()
        errors = conn.execute(
            select(
                sync_errors.c.direction,
                sync_errors.c.operation,
                sync_errors.c.reason,
                sync_errors.c.first_seen_at,
                sync_errors.c.last_seen_at,
                sync_errors.c.attempts,
                sync_errors.c.resolved_at,
            )
            .where(sync_errors.c.connector == connector, sync_errors.c.hr_key == hr_key)
            .order_by(sync_errors.c.last_seen_at.desc())
            .limit(RECENT)
        ).all()
        delivered_filter = (
            delivered_results.c.connector == connector,
            delivered_results.c.hr_key == hr_key,
        )
        results = conn.execute(
            select(
                delivered_results.c.sink,
                delivered_results.c.result_id,
                delivered_results.c.delivered_at,
            )
            .where(*delivered_filter)
            .order_by(delivered_results.c.delivered_at.desc())
            .limit(RECENT)
        ).all()
        delivered = conn.execute(
            select(func.count()).select_from(delivered_results).where(*delivered_filter)
        ).scalar_one()
    return {
        "connector": connector,
        "hr_key": hr_key,
        "link": _plain(link) if link is not None else None,
        "operations": [_plain(row) for row in ops],
        "errors": [_plain(row) for row in errors],
        "results_delivered": delivered,
        "results": [_plain(row) for row in results],
    }

"""Reading the contract tables for ``syncd status`` and ``syncd errors`` (and /status)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, inspect, select

from syncd.state.tables import sync_errors, sync_status

STATUS_COLUMNS = (
    "connector",
    "direction",
    "state",
    "last_started_at",
    "last_finished_at",
    "last_success_at",
    "next_run_at",
    "pending_ops",
    "failed_ops",
    "unlinked_results",
    "last_error",
)

ERROR_COLUMNS = ("hr_key", "operation", "reason", "first_seen_at", "last_seen_at", "attempts")


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def status_rows(engine: Engine) -> list[dict[str, Any]]:
    """One dict per connector and direction, ordered; empty on an empty store.

    A store not yet upgraded (``syncd status`` does not migrate) lacks the newer columns
    (``unlinked_results``): they read as None instead of failing.
    """
    present = {column["name"] for column in inspect(engine).get_columns("sync_status")}
    query = select(*(sync_status.c[name] for name in STATUS_COLUMNS if name in present))
    query = query.order_by(sync_status.c.connector, sync_status.c.direction)
    with engine.connect() as conn:
        rows = [dict(row._mapping) for row in conn.execute(query)]
    return [{name: _plain(row.get(name)) for name in STATUS_COLUMNS} for row in rows]


def error_rows(engine: Engine, connector: str) -> list[dict[str, Any]]:
    """Unresolved errors of one connector, newest first."""
    query = (
        select(sync_errors.c.direction, *(sync_errors.c[name] for name in ERROR_COLUMNS))
        .where(sync_errors.c.connector == connector, sync_errors.c.resolved_at.is_(None))
        .order_by(sync_errors.c.last_seen_at.desc(), sync_errors.c.hr_key)
    )
    with engine.connect() as conn:
        return [{k: _plain(v) for k, v in row._mapping.items()} for row in conn.execute(query)]

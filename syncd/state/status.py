"""Reading the contract tables for ``syncd status`` and ``syncd errors`` (and /status)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select

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
    "last_error",
)

ERROR_COLUMNS = ("hr_key", "operation", "reason", "first_seen_at", "last_seen_at", "attempts")


def _plain(value: Any) -> Any:
    """JSON-ready; a time always with its zone (SQLite hands back the stored UTC time naive)."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    return value


def status_rows(engine: Engine) -> list[dict[str, Any]]:
    """One dict per connector and direction, ordered; empty on an empty store."""
    query = select(*(sync_status.c[name] for name in STATUS_COLUMNS)).order_by(
        sync_status.c.connector, sync_status.c.direction
    )
    with engine.connect() as conn:
        return [{k: _plain(v) for k, v in row._mapping.items()} for row in conn.execute(query)]


def error_rows(engine: Engine, connector: str) -> list[dict[str, Any]]:
    """Unresolved errors of one connector, newest first."""
    query = (
        select(sync_errors.c.direction, *(sync_errors.c[name] for name in ERROR_COLUMNS))
        .where(sync_errors.c.connector == connector, sync_errors.c.resolved_at.is_(None))
        .order_by(sync_errors.c.last_seen_at.desc(), sync_errors.c.hr_key)
    )
    with engine.connect() as conn:
        return [{k: _plain(v) for k, v in row._mapping.items()} for row in conn.execute(query)]

"""Reading the contract tables for ``syncd status`` and ``syncd errors`` (and /status).

The status rows are read as they are *now*: a push's ``pending_ops`` and ``failed_ops``
are counted in the outbox at the time of reading (a first sync of thousands shows its
queue while it runs, not the number its last cycle ended with), and a row left
``running`` by a process that died (no live holder of its lease) reads ``interrupted``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, inspect, select

from syncd.model import OpState
from syncd.state.lease import cycle_lease, lease_held
from syncd.state.store import OPEN_STATES
from syncd.state.tables import operations, sync_errors, sync_status

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

OUTBOX_DIRECTIONS = ("push", "reconcile")
"""Directions whose status counts are the connector's outbox (a reconciliation writes there)."""

INTERRUPTED = "interrupted"
"""The state shown for a row left ``running`` by a process that is gone."""

ERROR_COLUMNS = (
    "hr_key",
    "operation",
    "target",
    "reason",
    "first_seen_at",
    "last_seen_at",
    "attempts",
)


def _plain(value: Any) -> Any:
    """JSON-ready; a time always with its zone (SQLite hands back the stored UTC time naive)."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    return value


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
        outbox = outbox_counts(conn)
    for row in rows:
        if row["direction"] in OUTBOX_DIRECTIONS:
            pending, failed = outbox.get(row["connector"], (0, 0))
            row["pending_ops"], row["failed_ops"] = pending, failed
        if row["state"] == "running" and _abandoned(engine, row["connector"], row["direction"]):
            row["state"] = INTERRUPTED
    return [{name: _plain(row.get(name)) for name in STATUS_COLUMNS} for row in rows]


def outbox_counts(conn: Connection) -> dict[str, tuple[int, int]]:
    """Connector -> (operations waiting in the outbox, failed operations), counted now."""
    query = select(operations.c.connector, operations.c.state, func.count()).group_by(
        operations.c.connector, operations.c.state
    )
    waiting = {state.value for state in OPEN_STATES}
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for connector, state, count in conn.execute(query):
        if state in waiting:
            counts[connector][0] += count
        elif state == OpState.FAILED.value:
            counts[connector][1] += count
    return {connector: (pending, failed) for connector, (pending, failed) in counts.items()}


def open_error_counts(engine: Engine) -> dict[str, int]:
    """Connector -> unresolved ``sync_errors`` rows, every direction."""
    query = (
        select(sync_errors.c.connector, func.count())
        .where(sync_errors.c.resolved_at.is_(None))
        .group_by(sync_errors.c.connector)
    )
    with engine.connect() as conn:
        return {connector: int(count) for connector, count in conn.execute(query)}


def _abandoned(engine: Engine, connector: str, direction: str) -> bool:
    """A ``running`` row whose cycle no live process holds, read twice: a cycle that just
    ended released its lease after writing its row, so the row no longer says running."""
    if lease_held(engine, cycle_lease(connector, direction)):
        return False
    with engine.connect() as conn:
        state = conn.execute(
            select(sync_status.c.state).where(
                sync_status.c.connector == connector, sync_status.c.direction == direction
            )
        ).scalar()
    return state == "running"


def error_rows(engine: Engine, connector: str) -> list[dict[str, Any]]:
    """Unresolved errors of one connector, newest first, each saying how it is retried.

    ``kind``: ``transient`` (the vendor's passing fault) or ``permanent`` (the record or
    a refusal must change). ``retry``: ``automatic`` (a later cycle tries again, from
    ``next_attempt_at`` when set), ``syncd retry`` (a transient failure that outlasted
    its attempts) or ``after a fix``. ``target``: the group, course or learning path a
    membership or enrollment error is about ("" for none; also on a store not yet upgraded).
    """
    present = {column["name"] for column in inspect(engine).get_columns("sync_errors")}
    joined = sync_errors.outerjoin(operations, operations.c.id == sync_errors.c.operation_id)
    query = (
        select(
            sync_errors.c.direction,
            *(sync_errors.c[name] for name in ERROR_COLUMNS if name in present),
            sync_errors.c.transient,
            operations.c.state.label("operation_state"),
            operations.c.next_attempt_at,
        )
        .select_from(joined)
        .where(sync_errors.c.connector == connector, sync_errors.c.resolved_at.is_(None))
        .order_by(sync_errors.c.last_seen_at.desc(), sync_errors.c.hr_key)
    )
    with engine.connect() as conn:
        rows = [dict(row._mapping) for row in conn.execute(query)]
    for row in rows:
        row.setdefault("target", "")
    return [_with_retry(row) for row in rows]


def _with_retry(row: dict[str, Any]) -> dict[str, Any]:
    transient = bool(row.pop("transient"))
    state = row.pop("operation_state")
    waiting = row.pop("next_attempt_at")
    if not transient:
        retry = "after a fix"
    elif state == OpState.FAILED.value:
        retry = "syncd retry"
    else:
        retry = "automatic"
    row["kind"] = "transient" if transient else "permanent"
    row["retry"] = retry
    row["next_attempt_at"] = waiting if retry == "automatic" else None
    return {k: _plain(v) for k, v in row.items()}


def grouped_errors(rows: list[dict[str, Any]], shown: int = 5) -> list[dict[str, Any]]:
    """Errors with one reason together: how many, whose (the first ``shown`` keys), most
    frequent first; the first seen, last seen and next attempt of the group."""
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        key = (row["direction"], row["operation"], row["kind"], row["retry"], row["reason"])
        groups[key].append(row)
    grouped = []
    for (direction, operation, kind, retry, reason), members in groups.items():
        targets = {m.get("target") for m in members}
        one_target = len(targets) == 1
        # Many people refused the same item, which the reason names: list just the people.
        named = len(members) > 1 and one_target and str(next(iter(targets)) or "") in reason
        keys = sorted(str(m["hr_key"]) if named else _whose(m) for m in members)
        more = len(keys) - shown
        people = ", ".join(keys[:shown]) + (f" (+{more} more)" if more > 0 else "")
        attempts = [m["next_attempt_at"] for m in members if m["next_attempt_at"]]
        grouped.append(
            {
                "count": len(members),
                "direction": direction,
                "operation": operation,
                "kind": kind,
                "retry": retry,
                "reason": reason,
                "target": next(iter(targets)) if one_target else None,
                "people": people,
                "first_seen_at": min(m["first_seen_at"] for m in members),
                "last_seen_at": max(m["last_seen_at"] for m in members),
                "next_attempt_at": min(attempts) if attempts else None,
            }
        )
    grouped.sort(key=lambda g: (-g["count"], g["direction"], g["operation"], g["reason"]))
    return grouped


def _whose(row: dict[str, Any]) -> str:
    """The person of an error row, with the group or course it is about (``E1 -> 101``)."""
    target = row.get("target")
    return f"{row['hr_key']} -> {target}" if target else str(row["hr_key"])

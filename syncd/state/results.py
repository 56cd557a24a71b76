"""The pull engine's queries: cursors, what each sink already accepted, parked results.

- A cursor is where a pull stopped, per connector and sink (``pull:<sink>``), so a
  connector whose sink is switched reads again from the start for the new sink.
- ``delivered_results`` holds, per connector, sink and result, the content hash
  the sink accepted: a result is delivered again only when its hash changes.
- A result whose LMS user has no link yet is *parked*: kept in ``cursors`` under
  ``parked:<result_id>`` (a position the pull has not finished), written in the
  same transaction as the cursor that moves past it. An incremental pull never
  returns it again, so this copy is what gets delivered once the person is linked.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from syncd.model import LearningResult, ResultStatus
from syncd.state.store import CHUNK, now
from syncd.state.tables import cursors, delivered_results, links, sync_errors, sync_runs

PARKED_PREFIX = "parked:"
_NAME_LIMIT = 100  # cursors.name length
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


def _upsert_many(conn: Connection, table: Any, rows: list[dict[str, Any]], keys: Sequence[str]):
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(table)
    columns = [name for name in rows[0] if name not in keys]
    statement = statement.on_conflict_do_update(
        index_elements=list(keys), set_={c: statement.excluded[c] for c in columns}
    )
    conn.execute(statement, rows)


# --- cursors ---------------------------------------------------------------------------------


def cursor_name(sink: str) -> str:
    """The cursor of one connector's pull into ``sink`` (hashed if the name is very long)."""
    name = f"pull:{sink}"
    if len(name) <= _NAME_LIMIT:
        return name
    return "pull:#" + hashlib.sha256(sink.encode()).hexdigest()[:40]


def load_cursor(conn: Connection, connector: str, name: str) -> dict[str, Any] | None:
    value = conn.execute(
        select(cursors.c.value).where(cursors.c.connector == connector, cursors.c.name == name)
    ).scalar()
    return dict(value) if value is not None else None


def save_cursor(conn: Connection, connector: str, name: str, value: Mapping[str, Any]) -> None:
    plain = dict(value)
    try:
        json.dumps(plain)
    except TypeError as exc:
        raise TypeError(f"the adapter's pull cursor is not JSON: {exc}") from None
    _upsert_many(
        conn,
        cursors,
        [{"connector": connector, "name": name, "value": plain, "updated_at": now()}],
        ("connector", "name"),
    )


# --- links seen from the LMS side ----------------------------------------------------------


def remote_links(conn: Connection, connector: str) -> dict[str, str]:
    """LMS user id -> HR key for every link of ``connector`` that has a remote id."""
    query = select(links.c.remote_id, links.c.hr_key).where(
        links.c.connector == connector, links.c.remote_id.is_not(None)
    )
    return {
        str(row.remote_id): row.hr_key
        for row in conn.execution_options(yield_per=10_000).execute(query)
    }


# --- delivered results -----------------------------------------------------------------------


def delivered_hashes(
    conn: Connection, connector: str, sink: str, result_ids: Iterable[str]
) -> dict[str, str]:
    """result_id -> content hash the sink last accepted, for those of ``result_ids`` it has."""
    ids = list(result_ids)
    found: dict[str, str] = {}
    for start in range(0, len(ids), CHUNK):
        query = select(delivered_results.c.result_id, delivered_results.c.content_hash).where(
            delivered_results.c.connector == connector,
            delivered_results.c.sink == sink,
            delivered_results.c.result_id.in_(ids[start : start + CHUNK]),
        )
        found.update({row.result_id: row.content_hash for row in conn.execute(query)})
    return found


def mark_delivered(
    conn: Connection, connector: str, sink: str, results: Sequence[LearningResult]
) -> None:
    """Remember what the sink accepted; call only after it accepted, in the cursor's transaction."""
    stamp = now()
    rows = {
        result.result_id: {
            "connector": connector,
            "sink": sink,
            "result_id": result.result_id,
            "content_hash": result.content_hash(),
            "hr_key": result.hr_key,
            "delivered_at": stamp,
        }
        for result in results
    }
    _upsert_many(conn, delivered_results, list(rows.values()), ("connector", "sink", "result_id"))


def count_delivered(conn: Connection, connector: str, sink: str) -> int:
    query = (
        select(func.count())
        .select_from(delivered_results)
        .where(delivered_results.c.connector == connector, delivered_results.c.sink == sink)
    )
    return int(conn.execute(query).scalar_one())


# --- results parked until their LMS user is linked -----------------------------------------


def park(conn: Connection, connector: str, results: Sequence[LearningResult]) -> None:
    """Keep results of unknown users (the latest copy of each) for a later cycle."""
    stamp = now()
    rows = {
        result.result_id: {
            "connector": connector,
            "name": PARKED_PREFIX + result.result_id,
            "value": _encode(result),
            "updated_at": stamp,
        }
        for result in results
    }
    _upsert_many(conn, cursors, list(rows.values()), ("connector", "name"))


def parked(conn: Connection, connector: str) -> Iterator[LearningResult]:
    query = select(cursors.c.value).where(
        cursors.c.connector == connector, cursors.c.name.startswith(PARKED_PREFIX)
    )
    for row in conn.execution_options(yield_per=2_000).execute(query):
        yield _decode(row.value, connector)


def unpark(conn: Connection, connector: str, result_ids: Iterable[str]) -> None:
    names = [PARKED_PREFIX + rid for rid in result_ids]
    for start in range(0, len(names), CHUNK):
        conn.execute(
            delete(cursors).where(
                cursors.c.connector == connector, cursors.c.name.in_(names[start : start + CHUNK])
            )
        )


def count_parked(conn: Connection, connector: str) -> int:
    query = (
        select(func.count())
        .select_from(cursors)
        .where(cursors.c.connector == connector, cursors.c.name.startswith(PARKED_PREFIX))
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


# --- runs a dead process left open ------------------------------------------------------------


def close_abandoned_runs(conn: Connection, connector: str, direction: str) -> int:
    """Mark unfinished runs ``aborted``; call while holding the lease, so none can be alive."""
    return conn.execute(
        update(sync_runs)
        .where(
            sync_runs.c.connector == connector,
            sync_runs.c.direction == direction,
            sync_runs.c.finished_at.is_(None),
            sync_runs.c.outcome.is_(None),
        )
        .values(
            outcome="aborted",
            detail="the process ended before this cycle finished (killed or crashed)",
        )
    ).rowcount


def count_open_errors(conn: Connection, connector: str, direction: str) -> int:
    """Unresolved ``sync_errors`` rows of one connector and direction (``failed_ops``)."""
    query = (
        select(func.count())
        .select_from(sync_errors)
        .where(
            sync_errors.c.connector == connector,
            sync_errors.c.direction == direction,
            sync_errors.c.resolved_at.is_(None),
        )
    )
    return int(conn.execute(query).scalar_one())

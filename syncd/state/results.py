"""The pull engine's queries: cursors, links seen from the LMS side, what each sink accepted.

- A cursor is where a pull stopped, per connector and sink (``pull:<sink>``), so a
  connector whose sink is switched reads again from the start for the new sink.
- ``delivered_results`` holds, per connector, sink and result, the content hash
  the sink accepted: a result is delivered again only when its hash changes.
  It also keeps the result itself (``result``), which ``syncd results`` lists and which
  adapters may compare what they read with (``StoredResults``).
- Results whose LMS user has no link yet are parked apart (``state.parked``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, select

from syncd.model import LearningResult
from syncd.state.parked import parked_copies
from syncd.state.result_rows import decode_result, encode_result
from syncd.state.store import chunked, now, upsert_many
from syncd.state.tables import cursors, delivered_results, links

_NAME_LIMIT = 100  # cursors.name length


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
    upsert_many(
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


def linked_values(
    conn: Connection, connector: str, field: str, hr_keys: Collection[str] | None = None
) -> dict[str, tuple[str | None, str]]:
    """HR key -> (LMS user id, value of ``field`` as last pushed) for links holding it.

    ``hr_keys`` narrows it to those people; None reads every link of ``connector``.
    """
    query = select(links.c.hr_key, links.c.remote_id, links.c.fields).where(
        links.c.connector == connector
    )
    chunks = [None] if hr_keys is None else list(chunked(hr_keys))
    found: dict[str, tuple[str | None, str]] = {}
    for chunk in chunks:
        narrowed = query if chunk is None else query.where(links.c.hr_key.in_(chunk))
        for row in conn.execution_options(yield_per=10_000).execute(narrowed):
            value = (row.fields or {}).get(field)
            if isinstance(value, str) and value.strip():
                remote_id = str(row.remote_id) if row.remote_id is not None else None
                found[row.hr_key] = (remote_id, value.strip())
    return found


# --- delivered results -----------------------------------------------------------------------


def delivered_hashes(
    conn: Connection, connector: str, sink: str, result_ids: Iterable[str]
) -> dict[str, str]:
    """result_id -> content hash the sink last accepted, for those of ``result_ids`` it has."""
    found: dict[str, str] = {}
    for chunk in chunked(result_ids):
        query = select(delivered_results.c.result_id, delivered_results.c.content_hash).where(
            delivered_results.c.connector == connector,
            delivered_results.c.sink == sink,
            delivered_results.c.result_id.in_(chunk),
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
            "result": encode_result(result),
            "certificate_expires_at": _utc(result.certificate_expires_at),
        }
        for result in results
    }
    upsert_many(conn, delivered_results, list(rows.values()), ("connector", "sink", "result_id"))


def _utc(moment: datetime | None) -> datetime | None:
    """UTC, so the column compares the same on SQLite (naive text) and PostgreSQL."""
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def delivered_copies(
    conn: Connection, connector: str, sink: str, result_ids: Iterable[str]
) -> dict[str, LearningResult]:
    """result_id -> the result as ``sink`` accepted it, for those of ``result_ids`` it has
    (rows delivered before the store kept the result are left out)."""
    found: dict[str, LearningResult] = {}
    table = delivered_results
    for chunk in chunked(result_ids):
        query = select(table.c.result_id, table.c.result, table.c.hr_key).where(
            table.c.connector == connector,
            table.c.sink == sink,
            table.c.result_id.in_(chunk),
            table.c.result.is_not(None),
        )
        for row in conn.execute(query):
            found[row.result_id] = decode_result(row.result, connector, row.hr_key)
    return found


class StoredResults:
    """The results a connector last handed on: what its sink accepted, else the copy parked
    for a person not yet linked. Adapters without a change feed compare what they read
    with it (``syncd.vendors.pulling.ResultMemory``) to skip costly reads of what did not
    change."""

    def __init__(self, engine: Engine, connector: str, sink: str) -> None:
        self.engine = engine
        self.connector = connector
        self.sink = sink

    def last_results(self, result_ids: Collection[str]) -> dict[str, LearningResult]:
        with self.engine.connect() as conn:
            found = delivered_copies(conn, self.connector, self.sink, result_ids)
            missing = [rid for rid in result_ids if rid not in found]
            if missing:
                found.update(parked_copies(conn, self.connector, missing))
        return found

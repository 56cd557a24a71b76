"""The pull engine's queries: cursors, links seen from the LMS side, what each sink accepted.

- A cursor is where a pull stopped, per connector and sink (``pull:<sink>``), so a
  connector whose sink is switched reads again from the start for the new sink.
- ``delivered_results`` holds, per connector, sink and result, the content hash
  the sink accepted: a result is delivered again only when its hash changes.
- Results whose LMS user has no link yet are parked apart (``state.parked``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, select

from syncd.model import LearningResult
from syncd.state.store import CHUNK, now, upsert_many
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
    upsert_many(conn, delivered_results, list(rows.values()), ("connector", "sink", "result_id"))

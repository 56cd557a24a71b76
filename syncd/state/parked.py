"""Results parked until their LMS user is linked to an HR person (``parked_results``).

An incremental pull never returns such a result again, so the copy kept here,
written in the transaction that moves the cursor past it, is what gets
delivered once the person is linked.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from sqlalchemy import Connection, delete, func, select

from syncd.model import LearningResult
from syncd.state.result_rows import decode_result, encode_result
from syncd.state.store import CHUNK, chunked, now, upsert_many
from syncd.state.tables import parked_results


def park(conn: Connection, connector: str, results: Sequence[LearningResult]) -> None:
    """Keep results of unknown users (the latest copy of each) for a later cycle."""
    stamp = now()
    rows = {
        result.result_id: {
            "connector": connector,
            "result_id": result.result_id,
            "result": encode_result(result),
            "parked_at": stamp,
        }
        for result in results
    }
    upsert_many(conn, parked_results, list(rows.values()), ("connector", "result_id"))


def parked(conn: Connection, connector: str) -> Iterator[LearningResult]:
    query = select(parked_results.c.result).where(parked_results.c.connector == connector)
    for row in conn.execution_options(yield_per=2_000).execute(query):
        yield decode_result(row.result, connector)


def parked_copies(
    conn: Connection, connector: str, result_ids: Iterable[str]
) -> dict[str, LearningResult]:
    """result_id -> the parked copy, for those of ``result_ids`` that are parked."""
    found: dict[str, LearningResult] = {}
    for chunk in chunked(result_ids):
        query = select(parked_results.c.result_id, parked_results.c.result).where(
            parked_results.c.connector == connector, parked_results.c.result_id.in_(chunk)
        )
        for row in conn.execute(query):
            found[row.result_id] = decode_result(row.result, connector)
    return found


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

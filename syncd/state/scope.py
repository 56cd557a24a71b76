"""The digests of the records of the people a connector's scope leaves out.

A push reads everyone in the source; the people out of scope (contractors, another
country, leavers a file keeps for years) are most of what a no-change cycle would
otherwise evaluate again. Kept here, an unchanged one is passed over like an unchanged
linked person; one with a link (deactivated when they fell out of scope) stays a leaver
of the cycle, as if read in full. The rows hold no LMS state: losing them only costs one
evaluation of the scope per person. A template is a function of its record alone (no
clock), so the same record under the same mapping is out of scope again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import Connection

from syncd.state.bulk import BulkWriter
from syncd.state.store import chunked
from syncd.state.tables import out_of_scope

BATCH = 10_000


def out_of_scope_digests(conn: Connection, connector: str) -> dict[str, int]:
    """HR key -> the digest of the record each person out of scope was last read from."""
    writer = BulkWriter(conn)
    mark, quote = writer.placeholder, writer.quote
    sql = (
        f"SELECT {quote('hr_key')}, {quote('source_hash')} FROM {quote(out_of_scope.name)} "
        f"WHERE {quote('connector')} = {mark}"
    )
    return dict(writer.fetchall(sql, (connector,)))


def save_out_of_scope(
    conn: Connection, connector: str, found: Mapping[str, int], dropped: Iterable[str]
) -> None:
    """Remember the people ``found`` out of scope (key -> digest), and forget ``dropped``
    (back in scope, linked, changed, or gone from the source)."""
    writer = BulkWriter(conn)
    mark, quote = writer.placeholder, writer.quote
    table = quote(out_of_scope.name)
    where = f"{quote('connector')} = {mark} AND {quote('hr_key')} = {mark}"
    delete = f"DELETE FROM {table} WHERE {where}"
    gone = ((connector, hr_key) for hr_key in dropped if hr_key not in found)
    for batch in chunked(gone, BATCH):
        writer.executemany(delete, batch)
    columns, keys = ("connector", "hr_key", "source_hash"), ("connector", "hr_key")
    upsert = writer.upsert_sql(out_of_scope, columns, keys, ("source_hash",))
    rows = ((connector, hr_key, digest) for hr_key, digest in found.items())
    for batch in chunked(rows, BATCH):
        writer.executemany(upsert, batch)

"""The linked people's digests kept as one value a connector, and checked before use.

A no-change cycle needs every linked person's (HR key, digest). Read as a million rows,
that is the database's largest piece of work in the cycle (on PostgreSQL about 0.25 s of
the server's CPU and 0.4 s of syncd's at a million), most of it per row. A snapshot holds
the same pairs as three values (the keys, the digests, the keys with no digest), read in
one row.

A snapshot is never trusted on its own. The links changed since it was taken (by their
``updated_at``) are applied to it, and the result's ``Figures`` (how many links, how many
with a digest, the sums of the digests' two 32-bit halves) must equal the links' own, which
the database computes in one aggregate read without sending a row. Any difference (a write
that left ``updated_at`` alone, a link deleted, an edit by hand, a clock set back) and the
links are read whole, as before. So a wrong ``updated_at`` can only cost time, never a
change: passing over a person whose digest changed would take a difference of exactly zero
in both sums, which random 64-bit digests give with a chance of about 2^-64.

What the figures cannot see is a link's HR key rewritten by hand with its digest kept; syncd
never does that (a digest is taken over a record that names its key).
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from syncd.model import LinkStatus
from syncd.state.bulk import BulkWriter
from syncd.state.tables import link_snapshots, links

SEPARATOR = "\0"
"""Between the keys of a snapshot: PostgreSQL's text cannot hold it, so no key has it (a
SQLite key that does is simply never kept in a snapshot)."""

LOW = 0xFFFFFFFF
LINKED = LinkStatus.LINKED.value


@dataclass(frozen=True, slots=True)
class Figures:
    """What the database can count of a connector's linked people without sending them."""

    linked: int = 0
    hashed: int = 0
    low: int = 0  # the sum of the digests' low 32 bits (each 0 .. 2^32 - 1)
    high: int = 0  # the sum of their high 32 bits, signed: a digest is ``high * 2^32 + low``

    @classmethod
    def of(cls, digests: Sequence[int], unhashed: int) -> Figures:
        """The figures of ``digests`` and of ``unhashed`` links without one."""
        low, high = sum(d & LOW for d in digests), sum(d >> 32 for d in digests)
        return cls(len(digests) + unhashed, len(digests), low, high)

    def plus(self, digest: int | None, sign: int = 1) -> Figures:
        if digest is None:
            return Figures(self.linked + sign, self.hashed, self.low, self.high)
        return Figures(
            self.linked + sign,
            self.hashed + sign,
            self.low + sign * (digest & LOW),
            self.high + sign * (digest >> 32),
        )

    def minus(self, digest: int | None) -> Figures:
        return self.plus(digest, -1)


def rewrite_after(linked: int) -> int:
    """How many links may have changed since a snapshot before it is taken again: applying
    them costs a row each, every cycle; taking it again, about a tenth of a row a link."""
    return max(1_000, linked // 50)


def read_whole_after(linked: int) -> int:
    """How many changed links make the snapshot not worth recalling: the links are read
    whole instead (after a first sync, every link is new since the empty snapshot)."""
    return max(10_000, linked // 4)


def recall(conn: Connection, connector: str, into: MutableMapping[str, int | None]) -> int | None:
    """Fill ``into`` with the linked people's key -> digest from the snapshot brought up to
    date, and return how many links changed since it was taken; None (``into`` left empty)
    when there is none or it does not match the links."""
    writer = BulkWriter(conn)
    mark, quote = writer.placeholder, writer.quote
    found = writer.fetchall(
        f"SELECT taken_at, linked, hashed, low_sum, high_sum, keys, digests, unhashed "
        f"FROM {quote(link_snapshots.name)} WHERE connector = {mark}",
        (connector,),
    )
    if not found:
        return None
    taken_at, *counted, keys, digests, unhashed = found[0]
    since = f"FROM {quote(links.name)} WHERE connector = {mark} AND updated_at >= {mark}"
    ((changes,),) = writer.fetchall(f"SELECT count(*) {since}", (connector, taken_at))
    if changes > read_whole_after(counted[0]):
        return None
    try:
        keys, digests, unhashed = _keys(keys), _digests(digests), _keys(unhashed)
    except ValueError:  # not what ``keep`` writes: read the links whole, and keep anew
        return None
    if len(keys) != len(digests):
        return None
    into.update(zip(keys, digests, strict=True))
    into.update(dict.fromkeys(unhashed))
    figures = Figures(*counted)
    changed = writer.fetchall(f"SELECT hr_key, source_hash, status {since}", (connector, taken_at))
    for hr_key, digest, status in changed:
        if hr_key in into:
            figures = figures.minus(into.pop(hr_key))
        if status == LINKED:
            into[hr_key] = digest
            figures = figures.plus(digest)
    if len(into) != figures.linked or figures != linked_figures(conn, connector):
        into.clear()
        return None
    return len(changed)


def linked_figures(conn: Connection, connector: str) -> Figures:
    """The ``Figures`` of the connector's linked people, as the database counts them."""
    writer = BulkWriter(conn)
    mark, quote = writer.placeholder, writer.quote
    if writer.is_postgres:  # one process's work: a parallel scan costs three for this
        conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
    digest = quote("source_hash")
    (row,) = writer.fetchall(
        f"SELECT count(*), count({digest}), coalesce(sum({digest} & {LOW}), 0), "
        f"coalesce(sum({digest} >> 32), 0) FROM {quote(links.name)} "
        f"WHERE connector = {mark} AND status = {mark}",
        (connector, LINKED),
    )
    return Figures(*(int(value) for value in row))


def keep(
    conn: Connection,
    connector: str,
    linked: Iterable[tuple[str, int | None]],
    taken_at: datetime,
) -> None:
    """Take a snapshot of the linked people's ``(key, digest)`` as they were at
    ``taken_at``: the links changed since then are applied to it when it is recalled."""
    hashed, values, unhashed = [], array("q"), []
    for hr_key, digest in linked:
        if digest is None:
            unhashed.append(hr_key)
        else:
            hashed.append(hr_key)
            values.append(digest)
    keys, none = _joined(hashed), _joined(unhashed)
    if keys is None or none is None:
        return
    figures = Figures.of(values, len(unhashed))
    if sys.byteorder == "big":  # stored little-endian, whatever the machine
        values.byteswap()
    writer = BulkWriter(conn)
    columns = ("connector", "taken_at", "linked", "hashed", "low_sum", "high_sum")
    columns += ("keys", "digests", "unhashed")
    upsert = writer.upsert_sql(link_snapshots, columns, ("connector",), columns[1:])
    stamp = writer.timestamp(link_snapshots.c.taken_at, taken_at)
    counted = (figures.linked, figures.hashed, figures.low, figures.high)
    row = (connector, stamp, *counted, keys, values.tobytes(), none)
    writer.executemany(upsert, [row])


def _joined(keys: list[str]) -> bytes | None:
    """The keys as stored; None when they cannot be told apart again."""
    text = SEPARATOR.join(keys)
    if keys and text.count(SEPARATOR) != len(keys) - 1:
        return None
    try:
        return text.encode()
    except UnicodeEncodeError:
        return None


def _keys(stored: Any) -> list[str]:
    stored = bytes(stored)
    return stored.decode().split(SEPARATOR) if stored else []


def _digests(stored: Any) -> list[int]:
    values = array("q")
    values.frombytes(bytes(stored))
    if sys.byteorder == "big":
        values.byteswap()
    return values.tolist()

"""A no-change cycle's big reads: the HR keys and source digests of a connector's links in
one status, in few values.

A million ``(hr_key, source_hash)`` rows fetched as rows cost SQLite's driver a tuple, a
string and an integer each, made one at a time. There the database gathers a page of them
into two arrays (``json_group_array``) that ``json`` turns into lists in C, and the page
becomes a dict in one call. PostgreSQL's rows stay rows: gathering them into arrays
(``array_agg``) took less of syncd's CPU but more of the server's, 1.7 s against 1.0 s of
both at a million (``bench/push_cycle.py`` counts the server's CPU).
Both arrays of a query are filled from the same rows in the same order (one scan feeds
each row to every aggregate of the query), and a NULL digest stays in its place as
``None``. Pages are taken in key order (the covering index's), ``PAGE`` rows each, so no
array grows past what SQLite can hold whatever the number of people.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection

from syncd.state.tables import links

PAGE = 250_000
"""Links gathered per query: large enough that a page's cost is its rows', small enough
that its two arrays stay a few megabytes."""

Page = tuple[list[str], list[int | None]]


def paged_digests(
    conn: Connection, connector: str, status: str, page: int | None = None
) -> Iterator[Page]:
    """The HR keys of ``connector``'s links in ``status`` and their digests, ``page`` (else
    ``PAGE``) at a time: two lists of one length, in the same order."""
    page = page or PAGE
    cursor = conn.connection.driver_connection.cursor  # type: ignore[union-attr]
    if conn.dialect.name == "postgresql":
        yield from _rows(cursor(binary=True), "%s", connector, status)
        return
    import sqlite3

    try:
        yield from _pages(cursor(), connector, status, page)
    except sqlite3.OperationalError as error:  # a SQLite built without its JSON functions
        if "no such function" not in str(error):
            raise
        yield from _rows(cursor(), "?", connector, status)


_SQLITE = "SELECT json_group_array(hr_key), json_group_array(source_hash)"


def _pages(cursor: Any, connector: str, status: str, page: int) -> Iterator[Page]:
    """Pages of about ``page`` links in key order: the index is stepped to each page's last
    key, then the page is gathered between the keys that bound it (no subquery: SQLite
    copies every row of one through a co-routine)."""
    where = f"FROM {links.name} WHERE connector = ? AND status = ?"
    lower = None
    try:
        while True:
            after = () if lower is None else (lower,)
            above = "" if lower is None else " AND hr_key > ?"
            cursor.execute(
                f"SELECT hr_key {where}{above} ORDER BY hr_key LIMIT 1 OFFSET {page - 1}",
                (connector, status, *after),
            )
            found = cursor.fetchone()
            upper = None if found is None else found[0]
            below = "" if upper is None else " AND hr_key <= ?"
            cursor.execute(
                f"{_SQLITE} {where}{above}{below}",
                (connector, status, *after, *(() if upper is None else (upper,))),
            )
            keys, digests = cursor.fetchone()
            if keys is not None:
                yield json.loads(keys), json.loads(digests)
            if upper is None:
                return
            lower = upper
    finally:
        cursor.close()


_first, _second = itemgetter(0), itemgetter(1)


def _rows(cursor: Any, mark: str, connector: str, status: str) -> Iterator[Page]:
    try:
        cursor.execute(
            f"SELECT hr_key, source_hash FROM {links.name} "
            f"WHERE connector = {mark} AND status = {mark}",
            (connector, status),
        )
        while rows := cursor.fetchmany(PAGE):
            yield list(map(_first, rows)), list(map(_second, rows))  # both in C
    finally:
        cursor.close()

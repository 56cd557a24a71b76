"""Many rows written through the database driver's own cursor, inside the caller's transaction.

A first sync writes a million outbox rows and a million links. Through SQLAlchemy, processing
each row's parameters (JSON serialisation included) was most of the time they took; here rows
are plain tuples, each JSON value serialised once as SQLAlchemy's JSON columns serialise it,
and the SQL is sent as one ``executemany`` (SQLite) or ``COPY ... FROM STDIN`` (PostgreSQL).
The driver connection is the one the SQLAlchemy ``Connection`` holds, so every row belongs to
the transaction that connection is in: atomicity is unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Column, Connection, Table

Row = Sequence[Any]


class BulkWriter:
    """SQL for one dialect, and the rows executed by its driver's cursor."""

    def __init__(self, conn: Connection) -> None:
        dialect = conn.dialect
        self._dialect = dialect
        self._driver = conn.connection.driver_connection
        self.is_postgres = dialect.name == "postgresql"
        self.placeholder = "?" if dialect.paramstyle == "qmark" else "%s"
        self.quote: Callable[[str], str] = dialect.identifier_preparer.quote
        # SQLAlchemy's JSON type writes ``dialect._json_serializer`` or ``json.dumps``: the
        # same text, so what is read back (through SQLAlchemy or not) is unchanged.
        self.dumps: Callable[[Any], str] = getattr(dialect, "_json_serializer", None) or json.dumps

    def timestamp(self, column: Column, value: Any) -> Any:
        """``value`` as ``column``'s type binds it (SQLite keeps datetimes as text in
        SQLAlchemy's format): done once for a stamp every row shares."""
        process = column.type.dialect_impl(self._dialect).bind_processor(self._dialect)
        return process(value) if process is not None else value

    def insert_sql(self, table: Table, columns: Sequence[str]) -> str:
        names = ", ".join(self.quote(c) for c in columns)
        marks = ", ".join([self.placeholder] * len(columns))
        return f"INSERT INTO {self.quote(table.name)} ({names}) VALUES ({marks})"

    def upsert_sql(
        self, table: Table, columns: Sequence[str], keys: Sequence[str], updated: Sequence[str]
    ) -> str:
        """An INSERT that updates ``updated`` of the row with the same ``keys`` (the same
        ``ON CONFLICT`` syntax on both databases)."""
        conflict = ", ".join(self.quote(k) for k in keys)
        assignments = ", ".join(f"{self.quote(c)} = excluded.{self.quote(c)}" for c in updated)
        insert = self.insert_sql(table, columns)
        return f"{insert} ON CONFLICT ({conflict}) DO UPDATE SET {assignments}"

    def executemany(self, sql: str, rows: Iterable[Row]) -> None:
        cursor = self._driver.cursor()
        try:
            cursor.executemany(sql, rows)
        finally:
            cursor.close()

    def insert(self, table: Table, columns: Sequence[str], rows: Iterable[Row]) -> None:
        """Insert ``rows`` (tuples in ``columns`` order): COPY on PostgreSQL, its fastest
        way in; one prepared ``executemany`` on SQLite."""
        if not self.is_postgres:
            self.executemany(self.insert_sql(table, columns), rows)
            return
        names = ", ".join(self.quote(c) for c in columns)
        cursor = self._driver.cursor()
        try:
            with cursor.copy(f"COPY {self.quote(table.name)} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        finally:
            cursor.close()

    def fetchall(self, sql: str, params: Row) -> list[tuple[Any, ...]]:
        cursor = self._driver.cursor()
        try:
            cursor.execute(sql, params)
            return cursor.fetchall()
        finally:
            cursor.close()

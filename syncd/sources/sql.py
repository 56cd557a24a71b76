"""HR records from a SQL query on any database SQLAlchemy can reach, streamed in chunks.

The query runs with ``stream_results`` (a server-side cursor on PostgreSQL) and
is fetched ``chunk_size`` rows at a time, so memory stays bounded whatever the
table size. The query goes through SQLAlchemy ``text()``: ``:name`` after a
space is a bind parameter (write ``\\:name`` for a literal colon there).

Values come out as plain Python: strings, ints, floats, bools and None as they
are; ``Decimal`` becomes its exact text (``"1042"``, ``"12.50"``), never a float
that would round; dates, datetimes and times stay ``date``/``datetime``/``time``
objects (templates can format them; ``keyed`` turns them into ISO text);
``UUID`` becomes text; bytes become text when valid UTF-8, else hex.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from syncd.config.schema.sources import SqlSourceConfig
from syncd.http import mask_secrets
from syncd.sources.base import SourceError, SourceRecord

log = structlog.get_logger(__name__)


class SqlSource:
    """The rows of one query (SPEC §3 ``type: sql``)."""

    def __init__(self, name: str, config: SqlSourceConfig) -> None:
        self.name = name
        self.config = config

    def records(self) -> Iterator[SourceRecord]:
        url = self.config.url.get_secret_value()
        try:
            _check_sqlite_file(make_url(url))
            engine = create_engine(url)
        except FileNotFoundError as exc:
            raise SourceError(self.name, f"database file not found: {exc.filename}") from None
        except (ArgumentError, SQLAlchemyError, ImportError, ValueError) as exc:
            raise SourceError(self.name, f"invalid database URL: {self._clean(exc)}") from None
        try:
            yield from self._stream(engine)
        except SQLAlchemyError as exc:
            raise SourceError(self.name, f"query failed: {self._clean(exc)}") from None
        finally:
            engine.dispose()

    def _stream(self, engine) -> Iterator[SourceRecord]:
        chunk = self.config.chunk_size
        with engine.connect() as conn:
            streaming = conn.execution_options(stream_results=True, max_row_buffer=chunk)
            result = streaming.execute(text(self.config.query))
            if not result.returns_rows:
                raise SourceError(self.name, "the query returns no rows (is it a SELECT?)")
            columns = list(result.keys())
            repeated = sorted(name for name, n in Counter(columns).items() if n > 1)
            if repeated:
                raise SourceError(
                    self.name,
                    f"the query returns column name(s) {', '.join(map(repr, repeated))} "
                    "more than once: alias them",
                )
            count = 0
            for rows in result.partitions(chunk):
                for row in rows:
                    count += 1
                    data = {
                        name: plain_value(value) for name, value in zip(columns, row, strict=True)
                    }
                    yield SourceRecord(f"row {count}", data)
        log.info("source_read", source=self.name, type="sql", records=count)

    def _clean(self, exc: Exception) -> str:
        """A one-line reason without the SQL echo, documentation link or password."""
        origin = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        lines = [line.strip() for line in str(origin).splitlines() if line.strip()]
        reason = lines[0] if lines else type(origin).__name__
        return mask_secrets(reason, self._secrets())

    def _secrets(self) -> tuple[str, ...]:
        try:
            password = make_url(self.config.url.get_secret_value()).password
        except ArgumentError:
            return (self.config.url.get_secret_value(),)
        return (str(password),) if password else ()


def _check_sqlite_file(url: URL) -> None:
    """SQLite would create a missing file and then find no table: say what is wrong instead."""
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return
    if database.startswith("file:") or url.query.get("uri"):
        return  # a URI filename: SQLite itself decides
    if not Path(database).exists():
        raise FileNotFoundError(2, "not found", database)


def plain_value(value: Any) -> Any:
    """A database value as plain Python (see the module docstring for each type)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, memoryview):
        value = value.tobytes()
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return bytes(value).hex()
    return value

"""Learning results upserted into a database table, one transaction per batch.

The table (created if missing) has the contract columns and ``result_id`` as
its primary key, so a result that changes updates its row instead of adding
one. Types: text for identifiers and names, double precision for ``progress``
and ``score``; the four dates are ``timestamp with time zone`` in UTC on
PostgreSQL and ISO 8601 UTC text (``2024-05-01T10:00:00Z``, as in the CSV sink)
on SQLite, which has no date type. An existing table must have the contract
columns and a primary key or unique constraint on ``result_id``; extra columns
are left alone.

Columns added to the learning result after a table was created (``ADDED_COLUMNS``:
``credits``, ``hours``, ``certification_status``) are added to it with ``ALTER TABLE
... ADD COLUMN`` (nullable, so existing rows keep them empty) the first time the sink
writes. Where the sink's database user may not alter the table, the write is refused
with the statement to run: writing without them would drop those values for good,
since a result is delivered again only when it changes.

Upserts use ``INSERT ... ON CONFLICT (result_id) DO UPDATE`` on PostgreSQL and
SQLite; other databases get an UPDATE, then INSERT when nothing was updated,
inside the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Float,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    inspect,
    text,
)
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchTableError, SQLAlchemyError
from sqlalchemy.types import TypeDecorator

from syncd.config.schema.sinks import SqlSinkConfig
from syncd.http import mask_secrets
from syncd.model import ADDED_COLUMNS, RESULT_COLUMNS, LearningResult, iso_utc
from syncd.sink_protocol import SinkBase, SinkError

log = structlog.get_logger(__name__)

DATE_COLUMNS = ("started_at", "completed_at", "certificate_expires_at", "updated_at")


class UtcTimestamp(TypeDecorator):
    """timestamptz in UTC where the database has it, ISO 8601 UTC text on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Any) -> Any:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return iso_utc(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def results_table(name: str, metadata: MetaData | None = None) -> Table:
    """The learning results table as syncd creates it."""
    return Table(
        name,
        metadata or MetaData(),
        Column("result_id", String(64), primary_key=True),
        Column("connector", String(200)),
        Column("vendor", String(50)),
        Column("hr_key", String(255)),
        Column("lms_user_id", String(255)),
        Column("course_id", String(255)),
        Column("course_name", Text),
        Column("status", String(20)),
        Column("progress", Float),
        Column("score", Float),
        Column("started_at", UtcTimestamp),
        Column("completed_at", UtcTimestamp),
        Column("certificate_url", Text),
        Column("certificate_expires_at", UtcTimestamp),
        Column("updated_at", UtcTimestamp),
        Column("credits", Float),
        Column("hours", Float),
        Column("certification_status", Text),
    )


class SqlSink(SinkBase):
    """A table of learning results (SPEC §3 ``sinks: type: sql``)."""

    def __init__(self, name: str, config: SqlSinkConfig) -> None:
        self.name = name
        self.config = config
        self.table = results_table(config.table)
        self._engine: Engine | None = None

    def write(self, results: Sequence[LearningResult]) -> None:
        if not results:
            return
        rows = _rows(results)
        try:
            engine = self._ready_engine()
            with engine.begin() as conn:
                upsert(conn, self.table, rows)
        except SinkError:
            raise
        except SQLAlchemyError as exc:
            raise SinkError(
                self.name, f"upsert into {self.config.table} failed: {self._clean(exc)}"
            ) from None
        log.info(
            "sink_written", sink=self.name, type="sql", table=self.config.table, rows=len(rows)
        )

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def _ready_engine(self) -> Engine:
        """Connect and make sure the table exists and fits, once per sink."""
        if self._engine is not None:
            return self._engine
        url = self.config.url.get_secret_value()
        try:
            parsed = make_url(url)
            options = (
                {"connect_args": {"timeout": 30}} if parsed.get_backend_name() == "sqlite" else {}
            )
            engine = create_engine(url, pool_pre_ping=True, **options)
        except (ArgumentError, SQLAlchemyError, ImportError, ValueError) as exc:
            raise SinkError(self.name, f"invalid database URL: {self._clean(exc)}") from None
        try:
            self._prepare(engine)
        except BaseException:
            engine.dispose()
            raise
        self._engine = engine
        return engine

    def _prepare(self, engine: Engine) -> None:
        # Another writer may create it at the same moment: whatever happens, check what is there.
        create_error: SQLAlchemyError | None = None
        try:
            self.table.metadata.create_all(engine, tables=[self.table], checkfirst=True)
        except SQLAlchemyError as exc:
            create_error = exc
        try:
            inspector = inspect(engine)
            columns = {column["name"] for column in inspector.get_columns(self.config.table)}
            primary = inspector.get_pk_constraint(self.config.table).get("constrained_columns")
            uniques = [
                u["column_names"] for u in inspector.get_unique_constraints(self.config.table)
            ]
        except SQLAlchemyError as exc:
            cause = create_error if isinstance(exc, NoSuchTableError) and create_error else exc
            raise SinkError(
                self.name, f"cannot create or read table {self.config.table}: {self._clean(cause)}"
            ) from None
        missing = [name for name in RESULT_COLUMNS if name not in columns]
        if [name for name in missing if name not in ADDED_COLUMNS]:
            raise SinkError(
                self.name,
                f"table {self.config.table} lacks column(s) {', '.join(missing)}; "
                "add them or point the sink at another table",
            )
        if primary != ["result_id"] and ["result_id"] not in uniques:
            raise SinkError(
                self.name,
                f"table {self.config.table} needs a primary key or unique constraint on result_id",
            )
        if missing:
            self._add_columns(engine, missing)

    def _add_columns(self, engine: Engine, names: list[str]) -> None:
        """Add the learning result's newer columns to an older table, nullable."""
        preparer = engine.dialect.identifier_preparer
        statements = [
            f"ALTER TABLE {preparer.format_table(self.table)} ADD COLUMN "
            f"{preparer.format_column(self.table.c[name])} "
            f"{self.table.c[name].type.compile(dialect=engine.dialect)}"
            for name in names
        ]
        try:
            with engine.begin() as conn:
                for statement in statements:
                    conn.execute(text(statement))
        except SQLAlchemyError as exc:
            raise SinkError(
                self.name,
                f"table {self.config.table} lacks column(s) {', '.join(names)} and they could "
                f"not be added ({self._clean(exc)}); run: {'; '.join(statements)}",
            ) from None
        log.warning("sink_columns_added", sink=self.name, table=self.config.table, columns=names)

    def _clean(self, exc: Exception) -> str:
        origin = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        lines = [line.strip() for line in str(origin).splitlines() if line.strip()]
        reason = lines[0] if lines else type(origin).__name__
        try:
            password = make_url(self.config.url.get_secret_value()).password
        except ArgumentError:
            password = None
        return mask_secrets(reason, [str(password)] if password else [])


def _rows(results: Sequence[LearningResult]) -> list[dict[str, Any]]:
    """One row per result_id (the last wins: a statement may not touch a row twice)."""
    rows: dict[str, dict[str, Any]] = {}
    for result in results:
        row = result.as_row()
        for name in DATE_COLUMNS:
            row[name] = getattr(result, name)  # the type turns them into UTC
        rows[row["result_id"]] = row
    return list(rows.values())


def upsert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert or update ``rows`` on result_id, in the caller's transaction."""
    dialect = conn.dialect.name
    if dialect in ("postgresql", "sqlite"):
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        statement = insert(table)
        updates = {
            c.name: statement.excluded[c.name] for c in table.columns if c.name != "result_id"
        }
        conn.execute(
            statement.on_conflict_do_update(index_elements=[table.c.result_id], set_=updates),
            rows,
        )
        return
    upsert_portable(conn, table, rows)


def upsert_portable(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """UPDATE, then INSERT what matched nothing: for databases without ON CONFLICT."""
    for row in rows:
        values = {name: value for name, value in row.items() if name != "result_id"}
        updated = conn.execute(
            table.update().where(table.c.result_id == row["result_id"]).values(**values)
        )
        if updated.rowcount == 0:
            conn.execute(table.insert().values(**row))

"""Engine creation for the state store: SQLite or PostgreSQL, set up for concurrent use."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

LOCK_WAIT_SECONDS = 30
"""How long a writer waits for another one before giving up (SQLite's ``busy_timeout``,
PostgreSQL's ``lock_timeout``)."""


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL and a busy timeout so processes can share it."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": LOCK_WAIT_SECONDS})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # pragma: no cover - trivial
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={LOCK_WAIT_SECONDS * 1000}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    engine = create_engine(url, pool_pre_ping=True)

    @event.listens_for(engine, "connect")
    def _postgres_lock_wait(dbapi_conn, _record) -> None:
        # As SQLite's busy timeout: a lock held by another session is waited for a bounded
        # time, then named (``is_locked``), never waited on for ever.
        cursor = dbapi_conn.cursor()
        cursor.execute(f"SET lock_timeout = '{LOCK_WAIT_SECONDS}s'")
        cursor.close()
        dbapi_conn.commit()

    return engine


@contextmanager
def connected(url: str) -> Iterator[Connection]:
    """One connection to the store at ``url`` for a one-off read; its engine is closed after."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def is_locked(error: OperationalError) -> bool:
    """Whether the store gave up waiting for another writer: SQLite's busy timeout, or
    PostgreSQL's ``lock_timeout`` (SQLSTATE 55P03, lock not available)."""
    if getattr(error.orig, "sqlstate", None) == "55P03":
        return True
    return "database is locked" in str(error.orig or error).lower()


def describe_store(url: str) -> str:
    """The store for a message: the SQLite file, or the PostgreSQL host and database (no
    credentials)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite file {parsed.database or ':memory:'}"
    return f"PostgreSQL database {parsed.database} on {parsed.host or 'localhost'}"


def dialect_insert(dialect: str) -> Callable[[Table], Any]:
    """The INSERT with ``ON CONFLICT`` of ``dialect`` ("postgresql" or "sqlite"); each is
    imported when first used, so a process loads only its own store's dialect."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert

        return insert
    from sqlalchemy.dialects.sqlite import insert

    return insert

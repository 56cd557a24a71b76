"""One cycle per connector at a time, across processes and replicas (SPEC §6).

PostgreSQL: a session advisory lock, released by the server the moment the
holding connection dies, so a killed replica never blocks the others.
SQLite (one host by nature): a row in ``leases`` naming the holder's host and
pid; a holder that is no longer alive, or whose lease expired, is replaced.
"""

from __future__ import annotations

import hashlib
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import Connection, Engine, delete, select, text, update
from sqlalchemy.exc import IntegrityError

from syncd.state import store
from syncd.state.tables import leases

LEASE_TTL = timedelta(hours=6)

SHARED_LEASES = {"reconcile": "push"}
"""Directions that hold another's lease: a reconciliation writes through the push's outbox."""


def cycle_lease(connector: str, direction: str) -> str:
    """The lease a cycle of ``connector`` and ``direction`` holds while it runs."""
    return f"{connector}:{SHARED_LEASES.get(direction, direction)}"


def _lock_id(conn: Connection, name: str) -> int:
    """The advisory lock key of ``name`` in this connection's schema.

    Advisory locks are database-wide, so the schema is part of the key: two syncd
    deployments sharing one database under different schemas never block each other.
    """
    schema = conn.execute(text("SELECT current_schema()")).scalar()
    scoped = f"{schema}/{name}".encode()
    return int.from_bytes(hashlib.sha256(scoped).digest()[:8], "big", signed=True)


@contextmanager
def connector_lease(engine: Engine, name: str) -> Iterator[bool]:
    """Yields True when this process holds ``name`` for the duration, False if another does."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            key = _lock_id(conn, name)
            held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
            conn.commit()
            try:
                yield held
            finally:
                if held:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
        return
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    held = _take_row_lease(engine, name, holder)
    try:
        yield held
    finally:
        if held:
            with engine.begin() as conn:
                conn.execute(delete(leases).where(leases.c.name == name, leases.c.holder == holder))


def lease_held(engine: Engine, name: str) -> bool:
    """Whether a live process holds ``name`` now; reads only, never takes it.

    PostgreSQL: the advisory lock is among the server's granted locks (the server drops
    it with a dead holder's connection). SQLite: the row's holder is alive and its
    lease has not expired.
    """
    if engine.dialect.name == "postgresql":
        query = text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND classid = CAST(:high AS oid) AND objid = CAST(:low AS oid) AND objsubid = 1"
        )
        with engine.connect() as conn:
            key = _lock_id(conn, name) & 0xFFFFFFFFFFFFFFFF  # pg_locks shows two unsigned halves
            found = conn.execute(query, {"high": key >> 32, "low": key & 0xFFFFFFFF}).scalar()
        return bool(found)
    with engine.connect() as conn:
        row = conn.execute(select(leases).where(leases.c.name == name)).first()
    return row is not None and _alive(row.holder) and not _expired(row.expires_at)


def _take_row_lease(engine: Engine, name: str, holder: str) -> bool:
    with engine.begin() as conn:
        row = conn.execute(select(leases).where(leases.c.name == name)).first()
        expires = store.now() + LEASE_TTL
        if row is None:
            try:
                conn.execute(leases.insert().values(name=name, holder=holder, expires_at=expires))
            except IntegrityError:  # another process inserted it first
                return False
            return True
        if _alive(row.holder) and not _expired(row.expires_at):
            return False
        taken = conn.execute(
            update(leases)
            .where(leases.c.name == name, leases.c.holder == row.holder)
            .values(holder=holder, expires_at=expires)
        ).rowcount
        return taken == 1


def _expired(expires_at) -> bool:
    from datetime import UTC

    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    return expires_at < store.now()


def _alive(holder: str) -> bool:
    host, _, rest = holder.partition(":")
    if host != socket.gethostname():
        return True  # cannot tell: trust the expiry
    try:
        os.kill(int(rest.split(":")[0]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True

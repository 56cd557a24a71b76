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

from sqlalchemy import Engine, delete, select, text, update
from sqlalchemy.exc import IntegrityError

from syncd.state import store
from syncd.state.tables import leases

LEASE_TTL = timedelta(hours=6)


def _lock_id(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def connector_lease(engine: Engine, name: str) -> Iterator[bool]:
    """Yields True when this process holds ``name`` for the duration, False if another does."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            held = bool(
                conn.execute(
                    text("SELECT pg_try_advisory_lock(:k)"), {"k": _lock_id(name)}
                ).scalar()
            )
            conn.commit()
            try:
                yield held
            finally:
                if held:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _lock_id(name)})
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

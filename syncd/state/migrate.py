"""Applies the Alembic migrations to a state store, once, and refuses a store it does not know.

Several processes may start on one empty store at the same moment (two ``syncd sync``
on a fresh SQLite file, replicas of ``syncd run`` on an empty PostgreSQL database).
They take turns: a PostgreSQL advisory lock, or a lock file beside the SQLite file,
is held while the revision is read and the migrations run, so the first migrates and
the others find the store at head and go on.

A store migrated by a newer syncd holds a revision this one does not know: it is
refused, saying both revisions, rather than read with the wrong schema.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

import syncd
from syncd.state.db import connected

if TYPE_CHECKING:
    from alembic.config import Config

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: concurrent first starts are not guarded
    fcntl = None  # type: ignore[assignment]

log = structlog.get_logger(__name__)

MIGRATION_LOCK_KEY = 0x73796E6364  # "syncd": the PostgreSQL advisory lock held while migrating


class StoreUnusable(Exception):
    """The configured state store cannot be used as it is (a configuration problem)."""


class StoreAhead(StoreUnusable):
    """The store was migrated by a newer syncd than this one."""


def migrations_dir() -> Path:
    """``migrations/`` beside the package in a checkout, or inside it when installed."""
    packaged = Path(syncd.__file__).parent / "_migrations"
    if packaged.is_dir():
        return packaged
    return Path(syncd.__file__).parent.parent / "migrations"


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["database_url"] = url
    return config


def head_revision() -> str:
    """The newest revision this syncd knows."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    assert head is not None, "the migrations folder has no revision"
    return head


def upgrade(url: str, revision: str = "head", engine: Engine | None = None) -> None:
    """Bring the store at ``url`` to ``revision``; harmless when already there.

    One process at a time migrates a store; the others wait for it and find it done.
    ``engine``, the caller's own for ``url``, reads the revision: its connection then
    serves the caller too, where one of a throwaway engine was opened and closed.
    """
    check_location(url)
    if revision == "head" and _at_newest_file_revision(url, engine):
        return  # the one path every cycle takes: no Alembic import, no lock
    from alembic import command

    with _migration_lock(url):
        check_known(url)
        before = current_revision(url)
        command.upgrade(alembic_config(url), revision)
        after = current_revision(url)
    if after != before:  # Alembic's own lines are silenced (syncd.logs): say it once here
        log.info("store_migrated", from_revision=before, to_revision=after)


_REVISION = re.compile(r"""^(down_)?revision(?::[^=]*)?=\s*['"]([^'"]+)['"]""", re.MULTILINE)


def _newest_file_revision() -> str | None:
    """The one revision no other revises, read from the files (None if unsure)."""
    revisions, revised = set(), set()
    for path in (migrations_dir() / "versions").glob("*.py"):
        for down, name in _REVISION.findall(path.read_text(encoding="utf-8")):
            (revised if down else revisions).add(name)
    heads = revisions - revised
    return heads.pop() if len(heads) == 1 else None


def _at_newest_file_revision(url: str, engine: Engine | None = None) -> bool:
    """Whether the store is stamped with the newest revision: then there is nothing to do."""
    newest = _newest_file_revision()
    if newest is None:
        return False
    try:
        with connected(url) if engine is None else engine.connect() as conn:
            stamped = conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
            return list(stamped) == [newest]
    except Exception:  # no table yet, or anything odd: let Alembic look properly
        return False


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with connected(url) as conn:
        return MigrationContext.configure(conn).get_current_revision()


def check_known(url: str) -> None:
    """Refuse a store at a revision this syncd does not know (migrated by a newer one)."""
    current = current_revision(url)
    if current is None:
        return
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(url))
    if current not in {rev.revision for rev in script.walk_revisions()}:
        raise StoreAhead(
            f"the state store is at revision {current}, which this syncd does not know "
            f"(it knows up to {head_revision()}): a newer syncd migrated it; run that version "
            "or point state.url at another store"
        )


def check_location(url: str) -> None:
    """A SQLite file's folder must exist: SQLite would only say 'unable to open database'."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return
    if parsed.database == ":memory:" or parsed.database.startswith("file:"):
        return
    folder = Path(parsed.database).expanduser().resolve().parent
    if not folder.is_dir():
        raise StoreUnusable(
            f"the SQLite state store's folder {folder} does not exist: create it or change "
            "state.url"
        )


@contextmanager
def _migration_lock(url: str) -> Iterator[None]:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        with connected(url) as conn:
            conn.execute(text("SET lock_timeout = 0"))  # wait for a migration however long
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
        return
    database = parsed.database or ""
    if fcntl is None or parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        yield
        return
    lock_path = (
        Path(database).expanduser().resolve().with_name(f".{Path(database).name}.migrate-lock")
    )
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)

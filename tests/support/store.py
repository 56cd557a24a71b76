"""State stores as tests need them: put in a state no syncd process would leave them in."""

from __future__ import annotations

from sqlalchemy import text

from syncd.state.db import make_engine
from syncd.state.migrate import upgrade

NEWER_REVISION = "9999_from_a_newer_syncd"
"""An Alembic revision this syncd does not know: a store migrated by a later release."""


def migrated_by_a_newer_syncd(url: str, revision: str = NEWER_REVISION) -> None:
    """Migrate the store at ``url``, then mark it as at ``revision``."""
    upgrade(url)
    set_revision(url, revision)


def set_revision(url: str, revision: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :rev"), {"rev": revision})
    finally:
        engine.dispose()

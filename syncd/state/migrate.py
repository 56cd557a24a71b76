"""Applies the Alembic migrations to a state store (``syncd db upgrade``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

import syncd


def migrations_dir() -> Path:
    """``migrations/`` beside the package in a checkout, or inside it when installed."""
    packaged = Path(syncd.__file__).parent / "_migrations"
    if packaged.is_dir():
        return packaged
    return Path(syncd.__file__).parent.parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["database_url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the store at ``url`` to ``revision``; harmless when already there."""
    command.upgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    from syncd.state.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()

"""Opening the state store, and the rate-limit backend every client of a credential shares."""

from __future__ import annotations

from sqlalchemy import Engine, inspect

from syncd.config import Config
from syncd.limits import LimitBackend
from syncd.state.db import make_engine
from syncd.state.limiter import SqlBackend
from syncd.state.migrate import check_known, check_location, upgrade


class StateNotReady(Exception):
    """The state store has no schema and auto_migrate is off."""


def open_state(config: Config) -> Engine:
    """The state store's engine, migrated first when ``state.auto_migrate`` (the default).

    Raises ``StoreUnusable`` for a store this syncd cannot use (a newer revision, a
    SQLite file in a missing folder), whether or not it migrates.
    """
    url = config.state.url.get_secret_value()
    engine = make_engine(url)  # connects only when used: after the location is checked
    try:
        if config.state.auto_migrate:
            upgrade(url, engine=engine)
        else:
            check_location(url)
            check_known(url)
    except BaseException:
        engine.dispose()
        raise
    if not inspect(engine).has_table("links"):
        engine.dispose()
        raise StateNotReady("the state store has no schema: run `syncd db upgrade`")
    return engine


def limiter_backend(engine: Engine) -> LimitBackend:
    """Rate-limit budgets kept in the state store, so every process and replica shares them."""
    return SqlBackend(engine)

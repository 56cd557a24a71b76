"""Opening the state store, and the rate-limit backend every client of a credential shares."""

from __future__ import annotations

from sqlalchemy import Engine, inspect

from syncd.config import Config
from syncd.limits import LimitBackend
from syncd.state.db import make_engine
from syncd.state.limiter import SqlBackend
from syncd.state.migrate import upgrade


class StateNotReady(Exception):
    """The state store has no schema and auto_migrate is off."""


def open_state(config: Config) -> Engine:
    """The state store's engine, migrated first when ``state.auto_migrate`` (the default)."""
    url = config.state.url.get_secret_value()
    if config.state.auto_migrate:
        upgrade(url)
    engine = make_engine(url)
    if not inspect(engine).has_table("links"):
        engine.dispose()
        raise StateNotReady("the state store has no schema: run `syncd db upgrade`")
    return engine


def limiter_backend(engine: Engine) -> LimitBackend:
    """Rate-limit budgets kept in the state store, so every process and replica shares them."""
    return SqlBackend(engine)

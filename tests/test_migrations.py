"""The migrations build exactly the schema the code expects, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from syncd.state.db import make_engine
from syncd.state.migrate import current_revision, upgrade
from syncd.state.tables import metadata


def _differences(url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(context, metadata)
    finally:
        engine.dispose()


def test_upgrade_of_empty_store_gives_exactly_the_models(db_url):
    upgrade(db_url)
    assert _differences(db_url) == []
    engine = make_engine(db_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"sync_status", "sync_runs", "sync_errors", "links", "operations"} <= tables


def test_upgrading_twice_is_harmless(db_url):
    upgrade(db_url)
    first = current_revision(db_url)
    upgrade(db_url)
    assert current_revision(db_url) == first is not None
    assert _differences(db_url) == []


def test_contract_columns_of_spec_section_5(migrated_db_url):
    engine = make_engine(migrated_db_url)
    try:
        inspector = inspect(engine)
        columns = {
            t: {c["name"] for c in inspector.get_columns(t)} for t in inspector.get_table_names()
        }
    finally:
        engine.dispose()
    assert {
        "connector",
        "direction",
        "state",
        "last_started_at",
        "last_finished_at",
        "last_success_at",
        "next_run_at",
        "pending_ops",
        "failed_ops",
        "last_error",
    } <= columns["sync_status"]
    assert {
        "id",
        "connector",
        "direction",
        "started_at",
        "finished_at",
        "outcome",
        "records_seen",
        "created",
        "updated",
        "deactivated",
        "reactivated",
        "failed",
        "api_calls",
    } <= columns["sync_runs"]
    assert {
        "connector",
        "hr_key",
        "operation",
        "reason",
        "first_seen_at",
        "last_seen_at",
        "attempts",
    } <= columns["sync_errors"]

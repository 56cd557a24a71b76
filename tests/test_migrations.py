"""The migrations build exactly the schema the code expects, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text

from syncd.state.db import make_engine
from syncd.state.migrate import alembic_config, current_revision, upgrade
from syncd.state.tables import cursors, metadata, parked_results, sync_errors, sync_status


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


def test_parked_results_move_out_of_cursors_and_back(db_url):
    upgrade(db_url, "0001")
    parked = {"vendor": "fakelms", "lms_user_id": "u9", "course_id": "c1", "status": "passed"}
    at = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    rows = [
        {"connector": "lms", "name": "pull:csv", "value": {"seq": 7}, "updated_at": at},
        {"connector": "lms", "name": "parked:" + "a" * 32, "value": parked, "updated_at": at},
    ]
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(cursors.insert(), rows)
        upgrade(db_url)
        with engine.connect() as conn:
            moved = [tuple(r) for r in conn.execute(select(parked_results))]
            left = [r.name for r in conn.execute(select(cursors))]
        assert [(c, rid, value) for c, rid, value, _ in moved] == [("lms", "a" * 32, parked)]
        assert left == ["pull:csv"]

        command.downgrade(alembic_config(db_url), "0001")
        with engine.connect() as conn:
            back = {r.name: r.value for r in conn.execute(select(cursors))}
        assert back == {"pull:csv": {"seq": 7}, "parked:" + "a" * 32: parked}
        assert "parked_results" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_not_linked_errors_of_earlier_versions_are_resolved_and_counts_start_at_0(db_url):
    """Results of unlinked accounts are no failure now: their old errors close on upgrade."""
    upgrade(db_url, "0002")
    at = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    error = {
        "connector": "lms",
        "direction": "pull",
        "reason": "not linked",
        "attempts": 3,
        "first_seen_at": at,
        "last_seen_at": at,
    }
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(sync_errors.insert().values(hr_key="lms:u9", operation="pull", **error))
            conn.execute(
                sync_errors.insert().values(hr_key="lms:u1", operation="validate", **error)
            )
            conn.execute(  # the 0002 columns only
                text(
                    "INSERT INTO sync_status (connector, direction, state, pending_ops, "
                    "failed_ops, approved) VALUES ('lms', 'pull', 'idle', 2, 2, :no)"
                ),
                {"no": False},
            )
        upgrade(db_url)
        with engine.connect() as conn:
            still_open = [
                r.hr_key
                for r in conn.execute(
                    select(sync_errors).where(sync_errors.c.resolved_at.is_(None))
                )
            ]
            [status] = conn.execute(select(sync_status)).all()
        assert still_open == ["lms:u1"]  # a result that cannot be identified stays an error
        assert status.unlinked_results == 0
    finally:
        engine.dispose()

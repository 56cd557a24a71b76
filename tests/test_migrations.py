"""The migrations build exactly the schema the code expects, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select

from syncd.state.db import make_engine
from syncd.state.migrate import alembic_config, current_revision, upgrade
from syncd.state.tables import cursors, metadata, parked_results, rate_limits


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


def test_rate_limits_gain_a_throttle_and_lose_it_again(db_url):
    upgrade(db_url, "0002")
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO rate_limits (credential, paused_until, paused_at, strikes, horizon) "
                "VALUES ('c0ffee', 0, 0, 2, 3600)"
            )
        upgrade(db_url)
        with engine.begin() as conn:
            row = conn.execute(select(rate_limits)).one()
            assert (row.credential, row.strikes, row.scale, row.scaled_at) == (
                "c0ffee", 2, 1.0, 0.0
            )  # the credential runs at its full limits until a 429 says otherwise
            conn.execute(rate_limits.update().values(scale=0.75, scaled_at=1_800_000_000.0))

        command.downgrade(alembic_config(db_url), "0002")
        columns = {c["name"] for c in inspect(engine).get_columns("rate_limits")}
        assert columns == {"credential", "paused_until", "paused_at", "strikes", "horizon"}
        with engine.connect() as conn:
            kept = conn.exec_driver_sql("SELECT credential, strikes FROM rate_limits").all()
        assert [tuple(r) for r in kept] == [("c0ffee", 2)]
    finally:
        engine.dispose()

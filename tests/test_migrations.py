"""The migrations build exactly the schema the code expects, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text

from syncd.model import LearningResult, ResultStatus
from syncd.state.db import make_engine
from syncd.state.migrate import alembic_config, current_revision, upgrade
from syncd.state.results import delivered_copies, mark_delivered
from syncd.state.tables import (
    cursors,
    delivered_results,
    metadata,
    operations,
    parked_results,
    rate_limits,
    sync_errors,
    sync_status,
)

AT = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


@contextmanager
def _store_at(url: str, revision: str) -> Iterator[Engine]:
    """A store migrated only as far as ``revision``, for rows as that revision knew them."""
    upgrade(url, revision)
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def _error(**fields) -> dict:
    """A ``sync_errors`` row as every revision knows it: connector lms, seen at ``AT``."""
    return {"connector": "lms", "first_seen_at": AT, "last_seen_at": AT, **fields}


def _downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


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
    parked = {"vendor": "fakelms", "lms_user_id": "u9", "course_id": "c1", "status": "passed"}
    rows = [
        {"connector": "lms", "name": "pull:csv", "value": {"seq": 7}, "updated_at": AT},
        {"connector": "lms", "name": "parked:" + "a" * 32, "value": parked, "updated_at": AT},
    ]
    with _store_at(db_url, "0001") as engine:
        with engine.begin() as conn:
            conn.execute(cursors.insert(), rows)
        upgrade(db_url)
        with engine.connect() as conn:
            moved = [tuple(r) for r in conn.execute(select(parked_results))]
            left = [r.name for r in conn.execute(select(cursors))]
        assert [(c, rid, value) for c, rid, value, _ in moved] == [("lms", "a" * 32, parked)]
        assert left == ["pull:csv"]

        _downgrade(db_url, "0001")
        with engine.connect() as conn:
            back = {r.name: r.value for r in conn.execute(select(cursors))}
        assert back == {"pull:csv": {"seq": 7}, "parked:" + "a" * 32: parked}
        assert "parked_results" not in inspect(engine).get_table_names()


def test_a_store_at_the_newest_revision_is_recognised_without_alembic(migrated_db_url):
    """Every cycle opens the store: when it is already at head, Alembic is not even imported."""
    import subprocess
    import sys

    from syncd.state.migrate import _newest_file_revision, head_revision

    assert _newest_file_revision() == head_revision()
    probe = (
        "import sys; from syncd.state.migrate import upgrade; "
        f"upgrade({migrated_db_url!r}); print('alembic' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr
    _downgrade(migrated_db_url, "0001")
    upgrade(migrated_db_url)  # behind: Alembic brings it to head as before
    assert current_revision(migrated_db_url) == head_revision()


def test_errors_gain_their_transient_flag_and_lose_it_again(db_url):
    row = _error(
        direction="push",
        hr_key="E1",
        operation="create",
        reason="HowNow refused it: email taken",
        attempts=1,
    )
    with _store_at(db_url, "0002") as engine:
        with engine.begin() as conn:
            columns = ", ".join(row)  # as 0002 knows the table: no transient column
            values = ", ".join(f":{name}" for name in row)
            conn.execute(text(f"INSERT INTO sync_errors ({columns}) VALUES ({values})"), row)
        upgrade(db_url)
        assert _differences(db_url) == []
        with engine.connect() as conn:
            [kept] = conn.execute(select(sync_errors)).mappings().all()
        assert kept["reason"] == row["reason"] and kept["transient"] is False  # a refusal

        _downgrade(db_url, "0002")
        columns = {c["name"] for c in inspect(engine).get_columns("sync_errors")}
        assert "transient" not in columns and "reason" in columns
        with engine.connect() as conn:
            reasons = conn.execute(select(sync_errors.c.reason)).scalars().all()
        assert reasons == [row["reason"]]


def test_delivered_results_gain_their_content_and_lose_it_on_downgrade(db_url):
    old = {"connector": "lms", "sink": "csv", "result_id": "r1", "content_hash": "h1"}
    with _store_at(db_url, "0003") as engine:
        with engine.begin() as conn:
            conn.execute(delivered_results.insert(), [{**old, "hr_key": "E1", "delivered_at": AT}])
        upgrade(db_url)
        assert _differences(db_url) == []
        certified = LearningResult(
            vendor="ilms",
            lms_user_id="7",
            course_id="c1",
            status=ResultStatus.PASSED,
            hr_key="E2",
            certificate_expires_at=datetime(2027, 1, 1, tzinfo=UTC),
            certification_status="Certified",
        )
        with engine.begin() as conn:
            mark_delivered(conn, "lms", "csv", [certified])
        with engine.connect() as conn:
            rows = {r.result_id: r for r in conn.execute(select(delivered_results))}
            kept = delivered_copies(conn, "lms", "csv", ["r1", certified.result_id])
        assert rows["r1"].result is None and rows["r1"].certificate_expires_at is None
        assert rows[certified.result_id].result["certification_status"] == "Certified"
        assert list(kept) == [certified.result_id]  # r1 was delivered before 0004 kept results
        assert kept[certified.result_id].certificate_expires_at == certified.certificate_expires_at

        _downgrade(db_url, "0003")
        columns = {c["name"] for c in inspect(engine).get_columns("delivered_results")}
        assert columns == {
            "connector",
            "sink",
            "result_id",
            "content_hash",
            "hr_key",
            "delivered_at",
        }
        with engine.connect() as conn:
            ids = {
                r.result_id for r in conn.execute(text("select result_id from delivered_results"))
            }
        assert ids == {"r1", certified.result_id}
        upgrade(db_url)
        assert _differences(db_url) == []


def test_not_linked_errors_of_earlier_versions_are_resolved_and_counts_start_at_0(db_url):
    """Results of unlinked accounts are no failure now: their old errors close on upgrade."""
    error = _error(direction="pull", reason="not linked", attempts=3)
    with _store_at(db_url, "0004") as engine:
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


def test_rate_limits_gain_a_throttle_and_lose_it_again(db_url):
    with _store_at(db_url, "0005") as engine:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO rate_limits (credential, paused_until, paused_at, strikes, horizon) "
                "VALUES ('c0ffee', 0, 0, 2, 3600)"
            )
        upgrade(db_url)
        with engine.begin() as conn:
            row = conn.execute(select(rate_limits)).one()
            assert (row.credential, row.strikes, row.scale, row.scaled_at) == (
                "c0ffee",
                2,
                1.0,
                0.0,
            )  # the credential runs at its full limits until a 429 says otherwise
            conn.execute(rate_limits.update().values(scale=0.75, scaled_at=1_800_000_000.0))

        _downgrade(db_url, "0005")
        columns = {c["name"] for c in inspect(engine).get_columns("rate_limits")}
        assert columns == {"credential", "paused_until", "paused_at", "strikes", "horizon"}
        with engine.connect() as conn:
            kept = conn.exec_driver_sql("SELECT credential, strikes FROM rate_limits").all()
        assert [tuple(r) for r in kept] == [("c0ffee", 2)]


def test_errors_gain_their_target_from_their_operation_and_lose_it_again(db_url):
    with _store_at(db_url, "0006") as engine:
        with engine.begin() as conn:
            conn.execute(
                operations.insert().values(
                    id=7,
                    connector="lms",
                    seq=1,
                    kind="enroll",
                    hr_key="E1",
                    target="101",
                    payload={},
                    state="failed",
                    attempts=1,
                    created_at=AT,
                    updated_at=AT,
                )
            )
            for operation, operation_id in (("enroll", 7), ("validate", None)):
                conn.execute(
                    sync_errors.insert().values(
                        **_error(
                            direction="push",
                            hr_key="E1",
                            operation=operation,
                            reason=f"{operation} refused",
                            attempts=1,
                            operation_id=operation_id,
                        )
                    )
                )
        upgrade(db_url)
        assert _differences(db_url) == []
        with engine.connect() as conn:
            rows = conn.execute(select(sync_errors.c.operation, sync_errors.c.target)).all()
        targets = {operation: target for operation, target in rows}
        assert targets == {"enroll": "101", "validate": ""}  # the enrollment's course
        with engine.begin() as conn:  # a second course's refusal is a row of its own now
            conn.execute(
                sync_errors.insert().values(
                    **_error(
                        direction="push",
                        hr_key="E1",
                        operation="enroll",
                        target="102",
                        reason="course 102 refused",
                        attempts=1,
                    )
                )
            )

        _downgrade(db_url, "0006")
        columns = {c["name"] for c in inspect(engine).get_columns("sync_errors")}
        assert "target" not in columns
        with engine.connect() as conn:
            kept = conn.exec_driver_sql(
                "SELECT operation, reason FROM sync_errors ORDER BY operation"
            ).all()
        assert [tuple(r) for r in kept] == [
            ("enroll", "course 102 refused"),  # the newest of the person's enroll rows
            ("validate", "validate refused"),
        ]

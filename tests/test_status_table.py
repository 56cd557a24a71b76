"""``syncd status`` as an operator reads it: 80 columns, times with their zone, ``--wide``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine

from syncd.state import store
from syncd.state.tables import operations
from tests.support.cli import run_syncd
from tests.support.configs import talentlms_connector, write_config

LONG_ERROR = (
    "TalentLMS refused the credentials (HTTP 401 unauthorized: 'Invalid API key'); check "
    "target.api_key of connector talentlms-emea, then the next attempt is at 14:35 UTC"
)


def _config(tmp_path: Path, state_url: str) -> Path:
    (tmp_path / "hr.csv").write_text("employee_id,email\n1,a@x.test\n")
    connector = talentlms_connector("talentlms-emea", "http://127.0.0.1:9", "k-123456")
    return write_config(tmp_path, state_url, connector)


def _seed(url: str) -> None:
    engine = create_engine(url)
    success = datetime(2026, 12, 4, 9, 5, 7, tzinfo=UTC)
    with engine.begin() as conn:
        store.set_status(
            conn, "talentlms-emea", "push", state="failed", last_started_at=success,
            last_finished_at=success, last_success_at=success,
            next_run_at=datetime(2026, 12, 4, 14, 35, tzinfo=UTC),
            pending_ops=3220, failed_ops=32, last_error=LONG_ERROR,
        )
        # `syncd status` counts a push's queue in the outbox, as it is now
        conn.execute(operations.insert(), [
            {"connector": "talentlms-emea", "seq": i, "kind": "create", "hr_key": f"E{i}",
             "payload": {}, "state": "pending" if i < 3220 else "failed",
             "created_at": success, "updated_at": success}
            for i in range(3220 + 32)
        ])
        store.set_status(
            conn, "talentlms-emea", "reconcile", state="idle",
            next_run_at=datetime(2026, 12, 5, 2, 0, tzinfo=UTC),
        )
    engine.dispose()


def test_status_fits_80_columns_with_times_in_utc(tmp_path, migrated_db_url):
    _seed(migrated_db_url)
    result = run_syncd("status", "--config", str(_config(tmp_path, migrated_db_url)),
                       env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, result.stdout
    push = next(line for line in lines if " push " in line)
    assert push.split() == ["talentlms-emea", "push", "failed", "12-04", "09:05", "12-04",
                            "14:35", "3220", "32"]
    assert "(UTC)" in result.stdout  # the zone of every time shown, in its column's header
    assert any(line.startswith("talentlms-emea push: TalentLMS refused") for line in lines)
    assert LONG_ERROR not in result.stdout  # cut to one line; --wide has it whole
    assert "--wide" in result.stdout


def test_status_wide_shows_every_column_and_the_error_whole(tmp_path, migrated_db_url):
    _seed(migrated_db_url)
    result = run_syncd("status", "--wide", "--config", str(_config(tmp_path, migrated_db_url)),
                       env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    assert LONG_ERROR in result.stdout
    assert "2026-12-04 09:05:07+00:00" in result.stdout
    assert "last_finished_at" in result.stdout


def test_status_json_times_carry_their_zone(tmp_path, migrated_db_url):
    _seed(migrated_db_url)
    result = run_syncd("status", "--json", "--config", str(_config(tmp_path, migrated_db_url)))
    rows = {row["direction"]: row for row in json.loads(result.stdout)}
    assert datetime.fromisoformat(rows["push"]["last_success_at"]) == datetime(
        2026, 12, 4, 9, 5, 7, tzinfo=UTC
    )
    assert rows["push"]["last_success_at"].endswith("+00:00")
    assert rows["reconcile"]["next_run_at"].endswith("+00:00")

"""``syncd plan`` of a first sync with more new people than a chunk, against the TalentLMS
sandbox: planned a chunk at a time as the push is, and printed as the whole plan prints.

Each plan is a real ``syncd`` process whose chunk sizes are set before the command runs
(three people a chunk, or more than the file holds: the whole plan, as before streaming).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from syncd.sandbox import Sandbox
from syncd.state.tables import links, operations, out_of_scope, sync_errors, sync_runs
from tests.support import chunked
from tests.support.configs import talentlms_connector, write_config
from tests.test_cli_sandbox import _writes

API_KEY = "sandbox-talentlms-key"
HEADER = "employee_id,first_name,last_name,email,department,status\n"
DEPARTMENTS = ["Engineering", "Sales", "Support"]
WHOLE = 1000  # more than the file's people: planned whole


def _people() -> str:
    """Fourteen records, twelve people: a contractor out of scope, an invalid e-mail and a
    repeated key past the first chunk, and one person the LMS already has (adopted)."""
    rows = []
    for i in range(1, 13):
        status = "contractor" if i == 5 else "active"
        email = {7: "not-an-email", 11: "kept@stream.test"}.get(i, f"e{i}@stream.test")
        rows.append(f"E{i:02},First{i},Last{i},{email},{DEPARTMENTS[i % 3]},{status}\n")
    rows.append("E09,Other,Nine,other9@stream.test,Sales,active\n")
    return HEADER + "".join(rows)


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(vendors=["talentlms"], job_duration=0.1) as running:
        running.sim("talentlms").seed(
            {"users": [{"login": "kept", "email": "kept@stream.test", "first_name": "Old"}]}
        )
        yield running


def _config(tmp_path: Path, state_url: str, base_url: str) -> Path:
    (tmp_path / "hr.csv").write_text(_people())
    connector = talentlms_connector(
        "lms",
        base_url,
        "${LMS_KEY}",
        scope="status != 'contractor'",
        groups=[
            {
                "from": "{{ department }}",
                "map": {"Engineering": "Engineering Team", "Sales": "Sales Team"},
            }
        ],
        enrollments=[{"when": "{{ department == 'Sales' }}", "courses": [103, 999]}],
    )
    return write_config(tmp_path, state_url, connector, log={"format": "json"})


def _plan(chunk: int, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``syncd plan lms ARGS`` in its own process, ``chunk`` new people a chunk."""
    return subprocess.run(
        [sys.executable, *chunked.entry(chunk), "plan", "lms", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        env={**os.environ, "LMS_KEY": API_KEY},
        timeout=120,
    )


def _said(stream: str) -> list[str]:
    """The lines a user reads: the log's JSON lines left out."""
    return [line for line in stream.splitlines() if not line.startswith("{")]


def _stored(state_url: str) -> dict[str, int]:
    engine = create_engine(state_url)
    try:
        with engine.connect() as conn:
            return {
                table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                for table in (operations, links, sync_errors, out_of_scope, sync_runs)
            }
    finally:
        engine.dispose()


def test_a_streamed_plan_prints_the_table_forecast_and_errors_of_the_whole_plan(
    tmp_path, db_url, sandbox
):
    config = _config(tmp_path, db_url, sandbox.base_url("talentlms"))
    writes = _writes(sandbox)
    whole, streamed = _plan(WHOLE, config), _plan(3, config)
    assert whole.returncode == streamed.returncode == 0, streamed.stderr
    assert streamed.stdout == whole.stdout  # table, forecast and notes
    out = streamed.stdout
    assert "create" in out and "update" in out  # E11 is adopted: its name is updated
    assert "Support' does not exist in TalentLMS and create_missing is off: 3 group adds" in out
    assert "course 999 in TalentLMS: Course not found: 3 enrollments would fail" in out
    assert "out of scope: 1 people" in out and "E05: scope" in out
    errors = [line for line in _said(streamed.stderr) if line.startswith("not planned:")]
    assert errors == [line for line in _said(whole.stderr) if line.startswith("not planned:")]
    assert [e.split(": ")[1] for e in errors] == ["E07", "E09"]  # named, past the first chunk
    assert "E07: validate: " in errors[0]
    assert _writes(sandbox) == writes  # a plan reads, it never writes
    stored = _stored(db_url)
    assert stored == {
        "operations": 0,
        "links": 0,
        "sync_errors": 0,
        "out_of_scope": 0,
        "sync_runs": 2,
    }  # the run row each plan writes, as before, and nothing else


def test_a_streamed_plan_json_gives_every_operation_of_the_whole_plan(tmp_path, db_url, sandbox):
    config = _config(tmp_path, db_url, sandbox.base_url("talentlms"))
    whole, streamed = _plan(WHOLE, config, "--json"), _plan(3, config, "--json")
    assert whole.returncode == streamed.returncode == 0, streamed.stderr
    shown = [json.loads(line) for line in streamed.stdout.splitlines()]
    assert sorted(map(json.dumps, shown)) == sorted(
        json.dumps(json.loads(line)) for line in whole.stdout.splitlines()
    )
    assert len({op["hr_key"] for op in shown if op["kind"] == "create"}) == 8
    kinds = [op["kind"] for op in shown]  # printed a chunk at a time, as each is planned:
    last_create = max(i for i, kind in enumerate(kinds) if kind == "create")
    assert kinds.index("group_add") < last_create  # the first chunk's before the last's creates
    assert _said(streamed.stderr) == _said(whole.stderr)  # the forecast, beside them
    assert _stored(db_url)["operations"] == 0

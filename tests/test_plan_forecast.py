"""``syncd plan`` against the TalentLMS sandbox: what the push would meet, seen by an operator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from syncd.sandbox import Sandbox
from tests.support.cli import run_syncd as syncd
from tests.support.configs import talentlms_connector, write_config
from tests.test_cli_sandbox import _writes

API_KEY = "sandbox-talentlms-key"
ENV = {"LMS_KEY": API_KEY}
HEADER = "employee_id,first_name,last_name,email,department,status\n"
PEOPLE = {
    "C1": "C1,Ann,Smith,ann@plan.test,Engineering,active\n",
    "C2": "C2,Bob,Jones,bob@plan.test,Sales,active\n",
    "C3": "C3,Cy,Dee,cy@plan.test,Support,active\n",
    "C4": "C4,Di,Eve,di@plan.test,Sales,contractor\n",
}


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(vendors=["talentlms"], job_duration=0.1) as running:
        yield running


def _config(tmp_path: Path, state_url: str, base_url: str, people=PEOPLE) -> Path:
    (tmp_path / "hr.csv").write_text(HEADER + "".join(people.values()))
    connector = talentlms_connector(
        "lms",
        base_url,
        "${LMS_KEY}",
        scope="status != 'contractor'",
        groups=[{"from": "{{ department }}", "map": {"Engineering": "Engineering Team",
                                                       "Sales": "Sales Team"}}],
        enrollments=[{"when": "{{ department == 'Sales' }}", "courses": [103, 999]}],
        guard={"max_deactivations": 0},
    )
    return write_config(tmp_path, state_url, connector, log={"format": "json"})


def test_plan_names_missing_groups_and_courses_people_out_of_scope_and_the_calls(
    tmp_path, db_url, sandbox
):
    config = _config(tmp_path, db_url, sandbox.base_url("talentlms"))
    writes = _writes(sandbox)
    result = syncd("plan", "lms", "--config", str(config), env=ENV)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "missing in the LMS (the push would fail these):" in out
    assert (
        "group 'Support' does not exist in TalentLMS and create_missing is off: "
        "1 group adds would fail"
    ) in out
    assert "Sales Team" not in out.split("missing in the LMS")[1]  # it exists
    assert "course 999 in TalentLMS: Course not found: 1 enrollments would fail" in out
    assert "out of scope: 1 people" in out
    assert "C4: scope \"status != 'contractor'\" is false (status='contractor')" in out
    assert "calls: about " in out
    assert _writes(sandbox) == writes  # a plan reads, it never writes


def test_plan_exits_3_when_the_push_would_trip_the_guard(tmp_path, db_url, sandbox):
    config = _config(tmp_path, db_url, sandbox.base_url("talentlms"))
    first = syncd("sync", "lms", "--direction", "push", "--config", str(config), env=ENV)
    assert first.returncode == 1, first.stderr  # Support and course 999 fail: partial
    _config(tmp_path, db_url, sandbox.base_url("talentlms"),
            {k: v for k, v in PEOPLE.items() if k != "C1"})

    result = syncd("plan", "lms", "--config", str(config), env=ENV)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "guard: the push would stop here (exit 3)" in result.stdout
    status = json.loads(syncd("status", "--json", "--config", str(config), env=ENV).stdout)
    assert status[0]["state"] != "guarded"  # only a push trips the guard for real
    pushed = syncd("sync", "lms", "--direction", "push", "--config", str(config), env=ENV)
    assert pushed.returncode == 3  # as the plan said

    only = syncd("sync", "lms", "--only", "C2", "--direction", "push",
                 "--config", str(config), env=ENV)
    assert "C2: unchanged since the last push" in only.stdout

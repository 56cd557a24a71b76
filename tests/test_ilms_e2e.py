"""iLMS end to end: real push and pull cycles against the iLMS sandbox over loopback HTTP.

Each test writes a YAML configuration and an HR file in tmp_path, loads them with
``load_config``, and runs cycles through the runtime and the engines, with the state
store on SQLite and on PostgreSQL. What is asserted is what an integration engineer
would check: the accounts, groups and enrollments iLMS ends with, the requests it
saw, the errors ``syncd errors`` lists, and the rows the HR sink holds.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import MetaData, select

from syncd.assemble import load_config
from syncd.config import ConfigError
from syncd.engine.cycle import CycleOutcome
from syncd.engine.push.run import PushResult
from syncd.model import LinkStatus, OpKind, OpState
from syncd.sandbox import Sandbox
from syncd.state import store
from syncd.state.tables import operations
from tests.support.cli import run_syncd
from tests.support.configs import save_config
from tests.support.e2e import E2EConnector, calls, connector_factory, error_reasons, hr_person

LOGIN, KEY, ORG = "sandbox-ilms-login", "sandbox-ilms-key", "1001"
HR_COLUMNS = ["employee_id", "first_name", "last_name", "email", "department", "title", "status"]
USERS_POST = "POST /organizations/{org_id}/users"
ROOMY = {"per_minute": 6000}

# An organization whose departments are the HR departments (Finance has no iLMS group).
TREE = {
    "regions": [
        {
            "id": 700,
            "name": "Acme",
            "divisions": [
                {
                    "id": 710,
                    "name": "Staff",
                    "departments": [
                        {"id": 711, "name": "Engineering"},
                        {"id": 712, "name": "Sales"},
                        {"id": 713, "name": "Finance"},
                    ],
                }
            ],
        }
    ]
}
SECURITY, DATA_SECURITY = "p1gyJg4a", "wqivr6aA"  # courses of the sandbox's default data


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(vendors=["ilms"], ilms=ROOMY) as server:
        yield server


@pytest.fixture
def portal(sandbox):
    """The iLMS simulator, back to its start-up data plus the Acme hierarchy."""
    sim = sandbox.sim("ilms")
    sim.reset()
    sim.seed(TREE)
    return sim


def person(key: str, dept: str = "Engineering", **extra: Any) -> dict[str, str]:
    return {**hr_person(key, dept), "title": "Engineer", **extra}


class Connector(E2EConnector):
    """One iLMS connector configured from YAML, and the HR file it reads."""

    name = "ilms"
    columns = HR_COLUMNS
    retry_attempts = 5

    def __init__(
        self,
        tmp_path: Path,
        db_url: str,
        base_url: str,
        *,
        rate_limit: dict | None = None,
        pull: dict | None = None,
        target: dict | None = None,
        **users: Any,
    ) -> None:
        super().__init__(
            tmp_path,
            db_url,
            {
                "name": "ilms",
                "source": "hr",
                "scope": "status != 'contractor'",
                "schedule": {"every": "15m"},
                "target": {
                    "type": "ilms",
                    "base_url": base_url,
                    "org_id": ORG,
                    "api_login_id": LOGIN,
                    "transaction_key": KEY,
                    "rate_limit": rate_limit or {"per_minute": 6000},
                    **(target or {}),
                },
                "users": {
                    "match": "F004",
                    "fields": {
                        "F001": "{{ first_name }}",
                        "F003": "{{ last_name }}",
                        "F004": "{{ employee_id }}",
                        "email": "{{ email | lower }}",
                        "job_title": "{{ title }}",
                        "region": "Acme",
                        "division": "Staff",
                        "department": "{{ department }}",
                    },
                    "active": "{{ status in ['active', 'leave'] }}",
                    **users,
                },
                "groups": [{"from": "{{ department }}"}],
                "enrollments": [
                    {"courses": [SECURITY]},
                    {"when": "{{ department == 'Sales' }}", "courses": [DATA_SECURITY]},
                ],
                "guard": {"max_deactivations": "100%"},
                "pull": {"sink": "training", **(pull or {})},
            },
        )

    def push(self, before_creates: Callable[[], None] | None = None) -> PushResult:
        """One push cycle; ``before_creates`` runs just before the first account is sent
        (after validation and matching), to inject a fault into the creates themselves."""
        adapter = self.adapter()
        if before_creates is not None:
            execute = adapter.execute

            def armed(ops):
                if ops and ops[0].kind is OpKind.CREATE:
                    before_creates()
                    adapter.execute = execute
                return execute(ops)

            adapter.execute = armed
        return super().push(adapter)

    def errors(self) -> dict[tuple[str, str], str]:
        return error_reasons(self.engine, "ilms")

    def remote_ids(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            return {
                link.hr_key: link.remote_id
                for link in store.iter_links(conn, "ilms", LinkStatus)
                if link.remote_id
            }


@pytest.fixture
def make_connector(tmp_path, db_url, sandbox, portal):
    with connector_factory(Connector, tmp_path, db_url, sandbox.base_url("ilms")) as make:
        yield make


def accounts(portal) -> dict[str, dict]:
    """iLMS users by employee id (F004), with group and course names resolved."""
    state = portal.dump()
    groups = {g["id"]: g["name"] for g in state["groups"]}
    courses: dict[int, list[str]] = {}
    for enrollment in state["enrollments"]:
        courses.setdefault(enrollment["user_id"], []).append(enrollment["course_id"])
    return {
        u["profile"]["F004"]: {
            **u,
            "groups": sorted(groups[g] for g in u["groups"]),
            "courses": sorted(courses.get(u["id"], [])),
        }
        for u in state["users"]
    }


# ---------------------------------------------------------------------------------------------


def test_first_sync_creates_exactly_the_desired_accounts_and_a_second_costs_nothing(
    make_connector, portal
):
    lms = make_connector()
    lms.hr = [
        person("E1"),
        person("E2", dept="Sales", title="Account Executive"),
        person("E3", status="leave"),
        person("E4", status="contractor"),
    ]
    result = lms.push()
    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    found = accounts(portal)
    assert set(found) == {"E1", "E2", "E3"}
    e2 = found["E2"]
    assert e2["status"] == "Active" and e2["registration_type"] == "API"
    assert e2["profile"] == {
        "F001": "FirstE2",
        "F003": "LastE2",
        "F004": "E2",
        "F007": "Account Executive",
        "F015": "e2@acme.test",
        "F019": "Acme",
        "F020": "Staff",
        "F021": "Sales",
    }
    assert found["E1"]["groups"] == ["Engineering"] and e2["groups"] == ["Sales"]
    assert found["E1"]["courses"] == [SECURITY]
    assert e2["courses"] == sorted([SECURITY, DATA_SECURITY])
    assert result.counts["created"] == 3
    used = calls(portal)
    assert used[USERS_POST] == 3 and used["GET /organizations/{org_id}/groups"] == 1
    assert result.counts["api_calls"] == sum(used.values())  # every call is counted

    before = sum(calls(portal).values())
    again = lms.push()
    assert again.outcome == CycleOutcome.SUCCESS and again.plan == []
    assert again.counts["api_calls"] == 0 and sum(calls(portal).values()) == before


def test_leaver_is_deactivated_and_rehire_reactivated_not_created_twice(make_connector, portal):
    lms = make_connector()
    lms.hr = [person("E1"), person("E2")]
    lms.push()
    ids = lms.remote_ids()

    leaver = lms.hr.pop()
    result = lms.push()
    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    assert result.counts["deactivated"] == 1
    assert accounts(portal)["E2"]["status"] == "Inactive"
    assert accounts(portal)["E1"]["status"] == "Active"

    leaver["last_name"] = "Returned"
    lms.hr.append(leaver)
    result = lms.push()
    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    assert result.counts["reactivated"] == 1 and result.counts["created"] == 0
    found = accounts(portal)
    assert len(found) == 2 and calls(portal)[USERS_POST] == 2
    assert found["E2"]["id"] == int(ids["E2"]) and found["E2"]["status"] == "Active"
    assert found["E2"]["profile"]["F003"] == "Returned"


def test_department_change_moves_group_membership_and_sends_only_what_changed(
    make_connector, portal
):
    lms = make_connector()
    lms.hr = [person("E1", dept="Engineering"), person("E2")]
    lms.push()
    since = len(portal.requests())

    lms.hr[0]["department"] = "Sales"
    result = lms.push()
    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    moved = accounts(portal)["E1"]
    assert moved["groups"] == ["Sales"] and moved["profile"]["F021"] == "Sales"
    assert moved["courses"] == sorted([SECURITY, DATA_SECURITY])
    assert accounts(portal)["E2"]["groups"] == ["Engineering"]
    sent = Counter(r["endpoint"] for r in portal.requests(since))
    assert sent["PUT /organizations/{org_id}/users/{user_id}"] == 1
    assert sent["DELETE /organizations/{org_id}/groups/{group_id}/members/{user_id}"] == 1
    assert sent["POST /organizations/{org_id}/groups/{group_id}/members"] == 1
    assert sent["POST /organizations/{org_id}/courses/{course_id}/enrollments"] == 1
    assert sent[USERS_POST] == 0 and sent["GET /organizations/{org_id}/users"] == 0


def test_an_invalid_record_is_reported_and_never_sent(make_connector, portal):
    lms = make_connector()
    lms.hr = [
        person("E1"),
        person("E2", email="e2+lms@acme.test"),
        person("E3", title="Principal Distinguished Senior Staff Engineer, Platform"),
        person("E4", dept="Legal"),
    ]
    result = lms.push()
    assert result.outcome == CycleOutcome.PARTIAL
    assert result.counts["created"] == 1 and result.counts["failed"] == 3
    assert set(accounts(portal)) == {"E1"}
    assert calls(portal)[USERS_POST] == 1  # the three were never sent
    errors = lms.errors()
    assert set(errors) == {("E2", "validate"), ("E3", "validate"), ("E4", "validate")}
    assert "email (F015 Email ID)" in errors["E2", "validate"]
    assert "plus-addressed" in errors["E2", "validate"]
    assert (
        "job_title (F007 Job Title): 55 characters, iLMS allows at most 50"
        in (errors["E3", "validate"])
    )
    assert "department 'Legal' does not exist in division 'Staff'" in errors["E4", "validate"]

    lms.hr[1]["email"] = "e2@acme.test"  # fixed in HR: goes through on the next cycle
    result = lms.push()
    assert result.counts["created"] == 1
    assert set(accounts(portal)) == {"E1", "E2"}
    assert ("E2", "validate") not in lms.errors()


def test_a_missing_group_is_a_clear_error_for_that_person_only(make_connector, portal):
    lms = make_connector()
    lms.hr = [person("E1", dept="Finance"), person("E2")]
    result = lms.push()
    assert result.outcome == CycleOutcome.PARTIAL
    reason = (
        "group 'Finance' does not exist in iLMS, and iLMS's API cannot create groups: "
        "create it in iLMS, or map this HR value to an existing group"
    )
    assert result.errors == [f"group_add E1 -> Finance: {reason}"]
    found = accounts(portal)
    assert found["E1"]["profile"]["F021"] == "Finance" and found["E1"]["groups"] == []
    assert found["E1"]["courses"] == [SECURITY] and found["E2"]["groups"] == ["Engineering"]


def test_a_429_and_5xx_storm_mid_run_fails_no_operation(make_connector, portal):
    lms = make_connector()
    lms.hr = [person(f"E{i}", dept="Sales" if i % 2 else "Engineering") for i in range(6)]
    # Once the accounts exist, membership and enrollment writes meet 429s, then 500s.
    portal.set_faults(
        {
            "storm_requests": 3,
            "storm_retry_after": 1,
            "error_next": 3,
            "error_status": 500,
            "paths": [f"/organizations/{ORG}/groups/", f"/organizations/{ORG}/courses/"],
        }
    )
    result = lms.push()
    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    assert result.counts["failed"] == 0
    assert portal.count(status=429) == 3 and portal.count(status=500) == 3
    found = accounts(portal)
    assert len(found) == 6 and all(a["groups"] and a["courses"] for a in found.values())
    with lms.engine.connect() as conn:
        states = {row.state for row in conn.execute(select(operations.c.state))}
    assert states == {OpState.DONE.value}


def test_a_lost_create_answer_is_found_not_sent_twice(make_connector, portal):
    lms = make_connector()
    lms.hr = [person("E1"), person("E2")]
    lost = {"drop_next": 1, "drop_after_processing": True, "paths": [f"/organizations/{ORG}/users"]}
    result = lms.push(before_creates=lambda: portal.set_faults(lost))
    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    found = accounts(portal)
    assert sorted(found) == ["E1", "E2"]  # one account each
    assert calls(portal)[USERS_POST] == 2  # the lost one was looked up, not sent again
    assert lms.remote_ids() == {k: str(a["id"]) for k, a in found.items()}


def test_a_server_error_on_create_is_sent_again_once_nothing_was_created(make_connector, portal):
    lms = make_connector()
    lms.hr = [person("E1")]
    failing = {"error_next": 1, "error_status": 500, "paths": [f"/organizations/{ORG}/users"]}
    result = lms.push(before_creates=lambda: portal.set_faults(failing))
    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    assert list(accounts(portal)) == ["E1"]
    assert portal.count(USERS_POST, 500) == 1 and portal.count(USERS_POST, 201) == 1


def test_first_sync_matches_existing_accounts_by_employee_id(make_connector, portal):
    portal.seed(
        {
            "users": [
                {
                    "id": 600001,
                    "status": "Active",
                    "groups": [4],
                    "profile": {"F001": "Old", "F003": "Name", "F004": "E1", "F019": "Acme",
                                "F020": "Staff", "F021": "Engineering"},
                },
                {
                    "id": 600002,
                    "status": "Inactive",
                    "profile": {"F001": "Gone", "F003": "Two", "F004": "E2", "F019": "Acme",
                                "F020": "Staff", "F021": "Engineering"},
                },
                {
                    "id": 600003,
                    "status": "Active",
                    "profile": {"F001": "Other", "F003": "Three", "F004": "E10",
                                "F019": "Acme", "F020": "Staff", "F021": "Engineering"},
                },
            ]
        }
    )  # fmt: skip
    lms = make_connector()
    lms.hr = [person("E1"), person("E2"), person("E3")]
    result = lms.push()
    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    assert result.counts["created"] == 1 and result.counts["reactivated"] == 1
    found = accounts(portal)
    assert set(found) == {"E1", "E2", "E3", "E10"}  # E10 is not E1 ("contains" search)
    assert found["E1"]["id"] == 600001 and found["E1"]["profile"]["F001"] == "FirstE1"
    assert found["E2"]["id"] == 600002 and found["E2"]["status"] == "Active"
    assert found["E1"]["groups"] == ["Engineering"]  # already a member: not an error
    assert lms.errors() == {}


def test_the_connectors_rate_limit_drives_the_client_so_no_429_is_ever_returned(tmp_path, db_url):
    # This sandbox allows 12 calls in any 2 s for the login; the connector says the same.
    with Sandbox(vendors=["ilms"], ilms={"per_minute": 12, "minute_window": 2.0}) as tight:
        tight.sim("ilms").seed(TREE)
        lms = Connector(
            tmp_path,
            db_url,
            tight.base_url("ilms"),
            rate_limit={"burst": 12, "burst_window": "2s", "per_minute": None},
        )
        try:
            lms.hr = [person(f"E{i}") for i in range(5)]
            result = lms.push()
        finally:
            lms.close()
        assert result.outcome == CycleOutcome.SUCCESS, result.errors
        assert result.counts["api_calls"] > 12  # more than one window's worth ...
        assert tight.sim("ilms").count(status=429) == 0  # ... and never over the limit
        assert len(accounts(tight.sim("ilms"))) == 5


def test_on_missing_delete_is_a_configuration_error_naming_the_reason(tmp_path, db_url, sandbox):
    with pytest.raises(ConfigError) as raised:
        Connector(tmp_path, db_url, sandbox.base_url("ilms"), on_missing="delete")
    message = str(raised.value)
    assert "users.on_missing" in message
    assert "ilms cannot delete users (its API only deactivates users)" in message
    assert "use on_missing: deactivate or ignore" in message


def test_credentials_never_reach_logs_or_the_state_store(make_connector, portal):
    lms = make_connector()
    lms.hr = [person("E1"), person("E2", email="bad+address@acme.test")]
    with structlog.testing.capture_logs() as events:
        lms.push()
        portal.complete(int(lms.remote_ids()["E1"]), SECURITY, score=75)
        lms.pull()
    assert events and not [e for e in events if KEY in repr(e) or LOGIN in repr(e)]
    metadata = MetaData()
    metadata.reflect(lms.engine)
    with lms.engine.connect() as conn:
        stored = [repr(tuple(row)) for table in metadata.tables.values()
                  for row in conn.execute(select(table))]  # fmt: skip
    assert stored and not [row for row in stored if KEY in row or LOGIN in row]


def test_a_password_is_sent_on_create_but_never_printed_or_stored(make_connector, portal):
    lms = make_connector()
    lms.document["connectors"][0]["users"]["fields"]["F016"] = "{{ employee_id }}-Initial-9"
    config_path = save_config(lms.path, lms.document)
    lms.hr = [person("E1")]
    lms.write_hr()
    planned = run_syncd("plan", "ilms", "--json", "--config", str(config_path))
    assert planned.returncode == 0, planned.stderr
    [create] = [json.loads(line) for line in planned.stdout.splitlines() if '"create"' in line]
    assert create["changed"]["F004"] == "E1" and "F016" not in create["changed"]
    assert "Initial-9" not in planned.stdout + planned.stderr

    lms.config = load_config(config_path)
    assert lms.push().outcome == CycleOutcome.SUCCESS
    assert accounts(portal)["E1"]["has_password"]
    metadata = MetaData()
    metadata.reflect(lms.engine)
    with lms.engine.connect() as conn:
        stored = [repr(tuple(row)) for table in metadata.tables.values()
                  for row in conn.execute(select(table))]  # fmt: skip
    assert not [row for row in stored if "Initial-9" in row]
    lms.hr[0]["title"] = "Lead"  # an update never re-sends the password (F016 reads null)
    assert lms.push().counts["updated"] == 1


def test_wrong_credentials_stop_the_cycle_without_showing_them(make_connector, portal):
    lms = make_connector(target={"transaction_key": "not-the-key"})
    lms.hr = [person("E1")]
    result = lms.push()
    assert result.outcome == CycleOutcome.FAILED and result.exit_code == 4
    assert "ilms refused the credentials (HTTP 401" in result.message
    assert "not-the-key" not in result.message and accounts(portal) == {}


# --- pull ---------------------------------------------------------------------------------------


def test_a_completion_reaches_the_hr_sink_exactly_once(make_connector, portal):
    lms = make_connector()
    lms.hr = [person("E1"), person("E2", dept="Sales")]
    lms.push()
    ids = lms.remote_ids()
    portal.complete(int(ids["E1"]), SECURITY, score=88)

    for _ in range(2):
        result = lms.pull()
        assert result.outcome == CycleOutcome.SUCCESS, result.errors
    portal.complete(int(ids["E2"]), DATA_SECURITY, status="Fail", score=40)
    for _ in range(2):
        assert lms.pull().outcome == CycleOutcome.SUCCESS
    rows = lms.sink_rows()
    done = [r for r in rows if r["status"] != "not_started"]
    assert [(r["hr_key"], r["course_id"], r["status"], r["score"]) for r in done] == [
        ("E1", SECURITY, "passed", "88"),
        ("E2", DATA_SECURITY, "failed", "40"),
    ]
    assert done[0]["vendor"] == "ilms" and done[0]["lms_user_id"] == ids["E1"]
    assert done[0]["course_name"] == "Security" and done[0]["completed_at"].endswith("Z")
    assert done[0]["progress"] == "" and done[0]["certificate_url"] == ""  # never invented
    # One row per change: E2's Data Security came as not started, then as failed.
    assert Counter((r["hr_key"], r["course_id"]) for r in rows) == {
        ("E1", SECURITY): 1,
        ("E2", SECURITY): 1,
        ("E2", DATA_SECURITY): 2,
    }


def test_a_leavers_results_still_arrive(make_connector, portal):
    lms = make_connector()
    lms.hr = [person("E1"), person("E2")]
    lms.push()
    ids = lms.remote_ids()
    lms.hr.pop()
    lms.push()
    portal.complete(int(ids["E2"]), SECURITY, score=95)  # finished on their last day
    assert lms.pull().outcome == CycleOutcome.SUCCESS
    passed = [r for r in lms.sink_rows() if r["status"] == "passed"]
    assert [(r["hr_key"], r["score"]) for r in passed] == [("E2", "95")]


def test_the_scan_is_spread_over_cycles_within_its_budget(make_connector, portal):
    # 6000 calls a minute and a tiny share: two calls a cycle, the
    # course listing and one course's enrollments; the sandbox has five courses.
    lms = make_connector(pull={"budget_share": 0.0004})
    lms.hr = [person("E1")]
    lms.push()
    portal.complete(int(lms.remote_ids()["E1"]), "x56QjLXI", score=70)  # the last course by id
    pulls = []
    for _ in range(5):
        result = lms.pull()
        assert result.outcome == CycleOutcome.SUCCESS, result.errors
        pulls.append(result.counts["api_calls"])
    assert pulls == [2, 2, 2, 2, 2]
    passed = [r for r in lms.sink_rows() if r["status"] == "passed"]
    assert [(r["hr_key"], r["course_id"]) for r in passed] == [("E1", "x56QjLXI")]
    before = len(lms.sink_rows())
    for _ in range(5):  # a second full scan: unchanged results are not delivered again
        lms.pull()
    assert len(lms.sink_rows()) == before

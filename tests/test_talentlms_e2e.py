"""TalentLMS end to end: real push and pull cycles against the sandbox over loopback HTTP.

Each test writes a YAML configuration and an HR file in tmp_path, loads them with
``load_config``, and runs cycles through the runtime and the engines, with the
state store on SQLite and on PostgreSQL. What is asserted is what an integration
engineer would check in the portal, the state store and the HR sink.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from syncd.engine.cycle import CycleOutcome
from syncd.engine.push import stream
from syncd.engine.push.run import retry
from syncd.engine.push.settings import JobPolling
from syncd.model import DesiredUser, OpKind, OpState
from syncd.sandbox import Sandbox
from syncd.state import store
from syncd.state.status import status_rows
from syncd.state.tables import operations, sync_runs
from tests.support.cli import run_syncd
from tests.support.e2e import (
    Crash,
    E2EConnector,
    calls,
    connector_factory,
    crashing_after,
    hr_person,
    last_request,
    pull_cycle,
    reads_before_writing,
)

API_KEY = "sandbox-talentlms-key"
HR_COLUMNS = ["employee_id", "first_name", "last_name", "email", "department", "location", "status"]


@pytest.fixture(scope="module")
def sandbox():
    """One TalentLMS simulator for the module; tasks take 50 ms, limits are generous."""
    with Sandbox(
        vendors=["talentlms"],
        job_duration=0.05,
        talentlms={"hourly_limit": 1_000_000, "burst_limit": 100_000},
    ) as server:
        yield server


@pytest.fixture
def portal(sandbox):
    """The simulator, back to its start-up data (admin, courses 101-104, two groups)."""
    sim = sandbox.sim("talentlms")
    sim.reset()
    return sim


def person(key: str, dept: str = "Engineering", location: str = "athens", **extra: Any) -> dict:
    return {**hr_person(key, dept), "location": location, **extra}


class Connector(E2EConnector):
    """One TalentLMS connector configured from YAML, and the HR file it reads."""

    name = "lms"
    columns = HR_COLUMNS
    polling = JobPolling(first_delay=0.02, max_delay=0.2, timeout=30)

    def __init__(
        self, tmp_path: Path, db_url: str, base_url: str, *, match: str = "email", **users: Any
    ) -> None:
        super().__init__(
            tmp_path,
            db_url,
            {
                "name": "lms",
                "source": "hr",
                "scope": "status != 'contractor'",
                "schedule": {"every": "15m"},
                "target": {
                    "type": "talentlms",
                    "base_url": base_url,
                    "api_key": API_KEY,
                    "rate_limit": {"per_hour": 100_000, "burst": 5_000, "burst_window": "5s"},
                },
                "users": {
                    "match": match,
                    "fields": {
                        "login": "{{ employee_id | lower }}",
                        "name": "{{ first_name }}",
                        "surname": "{{ last_name }}",
                        "email": "{{ email | lower }}",
                        "custom_field_1": "{{ employee_id }}",
                    },
                    "active": "{{ status in ['active', 'leave'] }}",
                    **users,
                },
                "groups": [
                    {
                        "from": "{{ department }}",
                        "map": {"Engineering": "Engineering Team", "Sales": "Sales Team"},
                    },
                    {"from": "{{ location }}", "kind": "branch", "create_missing": True},
                ],
                "enrollments": [
                    {"courses": [101]},
                    {"when": "{{ department == 'Sales' }}", "courses": [103]},
                ],
                "guard": {"max_deactivations": "100%"},
                "pull": {"sink": "training"},
            },
        )

    def errors(self) -> list[dict]:
        return self.error_rows()


@pytest.fixture
def make_connector(tmp_path, db_url, sandbox, portal):
    with connector_factory(Connector, tmp_path, db_url, sandbox.base_url("talentlms")) as make:
        yield make


def accounts(portal) -> dict[str, dict]:
    """Portal users by login, with group, branch and course names resolved."""
    state = portal.dump()
    groups = {g["id"]: g["name"] for g in state["groups"]}
    branches = {b["id"]: b["name"] for b in state["branches"]}
    return {
        u["login"]: {
            **u,
            "groups": sorted(groups[g] for g in u["groups"]),
            "branches": sorted(branches[b] for b in u["branches"]),
        }
        for u in state["users"]
        if u["login"] != "admin"
    }


# ---------------------------------------------------------------------------------------------


def test_first_sync_creates_exactly_the_desired_accounts_and_a_second_costs_nothing(
    make_connector, portal
):
    lms = make_connector()
    lms.hr = [
        person("E1"),
        person("E2", dept="Sales", location="paris"),
        person("E3", dept="Sales"),
        person("E4", status="contractor"),
    ]
    result = lms.push()
    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    found = accounts(portal)
    assert set(found) == {"e1", "e2", "e3"}
    assert found["e1"]["groups"] == ["Engineering Team"]
    assert found["e2"]["groups"] == ["Sales Team"] and found["e2"]["branches"] == ["paris"]
    assert found["e3"]["branches"] == ["athens"]
    assert found["e1"]["courses"] == [101] and found["e2"]["courses"] == [101, 103]
    assert found["e2"]["custom_fields"] == {"custom_field_1": "E2"}
    assert all(a["status"] == "active" and a["has_password"] for a in found.values())
    # Three creates in one batch; ids learned from one page of the listing.
    used = calls(portal)
    assert used["POST /api/v2/batch/users"] == 1
    assert used["POST /api/v2/users"] == 0
    assert used["POST /api/v2/batch/enrollments"] == 1
    assert used["GET /api/v2/groups"] == 1 and used["GET /api/v2/branches"] == 1
    assert result.counts["created"] == 3 and result.counts["api_calls"] == sum(used.values())

    before = sum(calls(portal).values())
    again = lms.push()
    assert again.outcome == CycleOutcome.SUCCESS and again.plan == []
    assert again.counts["api_calls"] == 0 and sum(calls(portal).values()) == before


def test_leaver_is_deactivated_and_rehire_reactivated_not_created_twice(make_connector, portal):
    lms = make_connector()
    lms.hr = [person("E1"), person("E2")]
    lms.push()
    leaver = lms.hr.pop()
    result = lms.push()
    assert result.counts["deactivated"] == 1
    assert accounts(portal)["e2"]["status"] == "inactive"
    assert accounts(portal)["e1"]["status"] == "active"

    leaver["last_name"] = "Returned"
    lms.hr.append(leaver)
    result = lms.push()
    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    assert result.counts["reactivated"] == 1 and result.counts["created"] == 0
    found = accounts(portal)
    assert len(found) == 2
    assert found["e2"]["status"] == "active" and found["e2"]["surname"] == "Returned"


def test_department_change_moves_group_membership_and_enrollment(make_connector, portal):
    lms = make_connector()
    lms.hr = [person("E1", dept="Engineering"), person("E2")]
    lms.push()
    before = calls(portal)
    lms.hr[0]["department"] = "Sales"
    lms.hr[0]["location"] = "paris"
    result = lms.push()
    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    moved = accounts(portal)["e1"]
    assert moved["groups"] == ["Sales Team"] and moved["branches"] == ["paris"]
    assert moved["courses"] == [101, 103]
    assert accounts(portal)["e2"]["groups"] == ["Engineering Team"]
    # One person's move: single-call endpoints, no batch, no listing of users.
    used = calls(portal) - before
    assert used["GET /api/v2/users"] == 0
    assert used["POST /api/v2/batch/enrollments"] == used["POST /api/v2/batch/users"] == 0
    assert used["POST /api/v2/enrollments"] == 1


def test_a_429_storm_mid_run_fails_no_operation(make_connector, portal):
    lms = make_connector()
    lms.hr = [person(f"E{i}", dept="Sales" if i % 2 else "Engineering") for i in range(6)]
    portal.set_faults({"storm_requests": 3, "storm_retry_after": 1, "paths": ["/api/v2/batch"]})
    result = lms.push()
    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    assert result.counts["failed"] == 0
    assert portal.count(status=429) == 3
    found = accounts(portal)
    assert len(found) == 6 and all(a["courses"] for a in found.values())
    with lms.engine.connect() as conn:
        states = {row.state for row in conn.execute(select(operations.c.state))}
    assert states == {OpState.DONE.value}


def test_first_sync_matches_existing_accounts_instead_of_creating(make_connector, portal):
    portal.seed(
        {
            "users": [
                {
                    "id": 50,
                    "login": "old-e1",
                    "name": "Old",
                    "surname": "One",
                    "email": "e1@acme.test",
                    "status": "active",
                    "groups": [1],
                },
                {
                    "id": 51,
                    "login": "e2",
                    "name": "Gone",
                    "surname": "Two",
                    "email": "E2@ACME.TEST",
                    "status": "inactive",
                },
            ]
        }
    )
    lms = make_connector()
    lms.hr = [person("E1"), person("E2"), person("E3")]
    result = lms.push()
    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    assert result.counts["created"] == 1 and result.counts["reactivated"] == 1
    found = accounts(portal)
    assert set(found) == {"e1", "e2", "e3"}
    assert found["e1"]["id"] == 50 and found["e1"]["name"] == "FirstE1"
    assert found["e2"]["id"] == 51 and found["e2"]["status"] == "active"
    assert found["e1"]["groups"] == ["Engineering Team"]  # already a member: not an error
    assert lms.errors() == []


def test_a_batch_item_the_vendor_refuses_is_reported_for_that_person(make_connector, portal):
    portal.seed(
        {
            "users": [
                {
                    "id": 60,
                    "login": "someone",
                    "name": "Some",
                    "surname": "One",
                    "email": "e2@acme.test",
                }
            ]
        }
    )
    lms = make_connector(match="login")
    lms.hr = [person("E1"), person("E2"), person("E3")]
    result = lms.push()
    assert result.outcome == CycleOutcome.PARTIAL
    assert set(accounts(portal)) == {"e1", "e3", "someone"}
    [error] = [e for e in lms.errors() if e["operation"] == "create"]
    assert error["hr_key"] == "E2"
    assert "Email already exists" in error["reason"] and "matched by login" in error["reason"]
    # Its memberships wait for an account instead of failing on their own.
    assert {e["hr_key"] for e in lms.errors()} == {"E2"}


def test_a_lost_batch_answer_is_found_not_sent_twice(make_connector, portal):
    lms = make_connector()
    lms.hr = [person("E1"), person("E2")]
    portal.set_faults(
        {"drop_next": 1, "drop_after_processing": True, "paths": ["/api/v2/batch/users"]}
    )
    first = lms.push()
    assert first.counts["created"] == 0
    # The batch's answer never came: the cycle says so, naming the people it left pending.
    assert first.outcome == CycleOutcome.PARTIAL and first.exit_code == 1
    assert sorted(e.split(":")[0] for e in first.errors) == ["create E1", "create E2"]
    with lms.engine.connect() as conn:
        states = Counter(
            row.state
            for row in conn.execute(select(operations.c.state).where(operations.c.kind == "create"))
        )
    assert states == {OpState.UNKNOWN.value: 2}
    time.sleep(0.1)  # the dropped batch's task (50 ms) has finished: both accounts exist
    second = lms.push()
    assert second.outcome == CycleOutcome.SUCCESS, second.errors
    assert second.counts["created"] == 2
    found = accounts(portal)
    assert set(found) == {"e1", "e2"}  # found by email, not created again
    assert found["e1"]["groups"] == ["Engineering Team"] and found["e2"]["courses"] == [101]
    assert calls(portal)["POST /api/v2/batch/users"] == 1


def test_missing_group_fails_clearly_unless_it_may_be_created(make_connector, portal):
    lms = make_connector()
    lms.hr = [person("E1", dept="Finance"), person("E2")]
    result = lms.push()
    assert result.outcome == CycleOutcome.PARTIAL
    reason = "group 'Finance' does not exist in TalentLMS; create it or set create_missing: true"
    assert result.errors == [f"group_add E1 -> Finance: {reason}"]
    with lms.engine.connect() as conn:
        [failed] = conn.execute(select(operations).where(operations.c.state == "failed"))
    assert (failed.hr_key, failed.target, failed.error) == ("E1", "Finance", reason)
    assert accounts(portal)["e1"]["branches"] == ["athens"]  # the branch could be created
    assert "Finance" not in {g["name"] for g in portal.dump()["groups"]}


def test_on_missing_delete_removes_the_account(make_connector, portal):
    lms = make_connector(on_missing="delete")
    lms.hr = [person("E1"), person("E2")]
    lms.push()
    lms.hr.pop()
    result = lms.push()
    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    assert set(accounts(portal)) == {"e1"}
    with lms.engine.connect() as conn:
        [run] = conn.execute(select(sync_runs).order_by(sync_runs.c.id.desc()).limit(1))
    assert run.api_calls == 1  # one DELETE


def test_a_completion_reaches_the_hr_sink_exactly_once(make_connector, portal):
    lms = make_connector()
    lms.hr = [person("E1"), person("E2")]
    lms.push()
    ids = {login: a["id"] for login, a in accounts(portal).items()}
    portal.complete(ids["e1"], 101, score=88)

    def pull() -> None:
        result = pull_cycle(lms.config, "lms", lms.engine, lms.adapter(start_date="2020-01-01"))
        assert result.outcome == CycleOutcome.SUCCESS, result.errors

    pull()
    pull()
    portal.complete(ids["e2"], 101, score=70)
    pull()
    pull()
    rows = lms.sink_rows()
    assert [(r["hr_key"], r["course_id"], r["status"], r["score"]) for r in rows] == [
        ("E1", "101", "completed", "88"),
        ("E2", "101", "completed", "70"),
    ]
    assert rows[0]["completed_at"].endswith("Z") and rows[0]["course_name"]


def links(lms) -> dict:
    with lms.engine.connect() as conn:
        return store.load_links(conn, "lms", [p["employee_id"] for p in lms.hr])


def operation_states(lms, kind: str) -> Counter:
    with lms.engine.connect() as conn:
        query = select(operations.c.hr_key, operations.c.state).where(operations.c.kind == kind)
        return Counter((row.hr_key, row.state) for row in conn.execute(query))


def test_a_refused_batch_update_is_an_error_and_retry_sends_it_again(make_connector, portal):
    other = {"id": 70, "login": "other", "name": "Other", "surname": "Person"}
    portal.seed({"users": [{**other, "email": "taken@acme.test"}]})
    lms = make_connector()
    lms.hr = [person("E1"), person("E2")]
    assert lms.push().outcome == CycleOutcome.SUCCESS
    lms.hr[0]["last_name"] = "Renamed"
    lms.hr[1]["email"] = "taken@acme.test"  # another TalentLMS account already has it
    result = lms.push()
    assert result.outcome == CycleOutcome.PARTIAL and result.exit_code == 1
    [error] = lms.errors()
    assert (error["hr_key"], error["operation"]) == ("E2", "update")
    assert "TalentLMS did not apply it" in error["reason"]
    assert "email (sent 'taken@acme.test', TalentLMS has 'e2@acme.test')" in error["reason"]
    assert result.errors == [f"update E2: {error['reason']}"]
    found = accounts(portal)
    assert found["e1"]["surname"] == "Renamed" and found["e2"]["email"] == "e2@acme.test"
    # What syncd records as pushed is what TalentLMS confirmed, never what it assumed.
    linked = links(lms)
    assert linked["E1"].fields["surname"] == "Renamed"
    assert linked["E2"].fields["email"] == "e2@acme.test"
    assert operation_states(lms, "update") == {("E1", "done"): 1, ("E2", "failed"): 1}

    portal.seed({"users": [{**other, "email": "moved@acme.test"}]})  # the cause, fixed
    assert retry(lms.engine, "lms") == 1
    again = lms.push()
    assert again.outcome == CycleOutcome.SUCCESS, again.errors
    assert accounts(portal)["e2"]["email"] == "taken@acme.test"
    assert links(lms)["E2"].fields["email"] == "taken@acme.test"
    assert lms.errors() == []


def test_a_refused_batch_enrollment_is_an_error_and_retry_sends_it_again(make_connector, portal):
    course = {"id": 103, "name": "Sales Fundamentals", "code": "SAL-103"}
    portal.seed({"courses": [{**course, "status": "inactive"}]})
    lms = make_connector()
    lms.hr = [person("E1", dept="Sales"), person("E2", dept="Sales")]
    result = lms.push()
    assert result.outcome == CycleOutcome.PARTIAL and result.exit_code == 1
    reasons = {(e["hr_key"], e["operation"]): e["reason"] for e in lms.errors()}
    assert set(reasons) == {("E1", "enroll"), ("E2", "enroll")}
    for reason in reasons.values():
        assert "TalentLMS did not apply it" in reason and "course 103" in reason
        assert "inactive" in reason  # why, read from the course
    assert calls(portal)["POST /api/v2/batch/enrollments"] == 1
    found = accounts(portal)
    assert found["e1"]["courses"] == found["e2"]["courses"] == [101]
    assert {key: set(link.courses) for key, link in links(lms).items()} == {
        "E1": {"101"},
        "E2": {"101"},
    }

    portal.seed({"courses": [{**course, "status": "active"}]})  # the cause, fixed
    assert retry(lms.engine, "lms") == 2
    again = lms.push()
    assert again.outcome == CycleOutcome.SUCCESS, again.errors
    found = accounts(portal)
    assert found["e1"]["courses"] == found["e2"]["courses"] == [101, 103]
    assert {key: set(link.courses) for key, link in links(lms).items()} == {
        "E1": {"101", "103"},
        "E2": {"101", "103"},
    }
    assert lms.errors() == []


def test_two_refused_enrollments_of_one_person_both_stay_until_each_is_fixed(
    make_connector, portal
):
    """Each course a person was refused keeps its own reason in ``syncd errors`` (and counts
    in /status's ``failed_ops``), and fixing one closes only that one."""
    courses = {101: "Onboarding", 103: "Sales Fundamentals"}
    portal.seed(
        {"courses": [{"id": n, "name": name, "status": "inactive"} for n, name in courses.items()]}
    )
    lms = make_connector()
    lms.hr = [person("E1", dept="Sales")]
    assert lms.push().outcome == CycleOutcome.PARTIAL
    shown = syncd_errors(lms)
    assert sorted((e["hr_key"], e["operation"], e["target"]) for e in shown) == [
        ("E1", "enroll", "101"),
        ("E1", "enroll", "103"),
    ]
    for error in shown:
        assert f"course {error['target']}" in error["reason"], error
    assert failed_ops(lms) == 2
    text = run_syncd("errors", "lms", "--config", str(lms.path)).stdout
    assert "E1 -> 101" in text and "E1 -> 103" in text

    portal.seed({"courses": [{"id": 103, "name": courses[103], "status": "active"}]})
    assert retry(lms.engine, "lms") == 2
    assert lms.push().outcome == CycleOutcome.PARTIAL  # 101 is still inactive
    assert accounts(portal)["e1"]["courses"] == [103]
    [left] = syncd_errors(lms)
    assert (left["hr_key"], left["operation"], left["target"]) == ("E1", "enroll", "101")


def syncd_errors(lms: Connector) -> list[dict]:
    """``syncd errors --json``, run as a user runs it."""
    return json.loads(run_syncd("errors", "lms", "--json", "--config", str(lms.path)).stdout)


def failed_ops(lms: Connector) -> int:
    """The push row's ``failed_ops``, as /status and ``syncd status`` show it."""
    [row] = [r for r in status_rows(lms.engine) if r["direction"] == "push"]
    return row["failed_ops"]


def test_a_failed_batch_task_leaves_its_people_pending_and_the_cycle_partial(
    make_connector, portal
):
    lms = make_connector()
    lms.hr = [person("E1"), person("E2"), person("E3")]
    portal.set_faults({"job_fail_next": 1})  # the accounts' task fails having applied nothing
    first = lms.push()
    assert first.outcome == CycleOutcome.PARTIAL and first.exit_code == 1
    assert first.counts["created"] == 0
    assert sorted(e.split(":")[0] for e in first.errors) == ["create E1", "create E2", "create E3"]
    assert all("failed" in e and "looked up before" in e for e in first.errors)
    # Pending, to be looked up before they are sent again: not failures awaiting `syncd retry`.
    assert set(operation_states(lms, "create")) == {
        ("E1", "unknown"),
        ("E2", "unknown"),
        ("E3", "unknown"),
    }
    assert accounts(portal) == {}
    second = lms.push()
    assert second.outcome == CycleOutcome.SUCCESS, second.errors
    assert second.counts["created"] == 3
    found = accounts(portal)
    assert set(found) == {"e1", "e2", "e3"} and all(a["courses"] == [101] for a in found.values())


def test_a_refused_read_back_leaves_the_batch_pending_naming_each_person(make_connector, portal):
    lms = make_connector()
    lms.hr = [person("E1"), person("E2")]
    assert lms.push().outcome == CycleOutcome.SUCCESS
    for row in lms.hr:
        row["last_name"] = "Renamed"
    # The batch is applied, but every read of the accounts after it is refused.
    refused = {"refuse_status": 400, "refuse_message": "Bad read", "methods": ["GET"]}
    portal.set_faults({**refused, "refuse_next": 50, "paths": ["/api/v2/users"]})
    result = lms.push()
    portal.set_faults({"clear": True})
    assert result.outcome == CycleOutcome.PARTIAL and result.exit_code == 1
    assert sorted(e.split(":")[0] for e in result.errors) == ["update E1", "update E2"]
    assert all("refused to read back batch task" in e and "Bad read" in e for e in result.errors)
    assert set(operation_states(lms, "update")) == {("E1", "unknown"), ("E2", "unknown")}
    assert {e["hr_key"] for e in lms.errors()} == {"E1", "E2"}
    again = lms.push()  # read back now: confirmed, nothing lost
    assert again.outcome == CycleOutcome.SUCCESS, again.errors
    assert {a["surname"] for a in accounts(portal).values()} == {"Renamed"}
    assert lms.errors() == []


def test_confirmations_come_from_documented_reads_only(make_connector, portal):
    """No task report is read (the documents show none): every outcome is a read-back."""
    portal.seed({"users": [{"id": 70, "login": "e3", "name": "Other", "surname": "Person"}]})
    lms = make_connector()
    lms.hr = [person("E1"), person("E2"), person("E3")]
    result = lms.push()
    assert result.outcome == CycleOutcome.PARTIAL
    [error] = lms.errors()
    assert (error["hr_key"], error["operation"]) == ("E3", "create")
    assert "TalentLMS did not apply it" in error["reason"]
    assert "Login already exists" in error["reason"]
    tasks = portal.dump()["tasks"]
    assert tasks and all(task["download_url"] is None for task in tasks)
    assert all(endpoint.split(" ")[1].startswith("/api/v2/") for endpoint in calls(portal))


# --- lost answers and "already so" -----------------------------------------------------------

RELATIONS = {  # what is written: (its path, its endpoint, the field of `accounts`, the value)
    "group": (
        "/api/v2/group-memberships",
        "POST /api/v2/group-memberships",
        "groups",
        ["Engineering Team"],
    ),
    "branch": ("/api/v2/branch-users", "POST /api/v2/branch-users", "branches", ["athens"]),
    "enrollment": ("/api/v2/enrollments", "POST /api/v2/enrollments", "courses", [101]),
}
USER_READ = "GET /api/v2/users/{id}"


@pytest.mark.parametrize("relation", sorted(RELATIONS))
@pytest.mark.parametrize("took_effect", [True, False], ids=["answer_lost", "request_lost"])
def test_a_write_whose_answer_was_lost_is_looked_up_and_held_exactly_once(
    make_connector, portal, relation, took_effect
):
    """The connection drops after the write is sent: the account is read before anything
    is sent again, so a write that took is not sent twice, and one that did not is."""
    path, endpoint, field, held = RELATIONS[relation]
    lms = make_connector()
    lms.hr = [person("E1")]
    portal.set_faults({"drop_next": 1, "drop_after_processing": took_effect, "paths": [path]})
    result = lms.push()
    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    assert lms.errors() == []
    found = accounts(portal)["e1"]
    assert found[field] == held
    assert (found["groups"], found["branches"], found["courses"]) == (
        ["Engineering Team"],
        ["athens"],
        [101],
    )
    assert portal.count(endpoint, "dropped") == 1 and portal.count(USER_READ) == 1
    assert portal.count(endpoint) == (1 if took_effect else 2)  # sent again only if not held
    with lms.engine.connect() as conn:
        assert {row.state for row in conn.execute(select(operations.c.state))} == {"done"}


@pytest.mark.parametrize("took_effect", [True, False], ids=["answer_lost", "request_lost"])
def test_a_batch_of_enrollments_whose_answer_was_lost_is_looked_up_before_it_is_sent_again(
    make_connector, portal, took_effect
):
    lms = make_connector()
    lms.hr = [person("E1"), person("E2", dept="Sales")]
    portal.set_faults(
        {
            "drop_next": 1,
            "drop_after_processing": took_effect,
            "paths": ["/api/v2/batch/enrollments"],
        }
    )
    first = lms.push()
    # The batch's answer never came: the enrollments are unconfirmed, and the cycle says so.
    assert first.outcome == CycleOutcome.PARTIAL and first.exit_code == 1
    assert sorted(e.split(":")[0] for e in first.errors) == [
        "enroll E1 -> 101",
        "enroll E2 -> 101",
        "enroll E2 -> 103",
    ]
    assert set(operation_states(lms, "enroll")) == {
        ("E1", "unknown"),
        ("E2", "unknown"),
    }
    if took_effect:
        wait_for_enrollments(portal, 3)  # the task whose answer was lost goes on applying
    reads = portal.count(USER_READ)

    second = lms.push()

    assert second.outcome == CycleOutcome.SUCCESS, second.errors
    assert lms.errors() == []
    found = accounts(portal)
    assert found["e1"]["courses"] == [101] and found["e2"]["courses"] == [101, 103]
    assert len(portal.dump()["enrollments"]) == 3
    # Each person was read before anything was sent again; a batch that took is not re-sent.
    assert portal.count("POST /api/v2/batch/enrollments") == (1 if took_effect else 2)
    assert portal.count(USER_READ) == reads + (2 if took_effect else 4)  # + the read-back


def wait_for_enrollments(portal, count: int) -> None:
    """Until the sandbox's task has applied ``count`` enrollments (it runs on its own)."""
    for _ in range(500):
        if len(portal.dump()["enrollments"]) >= count:
            return
        time.sleep(0.01)
    raise AssertionError(f"the sandbox never held {count} enrollments")


REFUSALS = {  # the vendor's "already so" words, for a write its state does not hold
    "group": (409, "conflict.user_already_in_group", "The user already belongs to this group"),
    "branch": (409, "conflict.user_already_in_branch", "The user already belongs to this branch"),
    "enrollment": (409, "conflict", "The user is already enrolled in this course"),
}
OPERATIONS = {"group": "group_add", "branch": "group_add", "enrollment": "enroll"}


@pytest.mark.parametrize("relation", sorted(RELATIONS))
def test_an_already_so_refusal_the_state_does_not_bear_out_stays_an_error_naming_the_person(
    make_connector, portal, relation
):
    """TalentLMS says "already" but the account says otherwise: the read, not the conflict
    id, decides, so the person's write is an error (not recorded as done) until retried."""
    path, endpoint, field, held = RELATIONS[relation]
    status, code, words = REFUSALS[relation]
    lms = make_connector()
    lms.hr = [person("E1")]
    portal.set_faults(
        {
            "refuse_next": 1,
            "refuse_status": status,
            "refuse_code": code,
            "refuse_message": words,
            "paths": [path],
        }
    )
    result = lms.push()
    assert result.outcome == CycleOutcome.PARTIAL and result.exit_code == 1
    assert portal.count(endpoint, status) == 1
    [error] = lms.errors()
    assert (error["hr_key"], error["operation"]) == ("E1", OPERATIONS[relation])
    assert words in error["reason"] and "read back" in error["reason"]
    assert accounts(portal)["e1"][field] == []
    lms.push()  # an unchanged person costs no call: the error stays until retried
    assert [(e["hr_key"], e["operation"]) for e in lms.errors()] == [("E1", OPERATIONS[relation])]

    assert retry(lms.engine, "lms") == 1
    again = lms.push()
    assert again.outcome == CycleOutcome.SUCCESS, again.errors
    assert lms.errors() == [] and accounts(portal)["e1"][field] == held


@pytest.mark.parametrize("relation", sorted(RELATIONS))
def test_a_write_sent_just_before_a_crash_is_looked_up_not_sent_again(
    make_connector, portal, relation
):
    """syncd dies right after TalentLMS took the write: the outbox says it was sent, and the
    next cycle reads the account before sending it again, so it is held once and done."""
    _, endpoint, field, held = RELATIONS[relation]
    operation = OPERATIONS[relation]
    target = {"group": "Engineering Team", "branch": "branch:athens", "enrollment": "101"}
    lms = make_connector()
    lms.hr = [person("E1")]
    with pytest.raises(Crash):
        lms.push(crashing_after(lms.adapter(), OpKind(operation), target[relation]))
    with lms.engine.connect() as conn:
        query = select(operations.c.state).where(operations.c.target == target[relation])
        assert [row.state for row in conn.execute(query)] == [OpState.SENT.value]
    assert portal.count(endpoint) == 1 and accounts(portal)["e1"][field] == held
    reads = portal.count(USER_READ)

    again = lms.push()

    assert again.outcome == CycleOutcome.SUCCESS, again.errors
    assert portal.count(endpoint) == 1  # looked up, found, not sent again
    assert portal.count(USER_READ) > reads
    assert lms.errors() == []
    found = accounts(portal)["e1"]
    assert (found["groups"], found["branches"], found["courses"]) == (
        ["Engineering Team"],
        ["athens"],
        [101],
    )
    with lms.engine.connect() as conn:
        assert {row.state for row in conn.execute(select(operations.c.state))} == {"done"}


def enrollments_sent(portal, user_id: int, course_id: int) -> int:
    """How many times the portal was asked to enroll ``user_id`` in ``course_id``: batch
    items plus single ``POST /enrollments`` (one person's only outstanding course)."""
    with portal.lock:
        items = [
            item
            for job in portal.jobs.all()
            if job.kind == "batch_enrollments"
            for item in job.items
        ]
    batched = sum(1 for i in items if (i["user_id"], i["course_id"]) == (user_id, course_id))
    return batched + calls(portal)["POST /api/v2/enrollments"]


def test_a_retried_item_refused_again_is_sent_once_and_counted_once(make_connector, portal):
    """``syncd retry`` requeues the refused enrollment; the next ``syncd sync`` sends it once
    (the planner sees it covered, though retry made it diff the person again) and, refused
    again, it is one failed operation, not two."""
    portal.seed({"courses": [{"id": 103, "name": "Sales Fundamentals", "status": "inactive"}]})
    lms = make_connector()
    lms.hr = [person("E1", dept="Sales")]
    assert lms.push().outcome == CycleOutcome.PARTIAL
    user_id = next(u["id"] for u in accounts(portal).values())
    assert enrollments_sent(portal, user_id, 103) == 1 and failed_ops(lms) == 1

    config = str(lms.path)
    retried = run_syncd("retry", "lms", "--config", config)
    assert retried.returncode == 0, retried.stderr
    synced = run_syncd("sync", "lms", "--direction", "push", "--config", config)
    assert synced.returncode == 1, synced.stdout + synced.stderr  # 103 is still inactive

    assert enrollments_sent(portal, user_id, 103) == 2  # once more, not twice more
    assert failed_ops(lms) == 1
    [error] = syncd_errors(lms)
    assert (error["hr_key"], error["operation"], error["target"]) == ("E1", "enroll", "103")
    assert operation_states(lms, "enroll")[("E1", "failed")] == 1


def creates_sent(portal) -> Counter:
    """Accounts the portal was asked to create, by login (batch items; single creates under
    ``POST /api/v2/users``)."""
    with portal.lock:
        items = [i for job in portal.jobs.all() if job.kind == "batch_users" for i in job.items]
    sent = Counter(i["login"] for i in items if "id" not in i)
    return sent + Counter({"POST /api/v2/users": calls(portal)["POST /api/v2/users"]})


def test_a_portal_talentlms_refuses_whole_ends_the_cycle_and_blames_nobody(make_connector, portal):
    """TalentLMS 403 ("API is not enabled ... or the domain is currently inactive") refuses
    the portal, not a person: ``syncd sync`` exits 4 naming the refusal, the operations stay
    pending, and once the portal is back the next run sends each of them once."""
    lms = make_connector()
    lms.hr = [person("E1"), person("E2", dept="Sales")]
    lms.write_hr()
    config = str(lms.path)
    # The domain goes inactive after the cycle read the portal: its writes are refused.
    portal.set_faults({"portal_inactive": True, "methods": ["POST", "PATCH", "PUT", "DELETE"]})
    refused = run_syncd("sync", "lms", "--direction", "push", "--config", config)

    said = refused.stdout + refused.stderr
    assert refused.returncode == 4, said
    assert "talentlms refused the whole portal (HTTP 403: API is not enabled" in said
    assert "the API is not enabled for this domain, or the domain is inactive" in said
    assert syncd_errors(lms) == [] and lms.errors() == []  # no person is blamed
    # Open in the outbox, none failed: the creates whose request met the refusal stay
    # ``sent`` (looked up before they go again), what never went stays ``pending``.
    with lms.engine.connect() as conn:
        rows = conn.execute(select(operations.c.kind, operations.c.state)).all()
    assert {(row.kind, row.state) for row in rows if row.state != "pending"} == {("create", "sent")}
    assert operation_states(lms, "create") == {("E1", "sent"): 1, ("E2", "sent"): 1}
    assert operation_states(lms, "enroll") == {("E1", "pending"): 1, ("E2", "pending"): 2}
    [row] = [r for r in status_rows(lms.engine) if r["direction"] == "push"]
    assert (row["pending_ops"], row["failed_ops"]) == (len(rows), 0)
    assert accounts(portal) == {}

    portal.set_faults({"clear": True})
    again = run_syncd("sync", "lms", "--direction", "push", "--config", config)
    assert again.returncode == 0, again.stdout + again.stderr
    found = accounts(portal)
    assert found["e1"]["courses"] == [101] and found["e2"]["courses"] == [101, 103]
    assert creates_sent(portal) == {"e1": 1, "e2": 1}
    ids = {login: account["id"] for login, account in found.items()}
    for login, course in (("e1", 101), ("e2", 101), ("e2", 103)):
        assert enrollments_sent(portal, ids[login], course) == 1, (login, course)
    assert failed_ops(lms) == 0 and syncd_errors(lms) == []


# --- a streamed first sync adopts from one listing read -----------------------------------------

LISTING = "GET /api/v2/users"
BATCH_CREATE = "POST /api/v2/batch/users"


def hand_made(user_id: int, key: str) -> dict:
    """An account an admin made in the portal, for HR person ``key`` (same e-mail)."""
    return {
        "id": user_id,
        "login": f"hand-{key.lower()}",
        "name": "Hand",
        "surname": key,
        "email": f"{key.lower()}@acme.test",
        "status": "active",
    }


def test_a_streamed_first_sync_reads_the_listing_once_to_adopt_and_never_past_its_cycle(
    make_connector, portal, monkeypatch
):
    monkeypatch.setattr(stream, "CHUNK", 3)  # ten new people: four chunks, each adopting
    strangers = [
        {"id": 1000 + i, "login": f"x{i}", "name": "X", "surname": "Y", "email": f"x{i}@o.test"}
        for i in range(120)
    ]
    portal.seed({"users": [*strangers, hand_made(50, "E2"), hand_made(51, "E9")]})
    pages = 2  # 123 accounts with the admin, 100 a page
    lms = make_connector()
    lms.hr = [person(f"E{n}") for n in range(1, 11)]
    adapter = lms.adapter()
    try:
        since = last_request(portal)
        result = lms.push_keeping(adapter)
        assert result.outcome == CycleOutcome.SUCCESS, result.errors
        assert (
            reads_before_writing(portal, since, LISTING, BATCH_CREATE) == pages
        )  # not once a chunk
        found = accounts(portal)
        assert found["e2"]["id"] == 50 and found["e9"]["id"] == 51  # adopted, then updated
        assert result.counts["created"] == 8 and len(found) == 120 + 10
        with lms.engine.connect() as conn:
            links = store.load_links(conn, "lms", ["E2", "E9"])
        assert {k: link.remote_id for k, link in links.items()} == {"E2": "50", "E9": "51"}

        # An admin makes accounts by hand; the adapter lives on into the next cycle.
        portal.seed({"users": [hand_made(60, "E11"), hand_made(61, "E20")]})
        # A lost create's lookup reads the portal now, not the first cycle's listing.
        lost = DesiredUser(hr_key="E20", fields={"email": "e20@acme.test"})
        other = DesiredUser(hr_key="E21", fields={"email": "e21@acme.test"})
        assert {k: a.remote_id for k, a in adapter.match_existing([lost, other], None).items()} == {
            "E20": "61"
        }
        lms.hr += [person(f"E{n}") for n in range(11, 15)]
        since = last_request(portal)
        again = lms.push_keeping(adapter)
        assert again.outcome == CycleOutcome.SUCCESS, again.errors
        assert again.counts["created"] == 3 and lms.errors() == []
        found = accounts(portal)
        assert found["e11"]["id"] == 60 and len(found) == 120 + 10 + 2 + 3  # not created twice
        assert reads_before_writing(portal, since, LISTING, BATCH_CREATE) == pages
    finally:
        adapter.close()


def test_a_streamed_first_sync_chooses_lookups_or_the_listing_once_for_all_its_new_people(
    make_connector, portal, monkeypatch
):
    """Four chunks of three new people each, on a portal of five pages: three people a
    chunk would be three lookups a chunk (a page read besides), but twelve people in all
    cost more in lookups than the five pages of one listing, read once for every chunk."""
    monkeypatch.setattr(stream, "CHUNK", 3)
    strangers = [
        {"id": 1000 + i, "login": f"x{i}", "name": "X", "surname": "Y", "email": f"x{i}@o.test"}
        for i in range(440)
    ]
    # Accounts an admin made for two of the people, past the listing's first page.
    portal.seed({"users": [*strangers, hand_made(1700, "E5"), hand_made(1701, "E11")]})
    pages = 5  # 443 accounts with the admin, 100 a page
    lms = make_connector()
    lms.hr = [person(f"E{n}") for n in range(1, 13)]
    adapter = lms.adapter()
    try:
        since, calls_before = last_request(portal), adapter.api_calls
        result = lms.push_keeping(adapter)
        assert result.outcome == CycleOutcome.SUCCESS, result.errors
        # Before the first create: the listing's pages, once, and no lookup (same endpoint).
        assert reads_before_writing(portal, since, LISTING, BATCH_CREATE) == pages
        assert result.counts["api_calls"] == adapter.api_calls - calls_before
        found = accounts(portal)
        assert found["e5"]["id"] == 1700 and found["e11"]["id"] == 1701  # adopted
        assert "hand-e5" not in found and "hand-e11" not in found  # their logins updated
        assert result.counts["created"] == 10 and len(found) == 440 + 12
        sent = creates_sent(portal)
        assert sent == Counter({f"e{n}": 1 for n in range(1, 13) if n not in (5, 11)})
        with lms.engine.connect() as conn:
            links = store.load_links(conn, "lms", [f"E{n}" for n in range(1, 13)])
        assert {k: link.remote_id for k, link in links.items() if k in ("E5", "E11")} == {
            "E5": "1700",
            "E11": "1701",
        }
        assert len({link.remote_id for link in links.values()}) == 12
        assert lms.errors() == []
    finally:
        adapter.close()


@pytest.mark.parametrize("streamed", [True, False], ids=["streamed", "whole"])
def test_a_mapped_password_goes_with_creates_never_with_an_adopted_accounts_update(
    make_connector, portal, monkeypatch, streamed
):
    """The mapping sets a password: new accounts are created with it; an adopted account
    is updated without it, its own password kept, streamed in chunks or planned whole."""
    if streamed:
        monkeypatch.setattr(stream, "CHUNK", 3)  # six new people: two chunks
    no_password = {"has_password": False}  # an admin's accounts, e.g. for single sign-on
    portal.seed(
        {"users": [{**hand_made(n, k), **no_password} for n, k in ((50, "E2"), (51, "E5"))]}
    )
    fields = {
        "login": "{{ employee_id | lower }}",
        "name": "{{ first_name }}",
        "surname": "{{ last_name }}",
        "email": "{{ email | lower }}",
        "password": "Initial-{{ employee_id }}-pass1!",
    }
    lms = make_connector(fields=fields)
    lms.hr = [person(f"E{n}") for n in range(1, 7)]
    result = lms.push()
    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    assert lms.errors() == [] and result.counts["created"] == 4
    found = accounts(portal)
    assert found["e2"]["id"] == 50 and found["e5"]["id"] == 51  # adopted, login updated
    assert {login: a["has_password"] for login, a in found.items()} == {
        f"e{n}": n not in (2, 5) for n in range(1, 7)
    }


@pytest.mark.parametrize("streamed", [True, False], ids=["streamed", "whole"])
def test_a_new_person_claiming_a_changed_linked_persons_email_is_held_before_any_call(
    make_connector, portal, monkeypatch, streamed
):
    """E1 takes a new e-mail in the cycle that brings five new people, the last of whom
    has that same e-mail: held with the reason before anything is sent, never refused
    by TalentLMS; streamed in chunks (the last new person is planned in the second) or
    planned whole."""
    if streamed:
        monkeypatch.setattr(stream, "CHUNK", 3)  # five new people: two chunks
    lms = make_connector()
    lms.hr = [person("E1"), person("E2")]
    assert lms.push().outcome == CycleOutcome.SUCCESS
    lms.hr[0]["email"] = "shared@acme.test"
    lms.hr += [person(f"E{n}") for n in range(3, 7)]
    lms.hr.append(person("E7", email="Shared@acme.test"))
    since = last_request(portal)
    result = lms.push()
    reason = (
        "email 'shared@acme.test' is also the email of HR record E1; "
        "TalentLMS requires every email to be unique"
    )
    assert result.outcome == CycleOutcome.PARTIAL
    assert result.errors == [f"E7: validate: {reason}"]
    assert [(e["hr_key"], e["operation"], e["reason"]) for e in lms.errors()] == [
        ("E7", "validate", reason)
    ]
    found = accounts(portal)
    assert found["e1"]["email"] == "shared@acme.test" and "e7" not in found
    assert creates_sent(portal) == Counter({f"e{n}": 1 for n in range(1, 7)})
    refused = [r for r in portal.requests(since) if str(r["status"]).startswith("4")]
    assert refused == []  # nothing was sent for E7 for TalentLMS to refuse

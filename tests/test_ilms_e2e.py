"""iLMS end to end: real push and pull cycles against the iLMS sandbox over loopback HTTP.

Each test writes a YAML configuration and an HR file in tmp_path, loads them with
``load_config``, and runs cycles through the runtime and the engines, with the state
store on SQLite and on PostgreSQL. What is asserted is what an integration engineer
would check: the accounts, groups and enrollments iLMS ends with, the requests it
saw, the errors ``syncd errors`` lists, and the rows the HR sink holds.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from datetime import UTC, datetime

import pytest
import structlog
from sqlalchemy import MetaData, select

from syncd.assemble import load_config
from syncd.config import ConfigError
from syncd.engine.cycle import CycleOutcome
from syncd.engine.push import stream
from syncd.engine.push.run import retry
from syncd.model import DesiredUser, OpKind, OpState
from syncd.sandbox import Sandbox
from syncd.state.tables import operations
from tests.support.cli import run_syncd
from tests.support.configs import save_config
from tests.support.e2e import (
    Crash,
    calls,
    connector_factory,
    crashing_after,
    last_request,
    reads_before_writing,
)
from tests.support.ilms import (
    DATA_SECURITY,
    KEY,
    LOGIN,
    ORG,
    ROOMY,
    SECURITY,
    TREE,
    Connector,
    acme,
    person,
)

USERS_POST = "POST /organizations/{org_id}/users"


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(vendors=["ilms"], ilms=ROOMY) as server:
        yield server


@pytest.fixture
def portal(sandbox):
    return acme(sandbox)


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


MEMBER_ADD = "POST /organizations/{org_id}/groups/{group_id}/members"
ENROLL = "POST /organizations/{org_id}/courses/{course_id}/enrollments"
RELATIONS = {  # what is written: (its path prefix, its endpoint, its operation)
    "membership": (f"/organizations/{ORG}/groups/", MEMBER_ADD, "group_add"),
    "enrollment": (f"/organizations/{ORG}/courses/{SECURITY}/enrollments", ENROLL, "enroll"),
}


@pytest.mark.parametrize("relation", sorted(RELATIONS))
@pytest.mark.parametrize("took_effect", [True, False], ids=["answer_lost", "request_lost"])
def test_a_write_whose_answer_was_lost_is_looked_up_and_held_exactly_once(
    make_connector, portal, relation, took_effect
):
    """The connection drops after the write is sent: iLMS is read before anything is sent
    again, so a write that took is not sent twice, and one that did not is sent again."""
    path, endpoint, _ = RELATIONS[relation]
    lms = make_connector()
    lms.hr = [person("E1")]
    portal.set_faults({"drop_next": 1, "drop_after_processing": took_effect, "paths": [path]})
    result = lms.push()
    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    assert lms.errors() == {}
    state = portal.dump()
    [user] = state["users"]
    assert [g["name"] for g in state["groups"] if user["id"] in g["members"]] == ["Engineering"]
    assert [e["course_id"] for e in state["enrollments"] if e["user_id"] == user["id"]] == [
        SECURITY
    ]
    assert portal.count(endpoint, "dropped") == 1
    assert portal.count(endpoint) == (1 if took_effect else 2)  # sent again only if it did not take
    with lms.engine.connect() as conn:
        states = {row.state for row in conn.execute(select(operations.c.state))}
    assert states == {OpState.DONE.value}
    again = lms.push()
    assert again.outcome == CycleOutcome.SUCCESS and again.counts.get("failed", 0) == 0


@pytest.mark.parametrize(
    ("relation", "words"),
    [
        ("membership", "The user is already a member of this group."),
        ("enrollment", "The user is already enrolled in this course."),
    ],
)
def test_an_already_so_refusal_the_state_does_not_bear_out_stays_an_error_naming_the_person(
    make_connector, portal, relation, words
):
    """iLMS says "already" but its state says otherwise: the read, not the words, decides,
    so the person's write is an error (not recorded as done) until it is sent again."""
    path, endpoint, operation = RELATIONS[relation]
    lms = make_connector()
    lms.hr = [person("E1"), person("E2")]
    portal.set_faults(
        {"refuse_next": 1, "refuse_status": 400, "refuse_message": words, "paths": [path]}
    )
    result = lms.push()
    assert result.outcome == CycleOutcome.PARTIAL and result.exit_code == 1
    assert portal.count(endpoint, 400) == 1
    errors = lms.errors()
    assert list(errors) == [("E1", operation)]
    assert words.rstrip(".") in errors["E1", operation]
    assert "read back" in errors["E1", operation]
    assert "do not include the account" in errors["E1", operation]
    found = accounts(portal)
    held = "groups" if relation == "membership" else "courses"
    assert found["E1"][held] == [] and found["E2"][held] != []
    lms.push()  # an unchanged person costs no call: the error stays until retried
    assert list(lms.errors()) == [("E1", operation)]

    assert retry(lms.engine, "ilms") == 1
    again = lms.push()
    assert again.outcome == CycleOutcome.SUCCESS, again.errors
    assert lms.errors() == {} and accounts(portal)["E1"][held] == found["E2"][held]


@pytest.mark.parametrize("relation", sorted(RELATIONS))
def test_a_write_sent_just_before_a_crash_is_looked_up_not_sent_again(
    make_connector, portal, relation
):
    """syncd dies right after iLMS took the write: the outbox says it was sent, and the
    next cycle reads iLMS before sending it again, so it is held once and done."""
    _, endpoint, operation = RELATIONS[relation]
    lms = make_connector()
    lms.hr = [person("E1")]
    with pytest.raises(Crash):
        lms.push(adapter=crashing_after(lms.adapter(), OpKind(operation)))
    with lms.engine.connect() as conn:
        query = select(operations.c.state).where(operations.c.kind == operation)
        assert [row.state for row in conn.execute(query)] == [OpState.SENT.value]
    assert portal.count(endpoint) == 1

    again = lms.push()

    assert again.outcome == CycleOutcome.SUCCESS, again.errors
    assert portal.count(endpoint) == 1  # looked up, found, not sent again
    assert lms.errors() == {}
    found = accounts(portal)["E1"]
    assert (found["groups"], found["courses"]) == (["Engineering"], [SECURITY])
    with lms.engine.connect() as conn:
        assert {row.state for row in conn.execute(select(operations.c.state))} == {"done"}


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


COURSES_GET = "GET /organizations/{org_id}/courses"
SUMMARY_GET = "GET /organizations/{org_id}/reports/enrollmentssummary"
ENROLLMENTS_GET = "GET /organizations/{org_id}/courses/{course_id}/enrollments"
TRANSCRIPTS_GET = "GET /organizations/{org_id}/users/{user_id}/transcripts"
CERTIFICATION = "x56QjLXI"  # the sandbox's course that certifies
COURSE_COUNT = 5  # the sandbox's courses, the historical one included


def pull_calls(lms: Connector, portal) -> Counter:
    """One successful pull, and the requests it made by endpoint."""
    before = calls(portal)
    result = lms.pull()
    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    return calls(portal) - before


def test_transcripts_are_read_only_for_people_whose_enrollment_moved(make_connector, portal):
    lms = make_connector()
    lms.hr = [person("E1"), person("E2"), person("E3", dept="Sales")]
    lms.push()
    ids = lms.remote_ids()
    # The first round reads every course through; people not started need no transcript.
    listed = {COURSES_GET: 1, SUMMARY_GET: COURSE_COUNT}
    assert pull_calls(lms, portal) == {**listed, ENROLLMENTS_GET: COURSE_COUNT}
    assert {r["status"] for r in lms.sink_rows()} == {"not_started"}

    portal.complete(int(ids["E2"]), SECURITY, score=91)
    assert pull_calls(lms, portal) == {**listed, ENROLLMENTS_GET: 1, TRANSCRIPTS_GET: 1}
    assert pull_calls(lms, portal) == listed  # nothing moved: the counts say so
    passed = [r for r in lms.sink_rows() if r["status"] == "passed"]
    assert [(r["hr_key"], r["course_id"], r["score"], r["credits"]) for r in passed] == [
        ("E2", SECURITY, "91", "10")
    ]
    assert len(lms.sink_rows()) == 4 + 1  # four enrollments, one change


def test_certification_credits_and_hours_reach_the_hr_sink(make_connector, portal):
    lms = make_connector()
    lms.hr = [person("E1", dept="Sales")]
    lms.push()
    user = int(lms.remote_ids()["E1"])
    until = int(time.time()) + 20 * 86400
    portal.complete(user, CERTIFICATION, score=97, certified_until=until)
    portal.complete(user, DATA_SECURITY, score=80)
    assert lms.pull().outcome == CycleOutcome.SUCCESS
    rows = {r["course_id"]: r for r in lms.sink_rows()}
    certified = rows[CERTIFICATION]
    assert (certified["status"], certified["certification_status"]) == ("passed", "Certified")
    expiry = datetime.fromtimestamp(until, UTC).isoformat().replace("+00:00", "Z")
    assert certified["certificate_expires_at"] == expiry
    data = rows[DATA_SECURITY]
    assert (data["credits"], data["hours"], data["certification_status"]) == ("2", "1", "")
    assert rows[SECURITY]["credits"] == ""  # not started: its transcript was never needed


def test_a_round_is_spread_over_cycles_within_its_budget(make_connector, portal):
    # 6000 calls a minute and a tiny share: two calls a cycle.
    lms = make_connector(pull={"budget_share": 0.0004})
    lms.hr = [person("E1")]
    lms.push()
    portal.complete(int(lms.remote_ids()["E1"]), CERTIFICATION, score=70)  # the last course
    spent = []
    for _ in range(6):  # listing, 5 x (summary, enrollments), a transcript: 12 calls
        result = lms.pull()
        assert result.outcome == CycleOutcome.SUCCESS, result.errors
        spent.append(result.counts["api_calls"])
    assert spent == [2, 2, 2, 2, 2, 2]
    assert sorted((r["course_id"], r["status"]) for r in lms.sink_rows()) == [
        (SECURITY, "not_started"),
        (CERTIFICATION, "passed"),
    ]
    before = len(lms.sink_rows())
    for _ in range(6):  # further rounds: nothing moved, nothing delivered again
        lms.pull()
    assert len(lms.sink_rows()) == before


@pytest.mark.parametrize("recheck", [None, "0s"])
def test_a_retake_the_counts_cannot_show_is_found_by_the_recheck_round(
    make_connector, portal, recheck
):
    lms = make_connector(target={"results_recheck_every": recheck})
    lms.hr = [person("E1")]
    lms.push()
    user = int(lms.remote_ids()["E1"])
    portal.complete(user, SECURITY, score=70)
    assert lms.pull().outcome == CycleOutcome.SUCCESS
    portal.complete(user, SECURITY, score=95)  # passed again: the counts stay as they were
    assert lms.pull().outcome == CycleOutcome.SUCCESS
    scores = [r["score"] for r in lms.sink_rows() if r["status"] == "passed"]
    assert scores == (["70"] if recheck is None else ["70", "95"])


@pytest.mark.parametrize("feature", ["reports", "transcripts"])
def test_an_organization_without_a_feature_still_gets_its_results(tmp_path, db_url, feature):
    options = {**ROOMY, "disabled_features": [feature]}
    with Sandbox(vendors=["ilms"], ilms=options) as limited:
        sim = limited.sim("ilms")
        sim.seed(TREE)
        lms = Connector(tmp_path, db_url, limited.base_url("ilms"))
        try:
            lms.hr = [person("E1"), person("E2")]
            lms.push()
            sim.complete(int(lms.remote_ids()["E1"]), SECURITY, score=77)
            assert lms.pull().outcome == CycleOutcome.SUCCESS
            assert lms.pull().outcome == CycleOutcome.SUCCESS
            requested = calls(sim)
        finally:
            lms.close()
    passed = [r for r in lms.sink_rows() if r["status"] == "passed"]
    assert [(r["hr_key"], r["score"]) for r in passed] == [("E1", "77")]
    credits = "" if feature == "transcripts" else "10"  # only transcripts carry credits
    assert passed[0]["credits"] == credits
    if feature == "reports":  # without counts, every round reads every course through
        assert requested[ENROLLMENTS_GET] == 2 * COURSE_COUNT


# --- a streamed first sync adopts from one listing read -----------------------------------------

LISTING = "GET /organizations/{org_id}/users"


def hand_made(user_id: int, key: str) -> dict:
    """An account an admin made in iLMS, for HR person ``key`` (same employee id)."""
    profile = {"F001": "Hand", "F003": key, "F004": key, "F019": "Acme", "F020": "Staff"}
    return {"id": user_id, "status": "Active", "profile": {**profile, "F021": "Engineering"}}


def test_a_streamed_first_sync_reads_the_listing_once_to_adopt_and_never_past_its_cycle(
    make_connector, portal, monkeypatch
):
    monkeypatch.setattr(stream, "CHUNK", 3)  # ten new people: four chunks, each adopting
    strangers = [hand_made(700000 + i, f"X{i}") for i in range(120)]
    portal.seed({"users": [*strangers, hand_made(600002, "E2"), hand_made(600009, "E9")]})
    pages = math.ceil(len(accounts(portal)) / 100)
    assert pages == 2
    lms = make_connector()
    lms.hr = [person(f"E{n}") for n in range(1, 11)]
    adapter = lms.adapter(lookup_limit=2)  # three people a chunk are worth a listing
    try:
        since = last_request(portal)
        result = lms.push_keeping(adapter)
        assert result.outcome == CycleOutcome.SUCCESS, result.errors
        assert reads_before_writing(portal, since, LISTING, USERS_POST) == pages  # not a chunk's
        found = accounts(portal)
        assert found["E2"]["id"] == 600002 and found["E2"]["profile"]["F001"] == "FirstE2"
        assert found["E9"]["id"] == 600009 and result.counts["created"] == 8
        assert len(found) == 120 + 10  # no one created twice

        # An admin makes accounts by hand; the adapter lives on into the next cycle.
        portal.seed({"users": [hand_made(600011, "E11"), hand_made(600020, "E20")]})
        # A lost create's lookup reads iLMS now, not the first cycle's listing.
        lost = [DesiredUser(hr_key=k, fields={"F004": k}) for k in ("E20", "E21", "E22")]
        found_now = adapter.match_existing(lost, None)
        assert {k: a.remote_id for k, a in found_now.items()} == {"E20": "600020"}
        lms.hr += [person(f"E{n}") for n in range(11, 15)]
        since = last_request(portal)
        again = lms.push_keeping(adapter)
        assert again.outcome == CycleOutcome.SUCCESS, again.errors
        assert again.counts["created"] == 3 and lms.errors() == {}
        found = accounts(portal)
        assert found["E11"]["id"] == 600011 and len(found) == 120 + 10 + 2 + 3
        assert reads_before_writing(portal, since, LISTING, USERS_POST) == pages
    finally:
        adapter.close()


def test_a_streamed_first_sync_chooses_lookups_or_the_listing_once_for_all_its_new_people(
    make_connector, portal, monkeypatch
):
    """Four chunks of three new people each, on a portal of five pages: three people a
    chunk would be three searches a chunk (a page read besides), but twelve people in all
    cost more in searches than the five pages of one listing, read once for all."""
    monkeypatch.setattr(stream, "CHUNK", 3)
    strangers = [hand_made(700000 + i, f"X{i}") for i in range(440)]
    # Accounts an admin made for two of the people, past the listing's first page.
    portal.seed({"users": [*strangers, hand_made(600005, "E5"), hand_made(600011, "E11")]})
    pages = math.ceil(len(accounts(portal)) / 100)
    assert pages == 5
    lms = make_connector()
    lms.hr = [person(f"E{n}") for n in range(1, 13)]
    adapter = lms.adapter(lookup_limit=2)  # more than two people: a listing may be cheaper
    try:
        since = last_request(portal)
        result = lms.push_keeping(adapter)
        assert result.outcome == CycleOutcome.SUCCESS, result.errors
        # Before the first create: the listing's pages, once, and no search (same endpoint).
        assert reads_before_writing(portal, since, LISTING, USERS_POST) == pages
        found = accounts(portal)
        assert found["E5"]["id"] == 600005 and found["E5"]["profile"]["F001"] == "FirstE5"
        assert found["E11"]["id"] == 600011 and result.counts["created"] == 10
        assert len(found) == 440 + 12 and lms.errors() == {}  # no one created twice
    finally:
        adapter.close()


@pytest.mark.parametrize("streamed", [True, False], ids=["streamed", "whole"])
def test_an_adopted_account_is_updated_alike_streamed_or_whole_with_a_password_mapped(
    make_connector, portal, monkeypatch, streamed
):
    """The organization makes the password (F016) mandatory and the mapping sets one: a
    create sends it, an adopted account's update does not (never re-sent, digest Q39) but
    is checked with it before sending, as planned; streamed in chunks or planned whole.
    An inactive one is reactivated, then updated: both its operations carry it."""
    if streamed:
        monkeypatch.setattr(stream, "CHUNK", 3)  # six new people: two chunks
    inactive = {**hand_made(600005, "E5"), "status": "Inactive"}
    portal.seed({"users": [hand_made(600002, "E2"), inactive]})
    fields = {
        "F001": "{{ first_name }}",
        "F003": "{{ last_name }}",
        "F004": "{{ employee_id }}",
        "F016": "Initial-{{ employee_id }}-pass",
        "region": "Acme",
        "division": "Staff",
        "department": "{{ department }}",
    }
    lms = make_connector(fields=fields, target={"required_fields": ["F016"]})
    lms.hr = [person(f"E{n}") for n in range(1, 7)]
    result = lms.push()
    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    assert lms.errors() == {} and result.counts["created"] == 4
    found = accounts(portal)
    assert found["E2"]["id"] == 600002 and found["E2"]["profile"]["F001"] == "FirstE2"
    assert found["E5"]["id"] == 600005 and found["E5"]["profile"]["F001"] == "FirstE5"
    assert found["E5"]["status"] == "Active" and result.counts["reactivated"] == 1
    assert {k: a["has_password"] for k, a in found.items()} == {
        f"E{n}": n not in (2, 5) for n in range(1, 7)
    }

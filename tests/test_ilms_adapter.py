"""The iLMS adapter against the iLMS sandbox over loopback HTTP, one concern at a time.

Validation is checked twice over: what the adapter refuses, the sandbox (which
applies the vendor document's field table on its own) refuses too, so a rule here
is the vendor's rule and not an invention. Writes are checked in the simulator's
state, matching and paging in the requests it saw, results in the pull's pages.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import structlog

from syncd.config.schema.targets import ILMSTarget
from syncd.engine.pull.identify import identify
from syncd.http import AuthenticationError, RetryPolicy
from syncd.limits import Window
from syncd.model import DesiredUser, Operation, OpKind, OutcomeStatus, ResultStatus
from syncd.sandbox import Sandbox
from syncd.vendors.context import AdapterContext
from syncd.vendors.ilms import ILMSAdapter, lookups
from syncd.vendors.ilms.api import created_id, error_text
from syncd.vendors.ilms.fields import code_of, pairs, to_codes
from syncd.vendors.pulling import call_budget
from tests.support.adapters import build as build_adapter
from tests.support.factory import closing_factory

LOGIN, KEY, ORG = "sandbox-ilms-login", "sandbox-ilms-key", "1001"
HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json",
    "APILoginID": LOGIN,
    "TransactionKey": KEY,
    "OrgID": ORG,
}
USERS_PATH = f"/organizations/{ORG}/users"
SECURITY = "p1gyJg4a"
CERTIFICATION = "x56QjLXI"  # the sandbox's certification course
TRANSCRIPTS = "/organizations/{org_id}/users/{user_id}/transcripts"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(vendors=["ilms"], ilms={"per_minute": 6000}) as server:
        yield server


@pytest.fixture
def sim(sandbox):
    simulator = sandbox.sim("ilms")
    simulator.reset()
    return simulator


def make_target(base_url: str, **overrides: Any) -> ILMSTarget:
    return ILMSTarget.model_validate(
        {
            "type": "ilms",
            "base_url": base_url,
            "org_id": ORG,
            "api_login_id": LOGIN,
            "transaction_key": KEY,
            "rate_limit": {"per_minute": 6000},
            **overrides,
        }
    )


@pytest.fixture
def make_adapter(sandbox, sim):
    def build(match: str | None = "F004", base_url: str | None = None, **options: Any):
        target_options = {k: options.pop(k) for k in list(options) if k in ILMSTarget.model_fields}
        target = make_target(base_url or sandbox.base_url("ilms"), **target_options)
        retry = RetryPolicy(attempts=3, backoff_initial=0.01, backoff_max=0.02)
        return build_adapter(ILMSAdapter, target, "ilms", match=match, retry=retry, **options)

    with closing_factory(build) as make:
        yield make


def fields(key: str = "E1", **changes: Any) -> dict[str, Any]:
    values = {
        "first_name": "Ann",
        "last_name": "Lee",
        "employee_id": key,
        "email": f"{key.lower()}@acme.test",
        "region": "Region 1",
        "division": "Division 1",
        "department": "Department 1",
    }
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def create(adapter: ILMSAdapter, key: str = "E1", **changes: Any) -> str:
    values = fields(key, **changes)
    [outcome] = adapter.execute([Operation(OpKind.CREATE, key, None, values, tuple(values))])
    assert outcome.status is OutcomeStatus.DONE, outcome.error
    assert outcome.remote_id is not None
    return outcome.remote_id


def user(sim, remote_id: str) -> dict[str, Any]:
    return next(u for u in sim.dump()["users"] if u["id"] == int(remote_id))


def raw_create(sandbox, values: dict[str, Any]) -> httpx.Response:
    """The record sent to the sandbox as it is, bypassing the adapter's validation."""
    coded = to_codes(values)
    body = {"userProfileData": pairs(coded, list(coded))}
    url = f"{sandbox.base_url('ilms')}/organizations/{ORG}/users"
    return httpx.post(url, json=body, headers=HEADERS)


# --- validation -------------------------------------------------------------------------------

INVALID = [
    ({"first_name": None}, "F001 (First Name): is required by iLMS"),
    ({"last_name": "  "}, "last_name (F003 Last Name): is required by iLMS and is empty"),
    ({"job_title": "x" * 51}, "job_title (F007 Job Title): 51 characters, iLMS allows at most 50"),
    ({"email": "ann+lms@acme.test"}, "plus-addressed e-mail addresses are refused"),
    ({"first_name": "<b>Ann"}, "first_name (F001 First Name): contains characters iLMS refuses"),
    ({"first_name": "Ann & Bo"}, "contains characters iLMS refuses in this field: &"),
    ({"employee_id": "E#1"}, "employee_id (F004 Employee ID): contains characters"),
    ({"language": "en"}, "language (F006 User Language): 'en' is not a language enabled"),
    ({"country": "Narnia"}, "'Narnia' is not a country iLMS lists"),
    ({"state": "Bavaria"}, "'Bavaria' is not a US state or Canadian province"),
    ({"time_zone": "UTC"}, "'UTC' is not an iLMS time zone; use its full name"),
    ({"hire_date": "23/01/2024"}, "hire_date (F005 Hire Date): '23/01/2024' is not a date"),
    ({"F031": "API"}, "F031 (Registration Type): is read-only in iLMS"),
    ({"F028": "x"}, "users.fields.F028: iLMS has no field F028"),
    ({"department": "Department 2"}, "department 'Department 2' does not exist in division"),
    ({"region": "North"}, "region 'North' does not exist in iLMS; it has 'Demo Region'"),
]


@pytest.mark.parametrize(("changes", "reason"), INVALID, ids=[r for _, r in INVALID])
def test_what_the_adapter_refuses_ilms_refuses_too(make_adapter, sandbox, changes, reason):
    adapter = make_adapter()
    values = fields(**changes)
    problems = adapter.validate(DesiredUser("E1", values))
    assert any(reason in p for p in problems), problems
    if not any(code_of(name) is None for name in values):  # a non-field cannot be sent
        assert raw_create(sandbox, values).status_code == 400


VALID = [
    {},
    {"first_name": "Zoë", "middle_name": "", "job_title": "x" * 50},
    {"language": "french", "country": "GB", "F013": "Bavaria"},
    {"country": "US", "state": "TX", "time_zone": "(GMT-06.00) Central Time (US & Canada)"},
    {"country": "Canada", "state": "PQ", "hire_date": "2024-01-23"},
    {"region": "region 1", "division": "DIVISION 1", "email": "ann.lee@acme.test"},
    {"supervisor_name": "Bo", "custom_field_1": 42},
]  # fmt: skip


@pytest.mark.parametrize("changes", VALID)
def test_what_the_adapter_accepts_ilms_accepts(make_adapter, sandbox, changes):
    adapter = make_adapter()
    values = fields(**changes)
    assert adapter.validate(DesiredUser("E1", values)) == []
    assert raw_create(sandbox, values).status_code == 201


def test_every_problem_of_a_record_is_reported_at_once(make_adapter):
    adapter = make_adapter()
    values = fields(first_name=None, job_title="x" * 60, nickname="Al", time_zone="CET")
    problems = adapter.validate(DesiredUser("E1", values))
    assert len(problems) == 4
    assert problems[0].startswith("users.fields.nickname: not an iLMS field; use a field code")


def test_a_state_outside_the_us_and_canada_belongs_in_f013(make_adapter):
    adapter = make_adapter()
    problems = adapter.validate(DesiredUser("E1", fields(country="Germany", state="TX")))
    assert problems == [
        "state (F012 State): is only for the United States and Canada, but the country is "
        "'Germany'; put the region in F013 (province) instead"
    ]


def test_organization_settings_from_the_target(make_adapter):
    strict = make_adapter(required_fields=["F004", "job_title"], ldap=True, languages=["English"])
    problems = strict.validate(
        DesiredUser("E1", fields(employee_id=None, email=".ann@acme.test", language="French"))
    )
    assert problems == [
        "email (F015 Email ID): may not start with '.' on an LDAP organization",
        "language (F006 User Language): 'French' is not a language enabled in iLMS; use its "
        "name (for example English), not a code",
        "F004 (Employee ID): is required by iLMS and the mapping does not set it",
        "F007 (Job Title): is required by iLMS and the mapping does not set it",
    ]
    lenient = make_adapter(allow_amp_hash=True)
    assert lenient.validate(DesiredUser("E1", fields(first_name="Ann & Bo"))) == []
    broken = make_adapter(required_fields=["nickname"])
    assert broken.validate(DesiredUser("E1", fields())) == [
        "target.required_fields: 'nickname' is not an iLMS field code or name"
    ]


def test_a_repeated_match_value_is_refused_within_one_pass(make_adapter):
    adapter = make_adapter()
    assert adapter.validate(DesiredUser("A", fields("E1"))) == []
    assert adapter.validate(DesiredUser("B", fields("e1"))) == [
        "F004 (Employee ID): 'e1' is also the value of HR record A; accounts are matched by "
        "it, so it must be unique"
    ]
    adapter.begin_validation()  # the next plan's pass
    assert adapter.validate(DesiredUser("B", fields("e1"))) == []


def test_the_hierarchy_is_read_once_and_only_as_far_as_needed(make_adapter, sim):
    adapter = make_adapter()
    for key in ("E1", "E2", "E3"):
        assert adapter.validate(DesiredUser(key, fields(key))) == []
    counts = sim.counts()
    assert sum(counts["GET /organizations/{org_id}/regions"].values()) == 1
    assert sum(counts["GET /organizations/{org_id}/regions/{region_id}/divisions"].values()) == 1
    departments = (
        "GET /organizations/{org_id}/regions/{region_id}/divisions/{division_id}/departments"
    )
    assert sum(counts[departments].values()) == 1
    assert "GET /organizations/{org_id}/groups" not in counts


def test_without_the_hierarchy_feature_the_triple_is_left_to_ilms(sandbox):
    with Sandbox(vendors=["ilms"], ilms={"disabled_features": ["hierarchy", "groups"]}) as other:
        target = make_target(other.base_url("ilms"))
        adapter = ILMSAdapter(target, AdapterContext("ilms", match="F004"))
        try:
            assert adapter.validate(DesiredUser("E1", fields(region="North"))) == []
            [outcome] = adapter.execute(
                [Operation(OpKind.GROUP_ADD, "E1", "517001", target="Sales")]
            )
        finally:
            adapter.close()
    assert outcome.status is OutcomeStatus.FAILED
    assert outcome.error == (
        "iLMS refused it (HTTP 403): This feature is not available to the organization."
    )


def test_the_lookup_tables_are_the_documents():
    assert len(lookups.TIME_ZONES) == 91 and len(lookups.COUNTRIES) == 234
    assert len(lookups.US_STATES) == 59 and len(lookups.CANADA_PROVINCES) == 13
    assert len(lookups.LANGUAGES) == 22
    assert ("Afghanistan", "AF") in lookups.COUNTRIES and ("Alaska", "AK") in lookups.US_STATES
    assert "(GMT-05.00) Eastern Time (US & Canada)" in lookups.TIME_ZONES


# --- accounts ---------------------------------------------------------------------------------


def test_create_sends_field_codes_with_values_and_learns_the_id(make_adapter, sim):
    adapter = make_adapter()
    remote_id = create(adapter, middle_name="", hire_date="2024-01-23", password="s3cret-Pass")
    found = user(sim, remote_id)
    assert found["status"] == "Active" and found["has_password"]
    assert found["profile"] == {
        "F001": "Ann",
        "F003": "Lee",
        "F004": "E1",
        "F005": "2024-01-23T00:00:00",
        "F015": "e1@acme.test",
        "F019": "Region 1",
        "F020": "Division 1",
        "F021": "Department 1",
    }  # F002 was empty, so it was not sent


def test_update_sends_only_the_changed_fields(make_adapter, sim, sandbox):
    adapter = make_adapter()
    remote_id = create(adapter, job_title="Engineer")
    url = f"{sandbox.base_url('ilms')}/organizations/{ORG}/users/{remote_id}"
    assert httpx.put(url, json=[{"Key": "F007", "Value": "Set in iLMS"}], headers=HEADERS)
    values = fields(last_name="Lee-Smith", first_name="Anna", job_title="Engineer")
    [outcome] = adapter.execute([Operation(OpKind.UPDATE, "E1", remote_id, values, ("last_name",))])
    assert outcome.status is OutcomeStatus.DONE
    profile = user(sim, remote_id)["profile"]
    assert profile["F003"] == "Lee-Smith"
    assert profile["F001"] == "Ann" and profile["F007"] == "Set in iLMS"  # not sent


def test_a_new_department_is_sent_with_its_region_and_division(make_adapter, sim):
    adapter = make_adapter()
    remote_id = create(adapter)
    values = fields(division="Division 2", department="Department 2")
    [outcome] = adapter.execute(
        [Operation(OpKind.UPDATE, "E1", remote_id, values, ("department", "division"))]
    )
    assert outcome.status is OutcomeStatus.DONE
    assert user(sim, remote_id)["profile"]["F021"] == "Department 2"
    values = fields(region="Demo Region", division="Demo Division", department="Demo Department")
    [outcome] = adapter.execute(
        [Operation(OpKind.UPDATE, "E1", remote_id, values, ("department",))]  # only one named
    )
    assert outcome.status is OutcomeStatus.DONE
    profile = user(sim, remote_id)["profile"]
    assert (profile["F019"], profile["F020"], profile["F021"]) == (
        "Demo Region",
        "Demo Division",
        "Demo Department",
    )


def test_deactivate_and_reactivate_through_activate(make_adapter, sim):
    adapter = make_adapter()
    remote_id = create(adapter)
    [off] = adapter.execute([Operation(OpKind.DEACTIVATE, "E1", remote_id)])
    assert off.status is OutcomeStatus.DONE and user(sim, remote_id)["status"] == "Inactive"
    [again] = adapter.execute([Operation(OpKind.DEACTIVATE, "E1", remote_id)])
    assert again.status is OutcomeStatus.DONE  # already inactive
    [on] = adapter.execute([Operation(OpKind.REACTIVATE, "E1", remote_id, fields())])
    assert on.status is OutcomeStatus.DONE and user(sim, remote_id)["status"] == "Active"
    counts = sim.counts()
    assert sum(counts["DELETE /organizations/{org_id}/users/{user_id}/Activate"].values()) == 2
    assert sum(counts["PUT /organizations/{org_id}/users/{user_id}/Activate"].values()) == 1


def test_an_account_deleted_in_ilms_cannot_be_reactivated(make_adapter, sim):
    sim.seed({"users": [{"id": 600009, "status": "Deleted", "profile": to_codes(fields("E9"))}]})
    adapter = make_adapter()
    [on] = adapter.execute([Operation(OpKind.REACTIVATE, "E9", "600009", fields("E9"))])
    assert on.status is OutcomeStatus.FAILED
    assert on.error == (
        "iLMS account 600009 no longer exists or was deleted in iLMS, so syncd cannot "
        "reactivate it; deleted accounts cannot be restored through the API"
    )
    [off] = adapter.execute([Operation(OpKind.DEACTIVATE, "E9", "600009")])
    assert off.status is OutcomeStatus.DONE and "nothing to deactivate" in off.warnings[0]


def test_ilms_own_reason_is_reported_when_it_refuses_a_record(make_adapter, sim):
    sim.seed({"languages": ["English"]})  # the organization enables fewer languages
    adapter = make_adapter()  # ... than the target declares (all of them)
    values = fields(language="French")
    [outcome] = adapter.execute([Operation(OpKind.CREATE, "E1", None, values, tuple(values))])
    assert outcome.status is OutcomeStatus.FAILED
    assert outcome.error == (
        "iLMS refused to create the account (HTTP 400): F006 (User Language) is not a "
        "language available to the organization: 'French'."
    )


def test_an_invalid_operation_already_in_the_outbox_is_not_sent(make_adapter, sim):
    adapter = make_adapter()
    values = fields(job_title="x" * 80)
    [outcome] = adapter.execute([Operation(OpKind.CREATE, "E1", None, values, tuple(values))])
    assert outcome.status is OutcomeStatus.FAILED and "at most 50" in (outcome.error or "")
    assert "POST /organizations/{org_id}/users" not in sim.counts()


def test_deleting_is_refused_with_the_reason(make_adapter):
    [outcome] = make_adapter().execute([Operation(OpKind.DELETE, "E1", "517001")])
    assert outcome.status is OutcomeStatus.FAILED
    assert "iLMS cannot delete users (its API only deactivates them)" in (outcome.error or "")


# --- lost answers -----------------------------------------------------------------------------


def test_a_create_whose_answer_was_lost_is_found_by_employee_id(make_adapter, sim):
    adapter = make_adapter()
    sim.set_faults({"drop_next": 1, "drop_after_processing": True, "paths": [USERS_PATH]})
    values = fields()
    [outcome] = adapter.execute([Operation(OpKind.CREATE, "E1", None, values, tuple(values))])
    assert outcome.status is OutcomeStatus.DONE
    [only] = sim.dump()["users"]
    assert outcome.remote_id == str(only["id"])
    assert sim.count("POST /organizations/{org_id}/users", "dropped") == 1


def test_a_create_refused_by_a_server_error_is_sent_again_once(make_adapter, sim):
    adapter = make_adapter()
    sim.set_faults({"error_next": 1, "error_status": 500, "paths": [USERS_PATH]})
    remote_id = create(adapter)
    assert [u["id"] for u in sim.dump()["users"]] == [int(remote_id)]
    assert sim.count("POST /organizations/{org_id}/users", 500) == 1


def test_without_a_match_value_a_lost_create_is_left_for_the_next_cycle(make_adapter, sim):
    adapter = make_adapter()
    sim.set_faults({"error_next": 1, "error_status": 500, "paths": [USERS_PATH]})
    values = fields(employee_id=None)
    [outcome] = adapter.execute([Operation(OpKind.CREATE, "E1", None, values, tuple(values))])
    assert outcome.status is OutcomeStatus.UNKNOWN
    assert "look the record up before sending it again" in (outcome.error or "")


# --- matching -----------------------------------------------------------------------------------


def seed_existing(sim) -> None:
    sim.seed(
        {
            "users": [
                {"id": 600001, "status": "Active", "profile": to_codes(fields("E1"))},
                {"id": 600002, "status": "Inactive", "profile": to_codes(fields("E2"))},
                {"id": 600003, "status": "Deleted", "profile": to_codes(fields("E3"))},
                {"id": 600010, "status": "Active", "profile": to_codes(fields("E10"))},
            ]
        }
    )


@pytest.mark.parametrize("lookup_limit", [20, 1], ids=["one by one", "one listing"])
def test_existing_accounts_are_matched_exactly_never_deleted_ones(make_adapter, sim, lookup_limit):
    seed_existing(sim)
    adapter = make_adapter(lookup_limit=lookup_limit)
    people = [DesiredUser(k, fields(k)) for k in ("E1", "E2", "E3", "E4")]
    found = adapter.match_existing(people, "F004")
    assert {k: (a.remote_id, a.active) for k, a in found.items()} == {
        "E1": ("600001", True),
        "E2": ("600002", False),
    }
    listings = sim.requests()
    assert len(listings) == (4 if lookup_limit == 20 else 1)
    assert all("userstatus=active%2Cinactive" in r["query"] or "userstatus=active,inactive"
               in r["query"] for r in listings)  # fmt: skip


def test_accounts_can_be_matched_by_email_instead(make_adapter, sim):
    seed_existing(sim)
    adapter = make_adapter(match="email")
    found = adapter.match_existing([DesiredUser("X", fields("E1"))], "email")
    assert found["X"].remote_id == "600001"
    assert 'F015="e1@acme.test"' in sim.requests()[0]["query"].replace("%22", '"').replace(
        "%40", "@"
    )


def test_without_users_match_employee_id_is_used_else_email(make_adapter, sim):
    seed_existing(sim)
    adapter = make_adapter(match=None)
    people = [DesiredUser("A", fields("E1")), DesiredUser("B", fields("E2", employee_id=None))]
    found = adapter.match_existing(people, None)
    assert {k: a.remote_id for k, a in found.items()} == {"A": "600001", "B": "600002"}
    queries = [r["query"].replace("%22", '"') for r in sim.requests()]
    assert any('F004="E1"' in q for q in queries) and any("F015=" in q for q in queries)


def test_a_match_field_that_cannot_find_anyone_is_refused(make_adapter):
    with pytest.raises(ValueError, match="iLMS cannot find accounts by 'hire_date'"):
        make_adapter(match="hire_date")
    with pytest.raises(ValueError, match="shared by many people"):
        make_adapter(match="department")


# --- groups and enrollments ---------------------------------------------------------------------


def test_group_membership_add_and_remove_already_so_is_done(make_adapter, sim):
    adapter = make_adapter()
    remote_id = create(adapter)
    ops = [
        Operation(OpKind.GROUP_ADD, "E1", remote_id, target="Sales"),
        Operation(OpKind.GROUP_ADD, "E1", remote_id, target="sales"),  # case-insensitive name
        Operation(OpKind.GROUP_ADD, "E1", remote_id, target="Engineering"),
        Operation(OpKind.GROUP_REMOVE, "E1", remote_id, target="Engineering"),
        Operation(OpKind.GROUP_REMOVE, "E1", remote_id, target="Manager"),  # not a member
        Operation(OpKind.GROUP_REMOVE, "E1", remote_id, target="Gone"),  # no such group
    ]
    outcomes = adapter.execute(ops)
    assert [o.status for o in outcomes] == [OutcomeStatus.DONE] * 6
    assert user(sim, remote_id)["groups"] == [2]
    assert sum(sim.counts()["GET /organizations/{org_id}/groups"].values()) == 1


def test_an_already_a_member_refusal_is_settled_by_reading_the_members(make_adapter, sim):
    """iLMS answers 400 to adding a member twice (a lost answer, a crash): read, then judge."""
    adapter = make_adapter()
    remote_id = create(adapter)
    add = Operation(OpKind.GROUP_ADD, "E1", remote_id, target="Sales")
    assert [o.status for o in adapter.execute([add])] == [OutcomeStatus.DONE]
    members_read = sum(sim.counts().get("GET /organizations/{org_id}/groups/{group_id}/members",
                                        {}).values())

    [again] = adapter.execute([add])  # sent again: iLMS says 400 "already a member"

    assert again.status is OutcomeStatus.DONE and again.error is None
    read_now = sum(sim.counts()["GET /organizations/{org_id}/groups/{group_id}/members"].values())
    assert read_now == members_read + 1  # settled by reading the state, not by the status
    refused = Operation(OpKind.GROUP_ADD, "E9", "424242", target="Sales")  # no such user
    [failed] = adapter.execute([refused])
    assert failed.status is OutcomeStatus.FAILED and "HTTP 400" in (failed.error or "")


def test_a_missing_group_is_a_clear_error(make_adapter):
    adapter = make_adapter()
    [outcome] = adapter.execute([Operation(OpKind.GROUP_ADD, "E1", "517001", target="Finance")])
    assert outcome.status is OutcomeStatus.FAILED
    assert outcome.error == (
        "group 'Finance' does not exist in iLMS, and iLMS's API cannot create groups: "
        "create it in iLMS, or map this HR value to an existing group"
    )


def test_enrollments_already_so_is_done_and_refusals_say_why(make_adapter, sim):
    adapter = make_adapter()
    remote_id = create(adapter)
    outcomes = adapter.execute(
        [
            Operation(OpKind.ENROLL, "E1", remote_id, target=SECURITY),
            Operation(OpKind.ENROLL, "E1", remote_id, target=SECURITY),
            Operation(OpKind.UNENROLL, "E1", remote_id, target="meOexN1A"),  # not enrolled
            Operation(OpKind.ENROLL, "E1", remote_id, target="NoSuch01"),
            Operation(OpKind.ENROLL, "E1", remote_id, target="hX7tQ2pL"),  # historical
            Operation(OpKind.ENROLL, "E1", remote_id, target="learning-path:dHg6Kdl8"),
        ]
    )
    assert [o.status for o in outcomes[:3]] == [OutcomeStatus.DONE] * 3
    assert [(e["user_id"], e["course_id"]) for e in sim.dump()["enrollments"]] == [
        (int(remote_id), SECURITY)
    ]
    missing, historical, curriculum = outcomes[3:]
    assert missing.status is OutcomeStatus.FAILED
    assert (missing.error or "").startswith(
        "course 'NoSuch01' does not exist in iLMS, or the organization has no course enrollments"
    )
    assert historical.error == (
        "iLMS refused to enroll the account in course 'hX7tQ2pL' (HTTP 400): "
        "Course hX7tQ2pL is not active; users cannot be enrolled; read back, the course's "
        "enrollments do not include the account"
    )
    assert (curriculum.error or "").startswith("curriculum 'dHg6Kdl8' does not exist in iLMS")
    [out] = adapter.execute([Operation(OpKind.UNENROLL, "E1", remote_id, target=SECURITY)])
    assert out.status is OutcomeStatus.DONE and sim.dump()["enrollments"] == []


ENROLLMENTS_READ = "GET /organizations/{org_id}/courses/{course_id}/enrollments"
ENROLL = "POST /organizations/{org_id}/courses/{course_id}/enrollments"


def test_an_already_enrolled_refusal_is_settled_by_reading_inactive_people_too(make_adapter, sim):
    """iLMS lists active people only unless asked (Q7): a leaver's enrollment is read with
    ``includeInactiveUsers``, or the refusal would stay an error for a write iLMS holds."""
    adapter = make_adapter()
    remote_id = create(adapter)
    enroll = Operation(OpKind.ENROLL, "E1", remote_id, target=SECURITY)
    assert adapter.execute([enroll])[0].status is OutcomeStatus.DONE
    [gone] = adapter.execute([Operation(OpKind.DEACTIVATE, "E1", remote_id)])
    assert gone.status is OutcomeStatus.DONE and user(sim, remote_id)["status"] == "Inactive"

    [again] = adapter.execute([enroll])  # 400 "already enrolled"

    assert (again.status, again.error) == (OutcomeStatus.DONE, None)
    assert sim.count(ENROLL, 400) == 1 and sim.count(ENROLLMENTS_READ) == 1
    [read] = [r for r in sim.requests() if r["endpoint"] == ENROLLMENTS_READ]
    assert "includeInactiveUsers=true" in read["query"]


@pytest.mark.parametrize(
    ("kind", "target", "read", "write"),
    [
        (OpKind.GROUP_ADD, "Sales", "GET /organizations/{org_id}/groups/{group_id}/members",
         "POST /organizations/{org_id}/groups/{group_id}/members"),
        (OpKind.ENROLL, SECURITY, ENROLLMENTS_READ, ENROLL),
    ],
)  # fmt: skip
def test_a_write_sent_before_is_looked_up_before_it_is_sent_again(
    make_adapter, sim, kind, target, read, write
):
    """After a crash or a lost answer the outbox hands the operation over again (a second
    attempt): what iLMS already holds is found by reading, and not sent twice."""
    adapter = make_adapter()
    remote_id = create(adapter)
    first = Operation(kind, "E1", remote_id, target=target, attempts=1)
    assert adapter.execute([first])[0].status is OutcomeStatus.DONE
    assert (sim.count(write), sim.count(read)) == (1, 0)  # a first attempt costs no read

    [again] = adapter.execute([Operation(kind, "E1", remote_id, target=target, attempts=2)])

    assert (again.status, again.error) == (OutcomeStatus.DONE, None)
    assert (sim.count(write), sim.count(read)) == (1, 1)  # read, not sent
    [other] = adapter.execute([Operation(kind, "E2", create(adapter, "E2"), target=target,
                                         attempts=2)])  # fmt: skip
    assert other.status is OutcomeStatus.DONE
    assert (sim.count(write), sim.count(read)) == (2, 2)  # read, not held: sent


# --- learning results ---------------------------------------------------------------------------


def test_enrollment_records_become_learning_results(make_adapter, sim):
    adapter = make_adapter()
    ids = [create(adapter, key) for key in ("E1", "E2", "E3", "E4", "E5")]
    sim.complete(int(ids[0]), SECURITY, score=88)
    sim.complete(int(ids[1]), SECURITY, status="Fail", score=30)
    sim.complete(int(ids[2]), SECURITY, status="Waived")
    sim.complete(int(ids[3]), SECURITY, status="In Progress")
    sim.complete(int(ids[4]), SECURITY, status="Not Started")
    links = {ids[0]: "H1", ids[1]: "H2", ids[2]: "H3", ids[3]: "H4"}  # E5 is nobody's
    pages = list(adapter.pull(None))
    results = {r.lms_user_id: identify(r, "ilms", links) for page in pages for r in page.results}
    assert {r.hr_key: r.status for r in results.values()} == {
        "H1": ResultStatus.PASSED,
        "H2": ResultStatus.FAILED,
        "H3": ResultStatus.WAIVED,
        "H4": ResultStatus.IN_PROGRESS,
        None: ResultStatus.NOT_STARTED,
    }
    passed = results[ids[0]]
    assert (passed.course_id, passed.course_name, passed.score) == (SECURITY, "Security", 88.0)
    assert passed.completed_at is not None and passed.completed_at.tzinfo is not None
    assert passed.progress is None and passed.certificate_url is None  # iLMS has neither
    assert (passed.credits, passed.hours, passed.certification_status) == (10.0, 4.0, None)
    assert passed.raw["RequirementType"] == "Mandatory"
    assert results[ids[4]].score is None and results[ids[4]].credits is None  # not read
    assert results[ids[1]].credits == 0.0  # credits are earned by passing
    assert pages[-1].cursor["rounds"] == 1 and pages[-1].cursor["queue"] is None
    requested = sim.counts()
    assert requested[f"GET {TRANSCRIPTS}"] == {"200": 4}  # not for the one not started


def test_a_certification_and_its_expiry_come_from_the_transcript(make_adapter, sim):
    adapter = make_adapter()
    user_id = create(adapter)
    until = float(int(sim.now()) + 30 * 86400)
    sim.complete(int(user_id), CERTIFICATION, score=97, certified_until=until)
    [result] = [r for page in adapter.pull(None) for r in page.results]
    assert (result.course_id, result.status) == (CERTIFICATION, ResultStatus.PASSED)
    assert result.certification_status == "Certified"
    assert result.certificate_expires_at == datetime.fromtimestamp(int(until), UTC)


def cycles(adapter, cursor=None, limit: int = 40) -> tuple[list[int], list, dict]:
    """Pull cycles until a round completes: the calls of each, the results, the cursor."""
    spent, results = [], []
    for _ in range(limit):
        before = adapter.api_calls
        pages = list(adapter.pull(cursor))
        spent.append(adapter.api_calls - before)
        results += [r for page in pages for r in page.results]
        cursor = pages[-1].cursor
        if cursor["queue"] is None:
            return spent, results, cursor
    raise AssertionError(f"no round completed in {limit} cycles: {cursor}")


def test_a_round_resumes_where_its_budget_ran_out(sandbox):
    # Pages of two: 5 courses take 3 listing calls, the 5 learners of one course 3 pages.
    with Sandbox(vendors=["ilms"], ilms={"per_minute": 6000, "max_per_page": 2}) as small:
        sim = small.sim("ilms")
        target = make_target(small.base_url("ilms"))
        options = {"budget_share": 5 / 5400}  # 5 calls a cycle
        adapter = build_adapter(ILMSAdapter, target, "ilms", match="F004", **options)
        try:
            ids = [create(adapter, f"E{i}") for i in range(5)]
            for remote_id in ids:
                sim.complete(int(remote_id), SECURITY, score=70)
            spent, results, cursor = cycles(adapter)
        finally:
            adapter.close()
    # 3 listing pages, 5 summaries, 5 courses' enrollment pages (3 for Security), 5 transcripts
    assert adapter.pull_budget() == 5 and sum(spent) == 3 + 5 + 7 + 5
    assert all(n <= 5 for n in spent)
    assert sorted(r.lms_user_id for r in results) == sorted(ids)  # each once, across cycles
    assert cursor["rounds"] == 1 and len(cursor["counts"]) == 5


def test_a_round_moves_on_even_when_the_budget_is_the_least_there_is(sandbox):
    with Sandbox(vendors=["ilms"], ilms={"per_minute": 6000, "max_per_page": 2}) as small:
        target = make_target(small.base_url("ilms"))
        options = {"budget_share": 2 / 5400}  # less than the 3-page course listing
        adapter = build_adapter(ILMSAdapter, target, "ilms", match="F004", **options)
        try:
            spent, _, cursor = cycles(adapter)
        finally:
            adapter.close()
    assert set(spent[:-1]) == {2} and sum(spent) == 3 + 5 + 5
    assert cursor["rounds"] == 1


def test_a_cursor_of_an_older_syncd_or_a_damaged_one_starts_a_round(make_adapter, sim):
    adapter = make_adapter()
    for old in ({"course": None, "page": 1, "after": "p1gyJg4a", "scans": 3}, {"counts": 7}):
        pages = list(adapter.pull(old))
        assert pages[-1].cursor["rounds"] == 1 and pages[-1].cursor["full_at"] is not None


# --- the wire -----------------------------------------------------------------------------------


def test_the_connectors_rate_limit_is_the_clients(make_adapter, sandbox):
    default = ILMSTarget.model_validate(
        {
            "type": "ilms",
            "base_url": sandbox.base_url("ilms"),
            "org_id": ORG,
            "api_login_id": LOGIN,
            "transaction_key": KEY,
        }
    )
    assert default.rate_limit.windows() == [(60, 60.0)]  # iLMS documents none: 60 a minute
    adapter = make_adapter(
        rate_limit={"per_hour": 1000, "burst": 20, "burst_window": "10s", "per_minute": None}
    )
    assert adapter.api.client.limiter.policy.windows == (Window(1000, 3600.0), Window(20, 10.0))
    assert adapter.pull_budget() == 10  # half of the shortest window


def test_call_budget():
    assert call_budget([(54, 60.0)], 0.5) == 27
    assert call_budget([(900, 3600.0), (18, 10.0)], 1.0) == 18
    assert call_budget([], 0.5) == 2 and call_budget([(3, 60.0)], 0.1) == 2


def test_credentials_are_sent_as_headers_and_never_shown(make_adapter, sandbox):
    adapter = make_adapter()
    with structlog.testing.capture_logs() as events:
        create(adapter)
    assert events and not [e for e in events if KEY in repr(e) or LOGIN in repr(e)]
    assert set(adapter.api.client.secrets()) == {LOGIN, KEY}
    wrong = make_adapter(transaction_key="wrong-key-123")
    with pytest.raises(AuthenticationError) as refused:
        wrong.match_existing([DesiredUser("E1", fields())], "F004")
    assert "ilms refused the credentials (HTTP 401" in str(refused.value)
    assert "wrong-key-123" not in str(refused.value)


def test_poll_job_sends_again_since_ilms_has_no_jobs(make_adapter):
    op = Operation(OpKind.UPDATE, "E1", "1", fields(), ("last_name",))
    [outcome] = make_adapter().poll_job("x", [op])
    assert outcome.status is OutcomeStatus.RETRY


def response(status: int, body: Any = None, text: str | None = None, **headers: str):
    if text is not None:
        return httpx.Response(status, text=text, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (response(400, {"Message": "F007 is too long."}), "F007 is too long."),
        (response(400, {"message": "lower case"}), "lower case"),
        (response(400, {"Errors": [{"Key": "F1", "Message": "a"}, {"Key": "F2", "Message": "b"}]}),
         "a; b"),
        (response(400, {"ModelState": {"F001": ["required"]}}), "F001: required"),
        (response(400, text="plain words"), "plain words"),
        (response(500, text="<html>oops</html>"), ""),
    ],
)  # fmt: skip
def test_error_text(answer, expected):
    assert error_text(answer) == expected


def test_created_id():
    location = "https://api.inspiredlms.com/organizations/99999/users/123456"
    assert created_id(response(201, 123456, Location=location)) == "123456"
    assert created_id(response(201, 654321)) == "654321"
    assert created_id(response(201, "777")) == "777"
    assert created_id(response(201, None)) is None


def test_a_plan_learns_which_groups_and_courses_ilms_lacks(make_adapter, sim):
    adapter = make_adapter()
    check = adapter.check_targets(
        frozenset({"Sales", "engineering", "Support"}),
        frozenset({SECURITY, "nope1234", "learning-path:7"}),
    )
    assert check.groups_listed and check.courses_listed
    assert set(check.groups) == {"Support"}  # names match as the push resolves them
    assert "cannot create groups" in check.groups["Support"]
    assert set(check.courses) == {"nope1234"}  # curricula have no listing: not judged
    assert {r["method"] for r in sim.requests()} == {"GET"}  # read, never written

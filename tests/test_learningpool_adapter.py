"""The Learning Pool adapter against the Learning Pool sandbox (real HTTP on loopback).

The sandbox runs on a hand-moved clock, so token lifetimes and expiry dates are
decided by the test, not by timing. Every path the adapter calls comes from the
``endpoints`` block of the target, as a customer would configure it; the tests also
point it at the sandbox's alternative shapes to show that nothing is hard-coded.
What is asserted is what an integration engineer checks: what the platform ends up
holding, which calls were made, and what reason a refusal gives.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from syncd.config.schema.targets import Deactivation, LearningPoolTarget
from syncd.engine.pull.identify import identify
from syncd.http import TOKENS, AuthenticationError, RetryPolicy, UnreachableError
from syncd.model import DesiredUser, Operation, OpKind, OutcomeStatus, ResultStatus
from syncd.sandbox import Sandbox
from syncd.sandbox.learningpool.endpoints import (
    SANDBOX_ENDPOINTS,
    SANDBOX_PAGING,
    SANDBOX_TARGET,
)
from syncd.vendors.base import Adapter, TargetCheck
from syncd.vendors.context import AdapterContext
from syncd.vendors.learningpool import LearningPoolAdapter
from syncd.vendors.learningpool.activity import Activity
from syncd.vendors.learningpool.paging import ListingError
from tests.support.adapters import build as build_adapter
from tests.support.clock import START, RewindableClock
from tests.support.factory import closing_factory

ROOMY = {"per_minute": 100_000}  # limits are not what most of these tests test
CLIENT = {k: SANDBOX_TARGET[k] for k in ("client_id", "client_secret")}
COMPLETIONS_ONLY = {k: v for k, v in SANDBOX_ENDPOINTS.items() if k != "in_progress_list"}
USERS = "POST /simple/v1/users"
TOKEN = "POST /oauth/token"


@pytest.fixture(scope="module")
def clock() -> RewindableClock:
    return RewindableClock(start=START)


@pytest.fixture(scope="module")
def shared(clock: RewindableClock) -> Iterator[Sandbox]:
    with Sandbox(vendors=["learningpool"], clock=clock, learningpool=ROOMY) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(shared: Sandbox, clock: RewindableClock) -> Sandbox:
    clock.rewind()
    shared.sim("learningpool").reset()
    TOKENS.clear()
    return shared


@pytest.fixture
def sim(sandbox: Sandbox):
    return sandbox.sim("learningpool")


def target(sandbox: Sandbox, endpoints: dict[str, Any] | None = None, **extra: Any):
    return LearningPoolTarget.model_validate(
        {
            "type": "learningpool",
            "base_url": sandbox.base_url("learningpool"),
            **SANDBOX_TARGET,
            "rate_limit": ROOMY,
            "endpoints": SANDBOX_ENDPOINTS if endpoints is None else endpoints,
            **extra,
        }
    )


@pytest.fixture
def make(sandbox: Sandbox, clock: RewindableClock):
    def build(
        endpoints: dict[str, Any] | None = None, match: str | None = None, **options: Any
    ) -> LearningPoolAdapter:
        extra = options.pop("target", {})
        return build_adapter(
            LearningPoolAdapter,
            target(sandbox, endpoints, **extra),
            "lp",
            match=match,
            retry=RetryPolicy(attempts=3, backoff_initial=0.01, backoff_max=0.05),
            **{"clock": clock.now, "token_clock": clock.time, **options},
        )

    with closing_factory(build) as maker:
        yield maker


def person(key: str, **fields: Any) -> dict[str, Any]:
    return {
        "external_id": key,
        "username": key.lower(),
        "email": f"{key.lower()}@acme.test",
        "first_name": f"First{key}",
        "last_name": f"Last{key}",
        **fields,
    }


def create(key: str, **fields: Any) -> Operation:
    values = person(key, **fields)
    return Operation(OpKind.CREATE, key, fields=values, changed=tuple(sorted(values)))


def on(kind: OpKind, key: str, remote_id: str, **extra: Any) -> Operation:
    return Operation(kind, key, remote_id, **extra)


def users(sim) -> dict[str, dict]:
    return {u["external_id"] or u["username"]: u for u in sim.dump()["users"]}


def created(adapter: LearningPoolAdapter, *keys: str, **fields: Any) -> dict[str, str]:
    outcomes = adapter.execute([create(key, **fields) for key in keys])
    assert [o.status for o in outcomes] == [OutcomeStatus.DONE] * len(keys), outcomes
    return {o.op.hr_key: o.remote_id for o in outcomes}


# --- the protocol and capabilities ----------------------------------------------------------


def test_it_is_an_adapter_whose_capabilities_follow_the_configured_endpoints(make):
    full = make()
    assert isinstance(full, Adapter)
    caps = full.capabilities
    assert caps.groups and caps.enrollments and caps.pull and caps.incremental_pull
    assert not caps.delete and not caps.async_jobs

    users_only = {k: v for k, v in SANDBOX_ENDPOINTS.items() if k.startswith("user")}
    feed = {**SANDBOX_ENDPOINTS["completions_list"]}
    del feed["since_param"]
    scanning = make({**users_only, "completions_list": feed})
    caps = scanning.capabilities
    assert not caps.groups and not caps.enrollments
    assert caps.pull and not caps.incremental_pull


# --- OAuth2 client credentials ----------------------------------------------------------------


def test_one_token_serves_many_calls_and_is_renewed_before_it_expires(make, sim, clock):
    lp = make()
    created(lp, "E1", "E2", "E3")
    assert sim.count(TOKEN) == 1  # cached: one token for three creates

    clock.advance(3600 - 200)  # inside the renewal margin (300 s) of the 1-hour token
    created(lp, "E4")
    assert sim.count(TOKEN) == 2
    assert sim.count(status=401) == 0  # renewed before the platform refused it


def test_a_token_refused_mid_run_is_renewed_once_and_the_call_goes_through(make, sim):
    lp = make()
    ids = created(lp, "E1")
    sim.expire_tokens()  # what a token reaching its hour early looks like
    [outcome] = lp.execute([on(OpKind.DEACTIVATE, "E1", ids["E1"])])
    assert outcome.status is OutcomeStatus.DONE
    assert users(sim)["E1"]["status"] == "expired"
    assert sim.count(status=401) == 1 and sim.count(TOKEN) == 2


@pytest.fixture
def real_time_sandbox() -> Iterator[Sandbox]:
    """A sandbox on the wall clock, where a token can expire between two requests."""
    with Sandbox(vendors=["learningpool"], learningpool=ROOMY) as sandbox:
        TOKENS.clear()
        yield sandbox


def test_a_second_401_is_an_authentication_error_without_secrets(real_time_sandbox):
    """A platform that refuses even a fresh token: AuthenticationError (exit code 4)."""
    sandbox = real_time_sandbox
    sim = sandbox.sim("learningpool")
    sim.set_faults({"token_lifetime": 0.000001})  # every new token is dead on arrival
    lp = LearningPoolAdapter(
        target(sandbox),
        AdapterContext(connector="lp", retry=RetryPolicy(attempts=2, backoff_initial=0.01)),
    )
    try:
        with pytest.raises(AuthenticationError) as raised:
            lp.execute([create("E1")])
    finally:
        lp.close()
    message = str(raised.value)
    assert "refused the credentials" in message and "freshly issued token" in message
    assert SANDBOX_TARGET["client_secret"] not in message
    assert sim.count(TOKEN) == 2 and sim.count(status=401) == 2
    assert sim.dump()["users"] == []


def test_wrong_client_credentials_are_an_authentication_error(make, sim):
    lp = make(target={"client_secret": "not-the-secret"})
    with pytest.raises(AuthenticationError) as raised:
        lp.execute([create("E1")])
    assert "check client_id and client_secret" in str(raised.value)
    assert "not-the-secret" not in str(raised.value)
    assert sim.count(USERS) == 0


# --- validation ---------------------------------------------------------------------------------


INVALID = [
    ({"username": "ann lee"}, "username", "contains spaces"),
    ({"email": "not-an-email"}, "email", "not an email address"),
    ({"first_name": ""}, "first_name", "required by Learning Pool, but empty"),
    ({"last_name": "x" * 101}, "last_name", "at most 100"),
    ({"timezone": "Mars/Olympus"}, "timezone", "not a time zone"),
    ({"language": "English"}, "language", "not a language code"),
    ({"country": "UK"}, "country", "3-character ISO 3166"),
    ({"status": "active"}, "status", "read-only"),
    ({"nickname": "Annie"}, "nickname", "not a Learning Pool user field"),
]


@pytest.mark.parametrize(("change", "field", "words"), INVALID)
def test_invalid_fields_are_refused_before_sending_as_the_platform_would(
    make, sandbox, sim, change, field, words
):
    lp = make()
    fields = person("E1", **change)
    [reason] = lp.validate(DesiredUser("E1", fields))
    assert reason.startswith(f"{field}: ") and words in reason
    [outcome] = lp.execute([create("E1", **change)])  # even from the outbox: never sent
    assert outcome.status is OutcomeStatus.FAILED and words in (outcome.error or "")
    assert sim.count(USERS) == 0
    # The sandbox refuses the same record with a 422 on the same field.
    token = httpx.post(
        f"{sandbox.base_url('learningpool')}/oauth/token",
        data={"grant_type": "client_credentials", **CLIENT},
    ).json()["access_token"]
    answer = httpx.post(
        f"{sandbox.base_url('learningpool')}/simple/v1/users",
        json=fields,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 422 and field in answer.json()["errors"]


def test_the_expiry_date_belongs_to_syncd_not_to_the_mapping(make, sim):
    """The platform would take it, but it would fight users.active: refused before sending."""
    lp = make()
    [reason] = lp.validate(DesiredUser("E1", person("E1", expires_at="2030-01-01")))
    assert reason.startswith("expires_at: syncd deactivates Learning Pool users by it")
    [outcome] = lp.execute([create("E1", expires_at="2030-01-01")])
    assert outcome.status is OutcomeStatus.FAILED and sim.count(USERS) == 0


def test_a_valid_record_passes_and_a_missing_required_field_is_named(make):
    lp = make()
    full = person("E1", language="en-GB", timezone="Europe/Paris", country="826", function="Ops")
    assert lp.validate(DesiredUser("E1", full)) == []
    without = {k: v for k, v in full.items() if k != "last_name"}
    assert lp.validate(DesiredUser("E1", without)) == [
        "last_name: required by Learning Pool; add it to users.fields"
    ]


# --- accounts -----------------------------------------------------------------------------------


def test_create_update_deactivate_and_reactivate(make, sim, clock):
    lp = make()
    ids = created(lp, "E1", function="Engineer", country="GBR")
    remote = ids["E1"]
    assert users(sim)["E1"]["id"] == int(remote)

    fields = person("E1", function="", country="FRA")
    [outcome] = lp.execute(
        [on(OpKind.UPDATE, "E1", remote, fields=fields, changed=("country", "function"))]
    )
    assert outcome.status is OutcomeStatus.DONE
    record = full_record(sim, remote)
    assert (record["country"], record["function"]) == ("FRA", None)  # emptied in HR: cleared

    [outcome] = lp.execute([on(OpKind.DEACTIVATE, "E1", remote)])
    assert outcome.status is OutcomeStatus.DONE
    gone = users(sim)["E1"]
    assert gone["status"] == "expired"
    assert gone["expires_at"] == (clock.now() - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

    clock.advance(86400)
    [outcome] = lp.execute([on(OpKind.REACTIVATE, "E1", remote, fields=fields)])
    assert outcome.status is OutcomeStatus.DONE
    back = users(sim)["E1"]
    assert (back["status"], back["expires_at"]) == ("active", None)
    assert len(sim.dump()["users"]) == 1


def full_record(sim, remote: str) -> dict[str, Any]:
    """A user's full record as the Simple API shows it (the dump leaves some fields out)."""
    with sim.lock:
        return sim.user_view(sim.store.users[int(remote)])


def test_an_update_with_nothing_to_send_costs_no_call(make, sim):
    lp = make()
    ids = created(lp, "E1")
    before = lp.api_calls
    [outcome] = lp.execute([on(OpKind.UPDATE, "E1", ids["E1"], fields=person("E1"), changed=())])
    assert outcome.status is OutcomeStatus.DONE and lp.api_calls == before


def test_deactivating_an_account_that_is_gone_is_done_with_a_warning(make):
    lp = make()
    [outcome] = lp.execute([on(OpKind.DEACTIVATE, "E9", "99999")])
    assert outcome.status is OutcomeStatus.DONE
    assert "no longer exists" in outcome.warnings[0]
    [outcome] = lp.execute([on(OpKind.REACTIVATE, "E9", "99999", fields=person("E9"))])
    assert outcome.status is OutcomeStatus.FAILED
    assert outcome.error == (
        "Learning Pool account 99999 no longer exists (was it removed there?), "
        "so it cannot be reactivated"
    )


def test_delete_is_refused_because_learning_pool_users_are_expired(make, sim):
    lp = make()
    ids = created(lp, "E1")
    [outcome] = lp.execute([on(OpKind.DELETE, "E1", ids["E1"])])
    assert outcome.status is OutcomeStatus.FAILED and "never deletes" in (outcome.error or "")
    assert users(sim)["E1"]["status"] == "active"


def test_a_taken_username_names_the_field_and_the_account_holding_it(make, sim):
    lp = make()
    ids = created(lp, "E1")
    [outcome] = lp.execute([create("E2", username="e1")])
    assert outcome.status is OutcomeStatus.FAILED
    assert outcome.error == (
        "Learning Pool refused the account: username: The username has already been taken. "
        f"(HTTP 422); account {ids['E1']} holds it and is not this person"
    )
    assert set(users(sim)) == {"E1"}


def test_a_create_refused_because_the_person_already_has_an_account_adopts_it(make, sim):
    sim.seed(
        {
            "users": [
                {
                    "id": 10050,
                    "external_id": "E1",
                    "username": "old.e1",
                    "email": "e1@acme.test",
                    "first_name": "Old",
                    "last_name": "One",
                    "expires_at": "2026-01-01T00:00:00Z",
                }
            ]
        }
    )
    lp = make()
    [outcome] = lp.execute([create("E1")])
    assert (outcome.status, outcome.remote_id) == (OutcomeStatus.DONE, "10050")
    assert users(sim)["E1"]["status"] == "active"  # adopted and reactivated, not duplicated
    assert len(sim.dump()["users"]) == 1


def test_a_create_whose_answer_was_lost_is_found_by_its_hr_id(make, sim):
    lp = make()
    sim.set_faults({"drop_next": 1, "drop_after_processing": True, "paths": ["/simple/v1/users"]})
    [outcome] = lp.execute([create("E1")])
    assert outcome.status is OutcomeStatus.UNKNOWN
    assert "look the record up" in (outcome.error or "")
    found = lp.match_existing([DesiredUser("E1", person("E1"))], None)
    assert found["E1"].remote_id == str(users(sim)["E1"]["id"]) and found["E1"].active
    assert sim.count(USERS) == 1


# --- matching on first sync -----------------------------------------------------------------------


def seed_accounts(sim, count: int) -> None:
    sim.seed(
        {
            "users": [
                {
                    "id": 20000 + i,
                    "external_id": f"X{i}",
                    "username": f"someone{i}",
                    "email": f"someone{i}@acme.test",
                    "first_name": "Some",
                    "last_name": "One",
                    **({"expires_at": "2026-01-01T00:00:00Z"} if i % 100 == 1 else {}),
                }
                for i in range(count)
            ]
        }
    )


def test_matching_a_few_people_looks_each_up_and_checks_the_answer(make, sim):
    seed_accounts(sim, 350)
    lp = make(match="email")
    wanted = [
        DesiredUser("E1", person("E1", email="SOMEONE201@acme.test")),
        DesiredUser("E2", person("E2", email="someone7@acme.test")),
        DesiredUser("E3", person("E3")),
    ]
    found = lp.match_existing(wanted, "email")
    assert {k: (a.remote_id, a.active) for k, a in found.items()} == {
        "E1": ("20201", False),
        "E2": ("20007", True),
    }
    # One page sizes the platform (4 pages of 100) and already shows E2; E1 and E3
    # cost one filtered call each.
    listed = [r for r in sim.requests() if r["endpoint"] == "GET /simple/v1/users"]
    assert len(listed) == 3
    assert sum("email=" in r["query"] for r in listed) == 2


def test_matching_many_people_reads_the_listing_once(make, sim):
    seed_accounts(sim, 150)
    lp = make()
    wanted = [DesiredUser(f"X{i}", person(f"X{i}")) for i in range(0, 150, 10)]
    found = lp.match_existing(wanted, None)  # natural key: external_id
    assert len(found) == 15 and found["X10"].remote_id == "20010"
    assert sim.count("GET /simple/v1/users") == 2  # two pages of 100, no lookups


def test_without_a_users_list_endpoint_nothing_is_matched(make, sim):
    seed_accounts(sim, 3)
    endpoints = {k: v for k, v in SANDBOX_ENDPOINTS.items() if k != "users_list"}
    lp = make(endpoints)
    assert lp.match_existing([DesiredUser("X1", person("X1"))], None) == {}
    assert sim.count() == 0


# --- endpoints are configuration ------------------------------------------------------------------


def test_an_operation_without_its_endpoint_names_the_key_to_set(make, sim):
    endpoints = {k: v for k, v in SANDBOX_ENDPOINTS.items() if k != "user_deactivate"}
    lp = make(endpoints)
    ids = created(lp, "E1")
    [outcome] = lp.execute([on(OpKind.DEACTIVATE, "E1", ids["E1"])])
    assert outcome.status is OutcomeStatus.FAILED
    assert (outcome.error or "").startswith(
        "target.endpoints.user_deactivate is not configured, so syncd cannot deactivate users"
    )
    assert users(sim)["E1"]["status"] == "active"


def test_a_path_needing_a_value_the_call_lacks_names_the_key(make, sim):
    endpoints = {
        **SANDBOX_ENDPOINTS,
        "user_create": {"method": "POST", "path": "/simple/v1/groups/{group_id}/members"},
    }
    lp = make(endpoints)
    [outcome] = lp.execute([create("E1")])
    assert outcome.status is OutcomeStatus.FAILED
    assert outcome.error == (
        "target.endpoints.user_create.path '/simple/v1/groups/{group_id}/members' uses "
        "{group_id}, which this call cannot fill (it knows {hr_key}); change the path"
    )
    assert sim.count() == 0


def test_the_other_endpoint_shapes_the_sandbox_serves_work_too(make, sim):
    """Deactivation by PATCHing the expiry date, members and enrolments posted in a body."""
    endpoints = {
        **SANDBOX_ENDPOINTS,
        "user_deactivate": {"method": "PATCH", "path": "/simple/v1/users/{user_id}"},
        "user_reactivate": {"method": "PATCH", "path": "/simple/v1/users/{user_id}"},
        "group_member_add": {"method": "POST", "path": "/simple/v1/groups/{group_id}/members"},
        "enrolment_create": {"method": "POST", "path": "/simple/v1/enrolments"},
    }
    lp = make(endpoints)
    remote = created(lp, "E1")["E1"]
    outcomes = lp.execute(
        [
            on(OpKind.GROUP_ADD, "E1", remote, target="SALES"),
            on(OpKind.ENROLL, "E1", remote, target="LX-COC-201"),
        ]
    )
    assert [o.status for o in outcomes] == [OutcomeStatus.DONE] * 2
    state = sim.dump()
    assert [g["members"] for g in state["groups"] if g["external_ref"] == "SALES"] == [
        [int(remote)]
    ]
    assert [(e["user_id"], e["course_id"]) for e in state["enrolments"]] == [(int(remote), 502)]
    [outcome] = lp.execute([on(OpKind.DEACTIVATE, "E1", remote)])
    assert outcome.status is OutcomeStatus.DONE and users(sim)["E1"]["status"] == "expired"
    [outcome] = lp.execute([on(OpKind.REACTIVATE, "E1", remote, fields=person("E1"))])
    assert outcome.status is OutcomeStatus.DONE and users(sim)["E1"]["status"] == "active"
    assert sim.count("POST /simple/v1/users/{user_id}/deactivate") == 0


# --- groups and enrolments ------------------------------------------------------------------------


def test_groups_are_found_by_external_ref_or_name_and_memberships_are_idempotent(make, sim):
    lp = make()
    remote = created(lp, "E1")["E1"]
    outcomes = lp.execute(
        [
            on(OpKind.GROUP_ADD, "E1", remote, target="ENG"),
            on(OpKind.GROUP_ADD, "E1", remote, target="all staff"),
            on(OpKind.GROUP_ADD, "E1", remote, target="ENG"),  # already a member
            on(OpKind.GROUP_REMOVE, "E1", remote, target="Sales"),  # not a member
            on(OpKind.GROUP_REMOVE, "E1", remote, target="Nowhere"),  # no such group
        ]
    )
    assert [o.status for o in outcomes] == [OutcomeStatus.DONE] * 5
    members = {g["name"]: g["members"] for g in sim.dump()["groups"]}
    assert members == {"Engineering": [int(remote)], "Sales": [], "All Staff": [int(remote)]}
    assert sim.count("GET /simple/v1/groups") == 1  # read once per adapter

    [outcome] = lp.execute([on(OpKind.GROUP_REMOVE, "E1", remote, target="ENG")])
    assert outcome.status is OutcomeStatus.DONE
    assert {g["name"]: g["members"] for g in sim.dump()["groups"]}["Engineering"] == []


def test_a_group_that_does_not_exist_is_a_clear_failure(make):
    lp = make()
    remote = created(lp, "E1")["E1"]
    [outcome] = lp.execute([on(OpKind.GROUP_ADD, "E1", remote, target="Finance")])
    assert outcome.status is OutcomeStatus.FAILED
    assert outcome.error == (
        "group 'Finance' does not exist in Learning Pool (looked up by External Ref and by "
        "name); create it there first, syncd cannot create groups"
    )


def test_a_plan_learns_which_groups_learning_pool_lacks_from_groups_list(make, sim):
    lp = make()
    check = lp.check_targets(frozenset({"ENG", "all staff", "Finance"}), frozenset({"C-1"}))
    assert check.groups_listed and not check.courses_listed  # no endpoint lists courses
    assert list(check.groups) == ["Finance"]
    assert "no Learning Pool group has 'Finance'" in check.groups["Finance"]
    without = {k: v for k, v in SANDBOX_ENDPOINTS.items() if k != "groups_list"}
    assert make(endpoints=without).check_targets(frozenset({"Finance"}), frozenset()) == (
        TargetCheck()
    )  # nothing to list them with: nothing is claimed


def test_enrolments_by_id_or_external_id_and_an_unknown_course(make, sim):
    lp = make()
    remote = created(lp, "E1")["E1"]
    outcomes = lp.execute(
        [
            on(OpKind.ENROLL, "E1", remote, target="501"),
            on(OpKind.ENROLL, "E1", remote, target="LX-SAL-301"),
            on(OpKind.ENROLL, "E1", remote, target="501"),  # again: harmless
            on(OpKind.ENROLL, "E1", remote, target="LX-NOPE"),
        ]
    )
    assert [o.status for o in outcomes[:3]] == [OutcomeStatus.DONE] * 3
    assert outcomes[3].status is OutcomeStatus.FAILED
    assert outcomes[3].error == (
        "Learning Pool refused the enrolment on learning experience 'LX-NOPE': "
        "Learning experience not found. (HTTP 404)"
    )
    assert sorted(e["course_id"] for e in sim.dump()["enrolments"]) == [501, 503]


def test_a_429_storm_fails_no_operation(make, sim):
    lp = make()
    sim.set_faults({"storm_requests": 2, "storm_retry_after": 1, "paths": ["/simple/v1/users"]})
    ids = created(lp, "E1", "E2", "E3")
    assert len(ids) == 3 and sim.count(status=429) == 2
    assert len(sim.dump()["users"]) == 3


# --- pull -----------------------------------------------------------------------------------------


def pull_all(lp: LearningPoolAdapter, cursor, links) -> tuple[list, dict | None]:
    """The results as the pull engine identifies them, and the last cursor."""
    results = []
    for page in lp.pull(cursor):
        results += [identify(r, "learningpool", links) for r in page.results]
        cursor = dict(page.cursor)
    return results, cursor


def completions_cursor(cursor: dict[str, Any]) -> dict[str, Any]:
    return cursor["feeds"]["completions_list"]


def test_completions_come_back_once_mapped_to_hr_keys_and_again_when_they_change(make, sim, clock):
    lp = make(COMPLETIONS_ONLY)
    ids = created(lp, "E1", "E2")
    links = {remote: key for key, remote in ids.items()}
    sim.complete(int(ids["E1"]), "LX-SEC-101", score=88)
    clock.advance(5)
    sim.complete(int(ids["E2"]), 502)
    sim.complete(int(ids["E2"]), 503, progress=40)  # in progress: not a completion

    results, cursor = pull_all(lp, None, links)
    assert [(r.hr_key, r.course_id, r.status, r.score) for r in results] == [
        ("E1", "501", ResultStatus.COMPLETED, 88.0),
        ("E2", "502", ResultStatus.COMPLETED, None),
    ]
    first = results[0]
    assert first.course_name == "Information Security Basics"
    assert first.completed_at == datetime.fromtimestamp(START, UTC)
    assert first.progress == 100.0
    assert cursor is not None and completions_cursor(cursor)["since"] == "2026-05-28T20:26:45Z"

    again, cursor = pull_all(lp, cursor, links)
    assert again == []  # the overlap is re-read but nothing is delivered twice

    clock.advance(60)
    sim.complete(int(ids["E1"]), "LX-SEC-101", score=95)  # a re-graded completion
    changed, cursor = pull_all(lp, cursor, links)
    assert [(r.hr_key, r.score) for r in changed] == [("E1", 95.0)]
    assert changed[0].result_id == first.result_id  # the same result, changed
    reads = [r for r in sim.requests() if r["endpoint"] == "GET /simple/v1/completions"]
    assert "since=2026-05-28T19:26:45Z" in reads[-1]["query"]  # cursor minus 1 h overlap


def test_a_large_backlog_is_read_within_the_budget_over_several_cycles(make, sim, clock):
    # 100,000 a minute * share: 1 page a cycle (min 2)
    lp = make(COMPLETIONS_ONLY, budget_share=0.00002)
    assert lp.pull_budget() == 2
    ids = created(lp, *[f"E{i}" for i in range(5)])
    links = {remote: key for key, remote in ids.items()}
    courses = [501, 502, 503]
    for second, (key, course) in enumerate((k, c) for k in ids for c in courses):
        clock.advance(1)
        sim.complete(int(ids[key]), course, score=second)
    seed_many(sim, clock, 240)  # 15 + 240 completions: three pages of 100
    seen: list[tuple[str, str]] = []
    cursor = None
    for _ in range(4):
        before = sim.count("GET /simple/v1/completions")
        results, cursor = pull_all(lp, cursor, links)
        assert sim.count("GET /simple/v1/completions") - before <= 2
        seen += [(r.lms_user_id, r.course_id) for r in results]
    assert len(seen) == len(set(seen)) == 255


def seed_many(sim, clock, count: int) -> None:
    """``count`` more learners, each completing one course a second apart."""
    users_ = [
        {
            "id": 30000 + i,
            "external_id": f"S{i}",
            "username": f"s{i}",
            "email": f"s{i}@acme.test",
            "first_name": "S",
            "last_name": "S",
        }
        for i in range(count)
    ]
    sim.seed({"users": users_})
    for user in users_:
        clock.advance(1)
        sim.complete(user["id"], 501)


def test_many_completions_in_one_second_are_paged_not_lost(make, sim):
    lp = make()
    seed = [
        {
            "id": 40000 + i,
            "username": f"p{i}",
            "email": f"p{i}@acme.test",
            "first_name": "P",
            "last_name": "P",
        }
        for i in range(230)
    ]
    sim.seed({"users": seed})
    for user in seed:
        sim.complete(user["id"], 501)  # all in the same second
    results, cursor = pull_all(lp, None, {})
    assert len({r.lms_user_id for r in results}) == 230 and len(results) == 230
    assert all(r.hr_key is None for r in results)  # no links: the engine parks them
    again, _ = pull_all(lp, cursor, {})
    assert again == []


def test_without_a_since_filter_the_feed_is_scanned_within_the_budget(make, sim, clock):
    feed = {k: v for k, v in SANDBOX_ENDPOINTS["completions_list"].items() if k != "since_param"}
    lp = make({**COMPLETIONS_ONLY, "completions_list": feed}, budget_share=0.00002)
    seed_many(sim, clock, 250)
    cursors = []
    counted = 0
    cursor = None
    for _ in range(3):
        results, cursor = pull_all(lp, cursor, {})
        counted += len(results)
        cursors.append(cursor)
    pages = [completions_cursor(c)["page"] for c in cursors]
    assert pages == [3, 1, 3]  # two pages a cycle, then over again
    assert counted == 250 + 200
    reads = [r for r in sim.requests() if r["endpoint"] == "GET /simple/v1/completions"]
    assert not any("since=" in r["query"] for r in reads)


def test_pull_without_a_completions_endpoint_names_the_key(make):
    endpoints = {k: v for k, v in SANDBOX_ENDPOINTS.items() if k != "completions_list"}
    lp = make(endpoints)
    with pytest.raises(Exception, match=r"target\.endpoints\.completions_list is not configured"):
        lp.pull(None)


def test_in_progress_results_come_back_and_a_completion_then_takes_their_place(make, sim, clock):
    lp = make()
    ids = created(lp, "E1", "E2")
    links = {remote: key for key, remote in ids.items()}
    sim.complete(int(ids["E1"]), "LX-SEC-101", progress=40)
    sim.complete(int(ids["E2"]), "LX-COC-201", score=70)

    results, cursor = pull_all(lp, None, links)
    assert [(r.hr_key, r.course_id, r.status, r.progress) for r in results] == [
        ("E1", "501", ResultStatus.IN_PROGRESS, 40.0),  # the in-progress feed is read first
        ("E2", "502", ResultStatus.COMPLETED, 100.0),
    ]
    assert results[0].completed_at is None and results[0].score is None
    assert cursor is not None and set(cursor["feeds"]) == {"in_progress_list", "completions_list"}

    clock.advance(60)
    sim.complete(int(ids["E1"]), "LX-SEC-101", score=90)
    changed, cursor = pull_all(lp, cursor, links)
    assert [(r.hr_key, r.status, r.score) for r in changed] == [
        ("E1", ResultStatus.COMPLETED, 90.0)  # no longer in progress: only completions show it
    ]
    assert changed[0].result_id == results[0].result_id  # the same result, now completed
    assert sim.count("GET /simple/v1/progress") == 2


def test_a_cursor_saved_before_the_in_progress_feed_keeps_its_place(make, sim, clock):
    old = make(COMPLETIONS_ONLY)
    ids = created(old, "E1")
    links = {remote: key for key, remote in ids.items()}
    sim.complete(int(ids["E1"]), "LX-SEC-101")
    delivered, cursor = pull_all(old, None, links)
    assert len(delivered) == 1 and cursor is not None
    saved = completions_cursor(cursor)  # the shape syncd saved before in-progress results

    clock.advance(60)
    again, cursor = pull_all(make(), saved, links)
    assert again == []  # the completion is not delivered a second time
    assert completions_cursor(cursor)["since"] == saved["since"]


# --- configuration, not guesses -----------------------------------------------------------------


def test_the_token_is_requested_encoded_as_configured():
    """A platform that takes only JSON token requests: form is refused, json works."""
    options = {**ROOMY, "token_bodies": ["json"]}
    with Sandbox(vendors=["learningpool"], learningpool=options) as sandbox:
        TOKENS.clear()
        context = AdapterContext(connector="lp", retry=RetryPolicy(attempts=2))
        form = LearningPoolAdapter(target(sandbox, token_encoding="form"), context)
        with closing(form), pytest.raises(AuthenticationError) as raised:
            form.execute([create("E1")])
        assert "The token request must be json" in str(raised.value)
        as_json = LearningPoolAdapter(target(sandbox, token_encoding="json"), context)
        with closing(as_json):
            [outcome] = as_json.execute([create("E1")])
        assert outcome.status is OutcomeStatus.DONE
        assert sandbox.sim("learningpool").count("POST /oauth/token") == 2


def seed_users(sim, count: int) -> None:
    sim.seed({"users": [person(f"S{i}") for i in range(count)]})


def listed(lp: LearningPoolAdapter) -> list[str]:
    return [a.remote_id for a in lp.listing.list_accounts(frozenset(), frozenset())]


def test_listings_page_as_configured_by_page_or_by_offset(make, sim):
    seed_users(sim, 5)
    by_offset = {"style": "offset", "page_param": "offset", "size_param": "limit", "page_size": 2}
    lp = make(target={"paging": by_offset})
    assert len(set(listed(lp))) == 5
    queries = [r["query"] for r in sim.requests() if r["endpoint"] == "GET /simple/v1/users"]
    assert queries == ["offset=0&limit=2", "offset=2&limit=2", "offset=4&limit=2"]


def test_a_listing_that_ignores_its_page_parameter_is_an_error_naming_the_endpoint(make, sim):
    seed_users(sim, 5)
    ignored = {**SANDBOX_PAGING, "page_param": "pg", "page_size": 2}  # the sandbox knows no pg
    lp = make(target={"paging": ignored})
    with pytest.raises(ListingError) as raised:
        listed(lp)
    assert str(raised.value) == (
        "learningpool GET /simple/v1/users: page 2 repeats page 1, so the platform ignores "
        "pg=2; check target.paging (style, page_param, size_param)"
    )
    assert sim.count("GET /simple/v1/users") == 2


def test_a_listing_longer_than_max_pages_is_an_error_naming_the_endpoint(make, sim):
    seed_users(sim, 5)
    lp = make(target={"paging": {**SANDBOX_PAGING, "page_size": 2, "max_pages": 2}})
    with pytest.raises(
        ListingError,
        match=r"^learningpool GET /simple/v1/users: the listing "
        r"goes on past 2 pages of 2 \(paging.max_pages\)",
    ):
        listed(lp)
    assert sim.count("GET /simple/v1/users") == 2


def test_answers_are_read_by_the_configured_envelope_and_field_names(make, sim):
    seed_users(sim, 3)
    records = SANDBOX_TARGET["records"]
    bare = make(target={"records": {**records, "envelope": "none"}})
    with pytest.raises(UnreachableError, match=r"no list of records \(records.envelope: none\)"):
        listed(bare)  # the sandbox wraps its lists in data: nothing of syncd's guesses it

    by_username = {**records["user"], "id": "username"}  # another field as the account id
    accounts = make(target={"records": {**records, "user": by_username}})
    assert sorted(listed(accounts)) == ["s0", "s1", "s2"]

    no_next = {**records, "listing": {}}  # no end fields: a short page ends the listing
    paged = make(target={"records": no_next, "paging": {**SANDBOX_PAGING, "page_size": 2}})
    assert len(listed(paged)) == 3
    assert sim.count("GET /simple/v1/users") == 1 + 1 + 2  # the short second page ends it


def test_without_a_filter_for_the_match_field_the_listing_is_read_whole(make, sim):
    seed_users(sim, 3)
    unfiltered = {k: v for k, v in SANDBOX_ENDPOINTS["users_list"].items() if k != "filters"}
    lp = make({**SANDBOX_ENDPOINTS, "users_list": unfiltered})
    found = lp.match_existing([DesiredUser("S1", person("S1"))], "email")
    assert found["S1"].remote_id
    queries = [r["query"] for r in sim.requests() if r["endpoint"] == "GET /simple/v1/users"]
    assert queries and not any("email" in q for q in queries)  # no parameter guessed


def test_deactivation_by_a_dedicated_action_is_read_by_the_field_configured(make, sim):
    action = {"method": "action", "field": "status", "inactive": "expired"}
    lp = make(target={"deactivation": action})
    remote = created(lp, "E1")["E1"]
    [outcome] = lp.execute([on(OpKind.DEACTIVATE, "E1", remote)])
    assert outcome.status is OutcomeStatus.DONE and users(sim)["E1"]["status"] == "expired"
    [outcome] = lp.execute([on(OpKind.DEACTIVATE, "E1", remote, attempts=2)])  # sent again
    assert outcome.status is OutcomeStatus.DONE
    assert sim.count("POST /simple/v1/users/{user_id}/deactivate") == 1  # read, not re-sent


def test_each_deactivation_method_sends_its_own_body():
    now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    expiry = Activity(Deactivation(method="expiry", field="expires_at"), lambda: now)
    flag = Activity(
        Deactivation(method="flag", field="active", inactive=False, active=True), lambda: now
    )
    action = Activity(Deactivation(method="action", field="state", inactive=["gone"]), lambda: now)
    assert expiry.deactivate_body() == {"expires_at": "2026-05-01T11:59:00Z"}
    assert (flag.deactivate_body(), flag.reactivate_body()) == ({"active": False}, {"active": True})
    assert (action.deactivate_body(), action.reactivate_body()) == ({}, {})
    assert (expiry.owned_field, flag.owned_field, action.owned_field) == (
        "expires_at",
        "active",
        None,
    )
    assert expiry.active({"expires_at": "2026-05-01T11:00:00Z"}) is False
    assert expiry.active({"expires_at": "2027-01-01T00:00:00Z"}) is True
    assert expiry.holds({"expires_at": "2027-01-01T00:00:00Z"}, active=True) is False  # scheduled
    assert flag.active({"active": False}) is False and flag.active({"name": "x"}) is None
    assert action.active({"state": "GONE"}) is False and action.active({"state": "on"}) is True
    with pytest.raises(ValueError, match="method flag needs active"):
        Deactivation(method="flag", field="active", inactive=False)


# --- "already so" is settled by reading, never by a status code ---------------------------------

POSTED = {
    **SANDBOX_ENDPOINTS,
    "group_member_add": {"method": "POST", "path": "/simple/v1/groups/{group_id}/members"},
    "enrolment_create": {"method": "POST", "path": "/simple/v1/enrolments"},
}
"""The sandbox's POST shapes, which refuse a second add or enrolment (422), as a strict
platform may: the vendor documents neither answer."""
MEMBERS_READ = "GET /simple/v1/groups/{group_id}/members"
ENROLMENTS_READ = "GET /simple/v1/users/{user_id}/enrolments"


def members(sim, ref: str) -> list[int]:
    return next(g["members"] for g in sim.dump()["groups"] if g["external_ref"] == ref)


def test_an_already_a_member_refusal_is_settled_by_reading_the_members(make, sim):
    lp = make(POSTED)
    remote = created(lp, "E1")["E1"]
    add = on(OpKind.GROUP_ADD, "E1", remote, target="ENG")
    assert [o.status for o in lp.execute([add])] == [OutcomeStatus.DONE]
    assert sim.count(MEMBERS_READ) == 0  # a confirmed add costs no read

    [again] = lp.execute([add])  # 422 "The user is already a member of this group."
    assert again.status is OutcomeStatus.DONE and again.error is None
    assert (
        sim.count(MEMBERS_READ) == 1
        and sim.count("POST /simple/v1/groups/{group_id}/members", status=422) == 1
    )
    assert members(sim, "ENG") == [int(remote)]

    [stranger] = lp.execute([on(OpKind.GROUP_ADD, "E9", "99999", target="ENG")])
    assert stranger.status is OutcomeStatus.FAILED  # read: not a member, so the refusal stands
    assert stranger.error == "Learning Pool refused to add group 'ENG': User not found. (HTTP 404)"


def test_without_a_members_endpoint_a_refusal_fails_naming_the_endpoint_that_would_settle_it(
    make, sim
):
    lp = make({k: v for k, v in POSTED.items() if k != "group_members_list"})
    remote = created(lp, "E1")["E1"]
    add = on(OpKind.GROUP_ADD, "E1", remote, target="ENG")
    lp.execute([add])
    [again] = lp.execute([add])
    assert again.status is OutcomeStatus.FAILED
    assert again.error == (
        "Learning Pool refused to add group 'ENG': user_id: The user is already a member of "
        "this group. (HTTP 422); configure target.endpoints.group_members_list so syncd can "
        "read whether it is already so"
    )


def test_removing_someone_who_is_not_a_member_is_done_once_the_members_show_it(make, sim):
    lp = make()
    remote = created(lp, "E1")["E1"]
    [outcome] = lp.execute([on(OpKind.GROUP_REMOVE, "E1", remote, target="SALES")])
    assert outcome.status is OutcomeStatus.DONE  # DELETE answered 404, the members agree
    assert sim.count("DELETE /simple/v1/groups/{group_id}/members/{user_id}", status=404) == 1
    assert sim.count(MEMBERS_READ) == 1


def test_an_already_enrolled_refusal_is_settled_by_reading_the_enrolments(make, sim):
    lp = make(POSTED)
    remote = created(lp, "E1")["E1"]
    enrol = on(OpKind.ENROLL, "E1", remote, target="LX-COC-201")
    outcomes = lp.execute([enrol, enrol])  # the second: 422 "already enrolled"
    assert [(o.status, o.error) for o in outcomes] == [(OutcomeStatus.DONE, None)] * 2
    assert sim.count(ENROLMENTS_READ) == 1
    assert [(e["user_id"], e["course_id"]) for e in sim.dump()["enrolments"]] == [
        (int(remote), 502)
    ]


def test_deactivating_or_reactivating_twice_is_settled_by_reading_the_account(make, sim, clock):
    lp = make()
    remote = created(lp, "E1")["E1"]
    twice = [on(OpKind.DEACTIVATE, "E1", remote)] * 2  # the second: 422 "already expired"
    assert [(o.status, o.error) for o in lp.execute(twice)] == [(OutcomeStatus.DONE, None)] * 2
    clock.advance(60)
    back = [on(OpKind.REACTIVATE, "E1", remote, fields=person("E1"))] * 2  # 422 "no expiry"
    assert [(o.status, o.error) for o in lp.execute(back)] == [(OutcomeStatus.DONE, None)] * 2
    assert sim.count(status=422) == 2 and sim.count("GET /simple/v1/users/{user_id}") == 2
    assert users(sim)["E1"]["status"] == "active"


def test_a_404_from_a_deactivate_path_that_is_wrong_is_a_failure_not_a_success(make, sim):
    wrong = {"method": "POST", "path": "/simple/v1/users/{user_id}/expire"}  # not served: 404
    lp = make({**SANDBOX_ENDPOINTS, "user_deactivate": wrong})
    remote = created(lp, "E1")["E1"]
    [outcome] = lp.execute([on(OpKind.DEACTIVATE, "E1", remote)])
    assert outcome.status is OutcomeStatus.FAILED
    assert outcome.error == (
        "Learning Pool refused the deactivation: Not found. (HTTP 404); account "
        f"{remote} exists, so check target.endpoints.user_deactivate.path"
    )
    assert users(sim)["E1"]["status"] == "active"


def test_a_write_sent_again_reads_first_and_sends_nothing_already_done(make, sim):
    """After a lost answer or a crash, the outbox sends again (attempts > 1): read first."""
    lp = make(POSTED)
    remote = created(lp, "E1")["E1"]
    ops = [
        on(OpKind.GROUP_ADD, "E1", remote, target="ENG"),
        on(OpKind.ENROLL, "E1", remote, target="LX-COC-201"),
        on(OpKind.DEACTIVATE, "E1", remote),
    ]
    assert [o.status for o in lp.execute(ops)] == [OutcomeStatus.DONE] * 3
    writes = sum(n for (method, _), n in _by_method(sim).items() if method != "GET")

    resent = [replace(op, attempts=2) for op in ops]
    outcomes = lp.execute(resent)
    assert [(o.status, o.error, o.warnings) for o in outcomes] == [
        (OutcomeStatus.DONE, None, [])
    ] * 3
    assert sum(n for (method, _), n in _by_method(sim).items() if method != "GET") == writes
    assert sim.count(status=422) == 0  # nothing was refused: nothing was sent
    assert members(sim, "ENG") == [int(remote)] and len(sim.dump()["enrolments"]) == 1


def _by_method(sim) -> dict[tuple[str, str], int]:
    return {
        tuple(endpoint.split(" ", 1)): sum(by.values())  # type: ignore[misc]
        for endpoint, by in sim.counts().items()
    }

"""The HowNow adapter and sink against the HowNow sandbox (real HTTP on loopback).

Most tests drive a sandbox on a hand-moved clock, so "the job is still running"
and "the job has ended" are decided by the test, not by timing. What is asserted
is what an integration engineer checks: what HowNow ends up holding, which
calls were made, and what reason a refusal gives.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from syncd.config.schema.sinks import HowNowSinkConfig
from syncd.config.schema.targets import HowNowTarget
from syncd.engine.pull.identify import identify
from syncd.http import TOKENS, RetryPolicy
from syncd.model import (
    DesiredUser,
    LearningResult,
    Operation,
    OpKind,
    Outcome,
    OutcomeStatus,
    ResultStatus,
)
from syncd.sandbox import ManualClock, Sandbox
from syncd.sink_protocol import SinkError
from syncd.vendors.base import Adapter
from syncd.vendors.hownow import HowNowAdapter, ordering, users
from syncd.vendors.hownow.sink import JobWait, engagement_body, open_hownow_sink
from tests.support.adapters import build as build_adapter

CLIENT = {"client_id": "sandbox-hownow-client", "client_secret": "sandbox-hownow-secret"}
ROOMY = {"per_minute": 100_000, "per_hour": 1_000_000}  # limits are not what these tests test
JOB_SECONDS = 2.0
UPSERT = "POST /external/v1/users/upsert"
JOB_STATUS = "GET /external/v1/jobs/{job_id}/status"


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="module")
def shared(clock: ManualClock) -> Iterator[Sandbox]:
    with Sandbox(vendors=["hownow"], clock=clock, job_duration=JOB_SECONDS, hownow=ROOMY) as sb:
        yield sb


@pytest.fixture
def sandbox(shared: Sandbox) -> Sandbox:
    shared.sim("hownow").reset()
    TOKENS.clear()
    return shared


@pytest.fixture
def sim(sandbox: Sandbox):
    return sandbox.sim("hownow")


def target(sandbox: Sandbox, **overrides: Any) -> HowNowTarget:
    return HowNowTarget.model_validate(
        {
            "type": "hownow",
            "base_url": sandbox.base_url("hownow"),
            **CLIENT,
            "deactivate_assign_to": "EXT-svc_admin",
            "rate_limit": ROOMY,
            **overrides,
        }
    )


def adapter(sandbox: Sandbox, waits: ManualClock | None = None, **options: Any) -> HowNowAdapter:
    """An adapter on the sandbox; with ``waits`` its sleeps move the sandbox's clock."""
    overrides = options.pop("target", {})
    return build_adapter(
        HowNowAdapter,
        target(sandbox, **overrides),
        "hownow",
        retry=RetryPolicy(attempts=3, backoff_initial=0.01, backoff_max=0.05),
        **{**({"sleep": waits.advance} if waits is not None else {}), **options},
    )


def person(ext: str, **fields: Any) -> dict[str, Any]:
    return {
        "external_user_id": ext,
        "name": f"Person {ext}",
        "email": f"{ext}@acme.test",
        "user_type": "ReadOnly",
        **fields,
    }


def create(ext: str, **fields: Any) -> Operation:
    values = person(ext, **fields)
    return Operation(OpKind.CREATE, ext, fields=values, changed=tuple(sorted(values)))


def finish(hownow: HowNowAdapter, clock: ManualClock, outcomes: list[Outcome]) -> list[Outcome]:
    """Let the jobs end and return the final outcomes (what the engine records)."""
    clock.advance(JOB_SECONDS + 0.1)
    final: list[Outcome] = []
    for outcome in outcomes:
        if outcome.status is OutcomeStatus.PENDING:
            assert outcome.job_id
            polled = hownow.poll_job(outcome.job_id, [outcome.op])
            assert polled is not None
            final += polled
        else:
            final.append(outcome)
    return final


def users_by_ext(sim) -> dict[str, dict[str, Any]]:
    return {u["external_user_id"]: u for u in sim.dump()["users"]}


# --- validation and the upsert body ---------------------------------------------------------


def test_adapter_implements_the_protocol(sandbox):
    hownow = adapter(sandbox)
    assert isinstance(hownow, Adapter) and hownow.vendor == "hownow"
    assert not hownow.capabilities.groups and not hownow.capabilities.enrollments
    hownow.close()


def test_a_valid_person_has_no_problem():
    assert users.problems(person("E-1_a", manager_id="E2", start_date="2024-01-31")) == []


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("external_user_id", "emp 7", "external_user_id: 'emp 7' may contain only letters"),
        ("external_user_id", "", "external_user_id: required by HowNow, but empty"),
        ("name", "x" * 76, "name: 76 characters, HowNow allows at most 75"),
        ("email", "not-an-email", "email: 'not-an-email' is not an email address"),
        ("user_type", "Learner", "user_type: 'Learner' is not one of Admin, Manager"),
        ("start_date", "31/01/2024", "start_date: '31/01/2024' is not a date written YYYY-MM-DD"),
        ("start_date", "2024-02-30", "start_date: '2024-02-30' is not a date"),
        ("manager_id", "ID-99999999999", "manager_id: 'ID-99999999999' is not a HowNow reference"),
        ("manager_id", "E 2", "manager_id: 'EXT-E 2' is not a HowNow reference"),
        ("manager_id", "E1", "manager_id: a person cannot be their own manager"),
        ("avatar_url", "ftp://x/y.png", "avatar_url: 'ftp://x/y.png' is not an http(s) URL"),
        ("job_role", {"code": "x"}, "job_role: unknown key(s) code"),
        ("custom_fields", {"team": ["a"]}, "custom_fields: team must be text"),
        ("custom_fields", "team=a", "custom_fields: must be a mapping of field name to value"),
        ("phone", "+44 1", "phone: not a HowNow user field"),
    ],
)
def test_validation_names_the_field_and_what_is_wrong(field, value, expected):
    fields = person("E1")
    fields[field] = value
    problems = users.problems(fields)
    assert len(problems) == 1 and problems[0].startswith(expected), problems


def test_user_type_is_matched_without_case_and_sent_in_howNows_spelling():
    assert users.problems(person("E1", user_type="readonly")) == []
    assert users.upsert_body(person("E1", user_type="readonly"))["user_type"] == "ReadOnly"


def test_upsert_body_turns_mapping_conveniences_into_the_documented_shape():
    fields = person(
        1042,
        manager_id="E7",
        job_role="Engineer",
        custom_fields={"location": "NYC", "floor": 3},
        start_date=date(2024, 1, 31),
        avatar_url="",
    )
    body = users.upsert_body(fields)
    assert body == {
        "external_user_id": "1042",
        "name": "Person 1042",
        "email": "1042@acme.test",
        "user_type": "ReadOnly",
        "manager_id": "EXT-E7",
        "start_date": "2024-01-31",
        "job_role": {"name": "Engineer"},
        "custom_fields": [
            {"field_name": "location", "value": "NYC"},
            {"field_name": "floor", "value": "3"},
        ],
    }
    role = users.upsert_body(person("E1", job_role={"id": "role_x", "name": ""}))["job_role"]
    assert role == {"id": "EXT-role_x"}
    assert users.upsert_body(person("E1", manager_id="ID-12"))["manager_id"] == "ID-12"
    # Mapped but emptied: HowNow replaces the list, so an empty list is sent to clear it.
    assert users.upsert_body(person("E1", custom_fields={}))["custom_fields"] == []
    assert "custom_fields" not in users.upsert_body(person("E1"))


def test_a_start_date_is_future_until_it_has_begun_everywhere():
    noon = datetime(2025, 6, 10, 12, 0, tzinfo=UTC)
    assert users.not_before(person("E1", start_date="2025-06-10"), noon) is None
    assert users.not_before(person("E1", start_date="2025-06-11"), noon) == date(2025, 6, 11)
    early = datetime(2025, 6, 10, 6, 0, tzinfo=UTC)  # still June 9 at UTC-12
    assert users.not_before(person("E1", start_date="2025-06-10"), early) == date(2025, 6, 10)


# --- ordering --------------------------------------------------------------------------------


def kinds(ops: list[Operation]) -> list[str]:
    return [f"{op.kind.value}:{op.hr_key}" for op in ops]


def test_managers_are_upserted_before_their_reports():
    report = create("R", manager_id="M")
    manager = create("M", manager_id="EXT-TOP")
    top = create("TOP")
    other = create("A")
    arranged = ordering.arrange([other, manager, report, top])
    assert kinds(arranged) == ["create:A", "create:TOP", "create:M", "create:R"]
    # Level by level: every manager's job is under way long before their reports go.
    teams = [
        create("M1"),
        create("R1", manager_id="M1"),
        create("M2"),
        create("R2", manager_id="M2"),
    ]
    assert kinds(ordering.arrange(teams)) == ["create:M1", "create:M2", "create:R1", "create:R2"]


def test_reports_move_before_their_old_manager_leaves():
    leaver = Operation(OpKind.DEACTIVATE, "OLD", remote_id="OLD")
    newcomer = create("NEW")
    move = Operation(
        OpKind.UPDATE, "R", "R", person("R", manager_id="NEW"), changed=("manager_id",)
    )
    arranged = ordering.arrange([leaver, newcomer, move])
    assert kinds(arranged) == ["create:NEW", "update:R", "deactivate:OLD"]
    # Without a move, leavers keep their place at the front (SPEC §4.4).
    unchanged = Operation(OpKind.UPDATE, "R", "R", person("R", name="X"), changed=("name",))
    assert kinds(ordering.arrange([leaver, newcomer, unchanged]))[0] == "deactivate:OLD"


def test_an_upsert_naming_a_leaver_goes_before_the_leaver_and_a_rehire_keeps_its_order():
    leaver = Operation(OpKind.DEACTIVATE, "M", remote_id="M")
    rehire = Operation(OpKind.REACTIVATE, "R", "R", person("R", manager_id="NEWM"))
    rehire_update = Operation(OpKind.UPDATE, "R", "R", person("R", manager_id="NEWM"), ("name",))
    new_manager = create("NEWM")
    still_reporting = Operation(
        OpKind.UPDATE, "S", "S", person("S", manager_id="M"), changed=("name",)
    )
    arranged = ordering.arrange([leaver, rehire, new_manager, rehire_update, still_reporting])
    order = kinds(arranged)
    assert order.index("update:S") < order.index("deactivate:M")
    assert order.index("create:NEWM") < order.index("reactivate:R") < order.index("update:R")


def test_people_managing_each_other_do_not_stop_the_plan():
    a, b = create("A", manager_id="B"), create("B", manager_id="A")
    assert sorted(kinds(ordering.arrange([a, b]))) == ["create:A", "create:B"]


# --- upserts and jobs -------------------------------------------------------------------------


def test_create_is_an_upsert_polled_until_its_job_ends(sandbox, sim, clock):
    hownow = adapter(sandbox, clock)
    op = create(
        "E1",
        user_type="manager",
        manager_id="svc_admin",
        job_role={"id": "role_engineer"},
        start_date="2024-03-01",
        custom_fields={"location": "NYC", "department": "Eng"},
    )
    [outcome] = hownow.execute([op])
    assert outcome.status is OutcomeStatus.PENDING and outcome.job_id
    assert hownow.poll_job(outcome.job_id, [op]) is None  # still running
    [done] = finish(hownow, clock, [outcome])
    assert done.status is OutcomeStatus.DONE and done.remote_id == "E1" and not done.warnings
    made = users_by_ext(sim)["E1"]
    assert made["user_type"] == "Manager" and made["manager"] == "EXT-svc_admin"
    assert made["job_role"] == "Software Engineer" and made["start_date"] == "2024-03-01"
    assert made["custom_fields"] == {"department": "Eng", "location": "NYC"}
    # Custom fields are replaced whole: the update sends the full list, not a delta.
    update = Operation(
        OpKind.UPDATE,
        "E1",
        "E1",
        {**op.fields, "custom_fields": {"location": "LDN"}},
        changed=("custom_fields",),
    )
    finish(hownow, clock, hownow.execute([update]))
    assert users_by_ext(sim)["E1"]["custom_fields"] == {"location": "LDN"}
    hownow.close()


def test_a_job_with_warnings_is_done_with_the_warnings(sandbox, sim, clock):
    hownow = adapter(sandbox, clock)
    sim.set_faults({"job_warn_next": 1})
    [done] = finish(hownow, clock, hownow.execute([create("E1")]))
    assert done.status is OutcomeStatus.DONE
    assert len(done.warnings) == 1 and "completed with warnings" in done.warnings[0]
    assert "Simulated warning" in done.warnings[0]


def test_a_job_with_warnings_that_did_not_apply_a_field_fails_naming_it(sandbox, sim, clock):
    """completed_with_warnings is a partial failure: the user is read back (SPEC §9)."""
    hownow = adapter(sandbox, clock)
    sim.set_faults({"job_warn_next": 1})
    op = create("E1", custom_fields={"location": "NYC", "department": "Eng"})
    [pending] = hownow.execute([op])
    clock.advance(JOB_SECONDS + 0.1)
    sim.jobs.advance()  # HowNow ended the job; as its warning says, not all of it took
    (made,) = [u for u in sim.store.users.values() if u.external_user_id == "E1"]
    made.custom_fields.pop("location")
    made.name = "Someone Else"

    [outcome] = hownow.poll_job(pending.job_id or "", [op])

    assert outcome.status is OutcomeStatus.FAILED
    error = outcome.error or ""
    assert "completed with warnings (Simulated warning" in error
    assert "custom field location (sent 'NYC', HowNow has None)" in error
    assert "name (sent 'Person E1', HowNow has 'Someone Else')" in error
    assert "department" not in error  # applied: not blamed
    hownow.close()


def test_a_failed_job_fails_the_operation_with_the_jobs_errors(sandbox, sim, clock):
    hownow = adapter(sandbox, clock)
    sim.set_faults({"job_fail_next": 1})
    ops = [create("E1"), create("E2", manager_id="nobody")]
    first, second = finish(hownow, clock, hownow.execute(ops))
    assert first.status is OutcomeStatus.FAILED and "failed: Job failed" in (first.error or "")
    assert second.status is OutcomeStatus.FAILED
    assert "Manager not found with manager_id: EXT-nobody" in (second.error or "")
    assert set(users_by_ext(sim)) == {"svc_admin"}


def test_an_unknown_job_sends_the_operation_again(sandbox):
    hownow = adapter(sandbox)
    [outcome] = hownow.poll_job("job_gone", [create("E1")]) or []
    assert outcome.status is OutcomeStatus.RETRY and "no longer knows job job_gone" in (
        outcome.error or ""
    )


def test_emptying_a_field_howNow_cannot_clear_is_reported_as_a_warning(sandbox, clock):
    hownow = adapter(sandbox, clock)
    finish(hownow, clock, hownow.execute([create("E1", manager_id="svc_admin")]))
    update = Operation(
        OpKind.UPDATE, "E1", "E1", person("E1", manager_id=""), changed=("manager_id",)
    )
    [done] = finish(hownow, clock, hownow.execute([update]))
    assert done.status is OutcomeStatus.DONE
    assert done.warnings == [
        "manager_id: emptied in HR, but HowNow keeps its previous value "
        "(its upsert documents no way to clear it)"
    ]


def test_a_future_start_date_holds_the_person_back_without_a_call(sandbox, sim, clock):
    today = datetime(2025, 6, 10, 15, 0, tzinfo=UTC)
    moment = {"now": today}
    hownow = adapter(sandbox, clock, clock=lambda: moment["now"])
    op = create("E1", start_date="2025-06-20")
    before = sim.count()
    [held] = hownow.execute([op])
    assert held.status is OutcomeStatus.RETRY
    assert held.error == (
        "start_date 2025-06-20 is in the future and HowNow refuses future start dates: "
        "this create waits in the outbox until that day"
    )
    assert sim.count() == before  # no call spent
    moment["now"] = today + timedelta(days=10)
    [sent] = hownow.execute([op])
    assert sent.status is OutcomeStatus.PENDING


def test_a_changed_external_user_id_fails_instead_of_creating_a_second_account(sandbox, sim):
    hownow = adapter(sandbox)
    before = sim.count()
    op = Operation(OpKind.UPDATE, "H1", "old_id", person("new_id"), ("external_user_id",))
    [outcome] = hownow.execute([op])
    assert outcome.status is OutcomeStatus.FAILED
    assert "changed from 'old_id' to 'new_id'" in (outcome.error or "")
    assert sim.count() == before


def test_a_report_is_submitted_only_once_their_managers_job_has_ended(sandbox, sim, clock):
    hownow = adapter(sandbox, clock)
    [manager] = hownow.execute([create("M")])
    start = len(sim.requests())
    [report] = hownow.execute([create("R", manager_id="M")])
    log = sim.requests(start)
    endpoints = [entry["endpoint"] for entry in log]
    assert endpoints[-1] == UPSERT and JOB_STATUS in endpoints[:-1]
    assert report.status is OutcomeStatus.PENDING
    polls = sim.count(JOB_STATUS)
    [done] = hownow.poll_job(manager.job_id or "", [manager.op]) or []
    assert done.status is OutcomeStatus.DONE
    assert sim.count(JOB_STATUS) == polls  # the ended job was remembered, not polled again
    [report_done] = finish(hownow, clock, [report])
    assert report_done.status is OutcomeStatus.DONE
    assert users_by_ext(sim)["R"]["manager"] == "EXT-M"


# --- leavers and rehires ----------------------------------------------------------------------


AUTHOR = {
    "users": [
        {
            "external_user_id": "author",
            "name": "Author",
            "email": "author@acme.test",
            "user_type": "Contributor",
            "manager": "EXT-svc_admin",
        },
        {
            "external_user_id": "reader",
            "name": "Reader",
            "email": "reader@acme.test",
            "user_type": "ReadOnly",
        },
    ],
    "contents": [{"external_id": "guide", "title": "Guide", "author": "EXT-author"}],
}


def test_a_leavers_content_goes_to_the_configured_heir(sandbox, sim):
    sim.seed(AUTHOR)
    hownow = adapter(sandbox)
    leave = Operation(OpKind.DEACTIVATE, "author", remote_id="author")
    [done] = hownow.execute([leave])
    assert done.status is OutcomeStatus.DONE and not done.warnings
    dump = sim.dump()
    [guide] = [c for c in dump["contents"] if c["external_id"] == "guide"]
    assert guide["author"] == "EXT-svc_admin"
    author = users_by_ext(sim)["author"]
    assert author["status"] == "Deactivated" and author["manager"] is None
    # Sent again (an answer lost before it was recorded): already deactivated is done.
    [again] = hownow.execute([leave])
    assert again.status is OutcomeStatus.DONE and not again.warnings


def test_an_heir_who_cannot_inherit_fails_naming_the_setting(sandbox, sim):
    sim.seed(AUTHOR)
    hownow = adapter(sandbox, target={"deactivate_assign_to": "EXT-reader"})
    [failed] = hownow.execute([Operation(OpKind.DEACTIVATE, "author", remote_id="author")])
    assert failed.status is OutcomeStatus.FAILED
    assert "Assigned User cannot be a 'Read Only' user" in (failed.error or "")
    assert "EXT-reader (target.deactivate_assign_to)" in (failed.error or "")
    assert users_by_ext(sim)["author"]["status"] != "Deactivated"


def test_deactivating_someone_howNow_does_not_have_is_done_with_a_warning(sandbox):
    [done] = adapter(sandbox).execute([Operation(OpKind.DEACTIVATE, "ghost", remote_id="ghost")])
    assert done.status is OutcomeStatus.DONE
    assert done.warnings == ["HowNow has no user EXT-ghost: there was nothing to deactivate"]


def test_a_rehire_is_reactivated_then_upserted_with_the_manager_back(sandbox, sim, clock):
    sim.seed(AUTHOR)
    hownow = adapter(sandbox, clock)
    hownow.execute([Operation(OpKind.DEACTIVATE, "author", remote_id="author")])
    fields = person("author", user_type="Contributor", manager_id="svc_admin", name="Author")
    rehire = Operation(OpKind.REACTIVATE, "author", "author", fields)
    [pending] = hownow.execute([rehire])
    assert pending.status is OutcomeStatus.PENDING
    [done] = finish(hownow, clock, [pending])
    assert done.status is OutcomeStatus.DONE
    author = users_by_ext(sim)["author"]
    assert author["status"] != "Deactivated" and author["manager"] == "EXT-svc_admin"
    # Reactivating someone already active is not an error: the upsert still goes.
    [again] = finish(hownow, clock, hownow.execute([rehire]))
    assert again.status is OutcomeStatus.DONE


def test_a_rehire_howNow_no_longer_has_is_created_again(sandbox, sim, clock):
    hownow = adapter(sandbox, clock)
    rehire = Operation(OpKind.REACTIVATE, "gone", "gone", person("gone"))
    [done] = finish(hownow, clock, hownow.execute([rehire]))
    assert done.status is OutcomeStatus.DONE
    assert users_by_ext(sim)["gone"]["status"] == "Invited"


def test_a_rehire_refused_by_howNow_fails_with_its_reason(sandbox, sim):
    sim.seed({**AUTHOR, "seat_limit": 2})
    hownow = adapter(sandbox)
    hownow.execute([Operation(OpKind.DEACTIVATE, "author", remote_id="author")])
    sim.seed({"users": [{"external_user_id": "x", "name": "X", "email": "x@acme.test"}]})
    [failed] = hownow.execute([Operation(OpKind.REACTIVATE, "author", "author", {})])
    assert failed.status is OutcomeStatus.FAILED
    assert failed.error == (
        "HowNow refused to reactivate EXT-author (HTTP 422: Seat limit reached); "
        "read back, the user is still deactivated"
    )


def test_delete_hands_content_over_and_a_missing_user_is_already_deleted(sandbox, sim):
    sim.seed(AUTHOR)
    hownow = adapter(sandbox)
    [done] = hownow.execute([Operation(OpKind.DELETE, "author", remote_id="author")])
    assert done.status is OutcomeStatus.DONE and "author" not in users_by_ext(sim)
    [guide] = [c for c in sim.dump()["contents"] if c["external_id"] == "guide"]
    assert guide["author"] == "EXT-svc_admin"
    [again] = hownow.execute([Operation(OpKind.DELETE, "author", remote_id="author")])
    assert again.status is OutcomeStatus.DONE


# --- matching ----------------------------------------------------------------------------------


def test_match_existing_finds_people_by_external_id(sandbox, sim):
    sim.seed(AUTHOR)
    hownow = adapter(sandbox)
    hownow.execute([Operation(OpKind.DEACTIVATE, "reader", remote_id="reader")])
    wanted = [DesiredUser(k, person(k)) for k in ("author", "reader", "nobody")]
    found = hownow.match_existing(wanted, None)
    assert {k: (a.remote_id, a.active) for k, a in found.items()} == {
        "author": ("author", True),
        "reader": ("reader", False),
    }


def test_many_people_are_matched_from_the_listing_not_one_by_one(sandbox, sim):
    sim.seed(
        {
            "users": [
                {"external_user_id": f"p{i}", "name": f"P{i}", "email": f"p{i}@acme.test"}
                for i in range(30)
            ]
        }
    )
    hownow = adapter(sandbox)
    hownow.api.list_users(1)  # the token, fetched outside what is counted
    calls = hownow.api_calls
    wanted = [DesiredUser(f"H{i}", person(f"p{i}")) for i in range(25)]
    wanted.append(DesiredUser("H-new", person("newcomer")))
    found = hownow.match_existing(wanted, "email")
    assert hownow.api_calls - calls == 1  # one page of 100 users
    assert set(found) == {f"H{i}" for i in range(25)}
    assert found["H3"].remote_id == "p3"


# --- tokens and limits --------------------------------------------------------------------------


def test_a_token_expiring_mid_run_is_renewed_and_nothing_fails(sandbox, sim, clock):
    hownow = adapter(sandbox, clock)
    [pending] = hownow.execute([create("E1")])
    sim.expire_tokens()
    [done] = finish(hownow, clock, [pending])
    assert done.status is OutcomeStatus.DONE
    assert sim.count("POST /token", 200) == 2
    assert sim.count(JOB_STATUS, 401) == 1 and sim.count(JOB_STATUS, 200) == 1


def test_a_429_pauses_and_the_call_goes_through(sandbox, sim, clock):
    hownow = adapter(sandbox, clock)
    hownow.api.list_users(1)
    sim.set_faults({"storm_requests": 2, "storm_retry_after": 1})
    [pending] = hownow.execute([create("E1")])
    assert pending.status is OutcomeStatus.PENDING
    assert sim.count(UPSERT, 429) == 2 and sim.count(UPSERT, 201) == 1


def test_calls_stay_under_howNows_limit_without_a_single_429(start_fresh_sandbox):
    # HowNow's 50 a minute, with the minute scaled to one second on both sides.
    sandbox = start_fresh_sandbox(hownow={"per_minute": 50, "minute_window": 1.0})
    hownow = adapter(
        sandbox,
        target={
            "rate_limit": {
                "per_minute": None,
                "per_hour": None,
                "burst": 50,
                "burst_window": "1s",
                "margin": 1.0,
            }
        },
    )
    for _ in range(120):
        hownow.api.list_users(1)
    sim = sandbox.sim("hownow")
    assert sim.count(status=429) == 0 and sim.count("GET /external/v1/users", 200) == 120


@pytest.fixture
def start_fresh_sandbox() -> Iterator[Any]:
    started: list[Sandbox] = []

    def start(**options: Any) -> Sandbox:
        sandbox = Sandbox(vendors=["hownow"], job_duration=0.05, **options).start()
        started.append(sandbox)
        TOKENS.clear()
        return sandbox

    yield start
    for sandbox in started:
        sandbox.stop()


# --- pull ----------------------------------------------------------------------------------------


def test_pull_reads_progress_and_completions_with_the_hr_key(sandbox, sim):
    sim.seed(
        {
            "users": [
                {"external_user_id": "E1", "name": "A", "email": "a@acme.test"},
                {"external_user_id": "E2", "name": "B", "email": "b@acme.test"},
            ],
            "assignments": [
                {"user": "EXT-E1", "content": "course_1", "progress": 40},
                {
                    "user": "EXT-E1",
                    "content": "course_2",
                    "progress": 100,
                    "completed_at": "2025-03-04T10:00:00.000Z",
                },
                {"user": "EXT-E2", "content": "course_1", "progress": 0},
            ],
        }
    )
    hownow = adapter(sandbox)
    pages = list(hownow.pull(None))
    results = {
        (r.lms_user_id, r.course_id): identify(r, "hownow", {"E1": "H1"})
        for p in pages
        for r in p.results
    }
    started = results["E1", "course_184341"]
    assert (started.hr_key, started.status, started.progress) == (
        "H1",
        ResultStatus.IN_PROGRESS,
        40.0,
    )
    assert started.course_name == "Information Security Basics"
    done = results["E1", "course_184342"]
    assert done.status is ResultStatus.COMPLETED
    assert done.completed_at == datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
    # Not linked: the external_user_id is the HR key.
    assert results["E2", "course_184341"].hr_key == "E2"
    assert results["E2", "course_184341"].status is ResultStatus.NOT_STARTED
    assert pages[-1].cursor["scans"] == 1


def test_pull_budget_is_a_share_of_the_per_minute_window(sandbox):
    assert adapter(sandbox, target={"rate_limit": {}}).pull_budget() == 25  # 0.5 x 50
    assert adapter(sandbox, target={"rate_limit": {}}, budget_share=0.2).pull_budget() == 10


@pytest.fixture
def paged(start_fresh_sandbox) -> Sandbox:
    """Two users per page and two contents per page, so a scan spans many calls."""
    sandbox = start_fresh_sandbox(hownow={**ROOMY, "max_per_page": 2})
    sandbox.sim("hownow").seed(
        {
            "users": [
                {"external_user_id": f"E{i}", "name": f"P{i}", "email": f"p{i}@acme.test"}
                for i in range(1, 6)
            ],
            "assignments": [
                {"user": f"EXT-E{i}", "content": "course_1", "progress": 10 * i}
                for i in range(1, 6)
            ]
            + [{"user": "EXT-E3", "content": c, "progress": 50} for c in ("course_2", "course_3")],
        }
    )
    return sandbox


def scan_cycles(hownow: HowNowAdapter, sim, cursor=None, limit: int = 20):
    """Pull cycles until a full scan completes: (results per cycle, GETs per cycle, cursor)."""
    cycles = []
    for _ in range(limit):
        gets_before = sim.count("GET /external/v1/users") + sim.count(
            "GET /external/v1/users/{uid}/assigned_contents"
        )
        pages = list(hownow.pull(cursor))
        cursor = pages[-1].cursor
        gets = (
            sim.count("GET /external/v1/users")
            + sim.count("GET /external/v1/users/{uid}/assigned_contents")
            - gets_before
        )
        cycles.append(([r for p in pages for r in p.results], gets))
        if cursor["scans"]:
            return cycles, cursor
    raise AssertionError("the scan never completed")


def test_a_short_budget_spreads_the_scan_over_cycles_without_losing_anyone(paged):
    sim = paged.sim("hownow")
    hownow = adapter(paged, target={"rate_limit": {"burst": 10, "burst_window": "1s"}})
    assert hownow.pull_budget() == 5  # 0.5 x 10
    hownow.api.list_users(1)  # the token, outside the counted calls
    cycles, cursor = scan_cycles(hownow, sim)
    assert len(cycles) > 2 and all(gets <= 5 for _, gets in cycles)
    seen = [(r.lms_user_id, r.course_id) for results, _ in cycles for r in results]
    expected = {(f"E{i}", "course_184341") for i in range(1, 6)} | {
        ("E3", "course_184342"),
        ("E3", "course_184343"),
    }
    assert set(seen) == expected and len(seen) == len(expected)
    assert cursor == {
        "page": 1,
        "offset": 0,
        "after": None,
        "user": None,
        "content_page": 1,
        "scans": 1,
    }


def test_the_scan_finds_its_place_again_when_users_leave_between_cycles(paged):
    sim = paged.sim("hownow")
    hownow = adapter(paged, target={"rate_limit": {"burst": 8, "burst_window": "1s"}})
    hownow.api.list_users(1)
    first = list(hownow.pull(None))  # a budget of 4 calls
    read = {r.lms_user_id for p in first for r in p.results}
    cursor = first[-1].cursor
    assert cursor["scans"] == 0 and read == {"E1"}  # svc_admin (no results) and E1
    # E1 and E2 leave: E3 moves up to the page already read; it must not be skipped.
    for ext in ("E1", "E2"):
        hownow.execute([Operation(OpKind.DEACTIVATE, ext, remote_id=ext)])
    cycles, _ = scan_cycles(hownow, sim, cursor)
    rest = {r.lms_user_id for results, _ in cycles for r in results}
    assert {"E3", "E4", "E5"} <= rest


# --- the hownow sink -----------------------------------------------------------------------------


def result(hr_key: str | None, course: str = "course_1", **values: Any) -> LearningResult:
    base: dict[str, Any] = {
        "status": ResultStatus.IN_PROGRESS,
        "progress": 30.0,
        "started_at": datetime(2025, 2, 1, 9, 0, tzinfo=UTC),
    }
    base.update(values)
    return LearningResult(
        vendor="talentlms", lms_user_id=f"t-{hr_key}", course_id=course, hr_key=hr_key, **base
    )


def sink(sandbox: Sandbox):
    config = HowNowSinkConfig(type="hownow", base_url=sandbox.base_url("hownow"), **CLIENT)
    return open_hownow_sink(
        "hownow_records", config, wait=JobWait(first_delay=0.05, max_delay=0.1, timeout=10)
    )


def test_engagement_body_follows_the_documented_fields():
    finished = result(
        "E1",
        status=ResultStatus.PASSED,
        progress=None,
        completed_at=datetime(2025, 2, 3, 23, 30, tzinfo=UTC),
        raw={"time_spent": 600},
    )
    body, problem = engagement_body(finished, date(2025, 3, 1))
    assert problem is None and body == {
        "external_user_id": "E1",
        "external_content_id": "course_1",
        "provider": "TalentLMS",
        "completion_percentage": 100,
        "enrollment_date": "2025-02-01",
        "completion_date": "2025-02-03",
        "time_spent": 600,
    }
    started, _ = engagement_body(result("E1", started_at=None), date(2025, 3, 1))
    assert started["completion_date"] is None and started["enrollment_date"] == "2025-03-01"
    assert started["completion_percentage"] == 30


def test_the_sink_writes_learning_records_into_howNow(start_fresh_sandbox):
    sandbox = start_fresh_sandbox(hownow=ROOMY)
    sim = sandbox.sim("hownow")
    sim.seed({"users": [{"external_user_id": "E1", "name": "A", "email": "a@acme.test"}]})
    with sink(sandbox) as records:
        records.write(
            [
                result("E1"),
                result(
                    "E1",
                    "course_2",
                    status=ResultStatus.COMPLETED,
                    completed_at=datetime(2025, 2, 9, tzinfo=UTC),
                ),
            ]
        )
    stored = {r["external_content_id"]: r for r in sim.dump()["learning_records"]}
    assert stored["course_1"]["completion_percentage"] == 30
    assert stored["course_1"]["completion_date"] is None
    assert stored["course_2"]["completion_date"] == "2025-02-09"
    assert stored["course_2"]["provider"] == "TalentLMS"


def test_a_failed_learning_record_job_refuses_the_batch_naming_the_record(start_fresh_sandbox):
    sandbox = start_fresh_sandbox(hownow=ROOMY)
    sandbox.sim("hownow").seed(
        {"users": [{"external_user_id": "E1", "name": "A", "email": "a@acme.test"}]}
    )
    with sink(sandbox) as records, pytest.raises(SinkError) as refused:
        records.write([result("E1"), result("E1", "no_such_course")])
    message = str(refused.value)
    assert "1 of 2 learning records failed in HowNow" in message
    assert "E1 in course no_such_course" in message
    assert "Content not found with external_content_id: no_such_course" in message


def test_a_result_that_cannot_be_a_record_is_refused_before_any_call(start_fresh_sandbox):
    sandbox = start_fresh_sandbox(hownow=ROOMY)
    with sink(sandbox) as records, pytest.raises(SinkError) as refused:
        records.write([result(None), result("has space")])
    assert "2 result(s) cannot be written to HowNow" in str(refused.value)
    assert sandbox.sim("hownow").count() == 0


def test_a_sink_url_must_be_https_or_loopback():
    config = HowNowSinkConfig(type="hownow", base_url="http://hownow.example", **CLIENT)
    with pytest.raises(SinkError, match="only https:// URLs are accepted"):
        open_hownow_sink("records", config)

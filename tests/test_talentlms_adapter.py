"""The TalentLMS adapter against the sandbox over loopback HTTP, operation by operation.

What is asserted is what the portal ends with, what each outcome says, and how
many calls each thing cost (counted by the simulator, which sees every request).
Quirks the sandbox does not serve (learning paths, a portal refusing the string
status) are played by a scripted loopback server.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog
from support_http import LoopbackServer, Received, Reply

from syncd.config.schema.targets import TalentLMSTarget
from syncd.engine.pull.identify import identify
from syncd.http import RetryPolicy
from syncd.model import DesiredUser, Operation, OpKind, OutcomeStatus, ResultStatus
from syncd.sandbox import ManualClock, Sandbox
from syncd.vendors.talentlms import TalentLMSAdapter
from syncd.vendors.talentlms.compare import differences
from syncd.vendors.talentlms.pull import certificate_fields, result_status
from syncd.vendors.talentlms.tasks import parse_report
from tests.support.adapters import build as build_adapter
from tests.support.e2e import calls

API_KEY = "sandbox-talentlms-key"
FAST = RetryPolicy(attempts=3, backoff_initial=0.01, backoff_max=0.02)


def make_adapter(base_url: str, *, match: str | None = None, **options: Any) -> TalentLMSAdapter:
    target = TalentLMSTarget.model_validate(
        {
            "type": "talentlms",
            "base_url": base_url,
            "api_key": API_KEY,
            "rate_limit": {"per_hour": 1_000_000, "burst": 100_000, "burst_window": "5s"},
        }
    )
    return build_adapter(TalentLMSAdapter, target, "test", match=match, retry=FAST, **options)


@pytest.fixture(scope="module")
def live():
    """A sandbox on the real clock whose tasks take 30 ms."""
    with Sandbox(
        vendors=["talentlms"],
        job_duration=0.03,
        talentlms={"hourly_limit": 1_000_000, "burst_limit": 100_000},
    ) as sandbox:
        yield sandbox


@pytest.fixture
def portal(live):
    sim = live.sim("talentlms")
    sim.reset()
    return sim


@pytest.fixture
def adapter(live, portal):
    made = make_adapter(live.base_url("talentlms"))
    yield made
    made.close()


@contextmanager
def hand_clocked() -> Iterator[tuple[ManualClock, Any, TalentLMSAdapter]]:
    """A sandbox on a hand-driven clock whose tasks take 10 s, and an adapter for it."""
    clock = ManualClock(start=1_780_000_000.0)
    limits = {"hourly_limit": 1_000_000, "burst_limit": 100_000}
    with Sandbox(
        vendors=["talentlms"], clock=clock, job_duration=10.0, talentlms=limits
    ) as sandbox:
        adapter = make_adapter(sandbox.base_url("talentlms"))
        yield clock, sandbox.sim("talentlms"), adapter


def new_hire(i: int, **fields: Any) -> Operation:
    return Operation(
        OpKind.CREATE,
        f"E{i}",
        None,
        {
            "login": f"hire{i}",
            "name": "New",
            "surname": f"Hire{i}",
            "email": f"hire{i}@acme.test",
            **fields,
        },
    )


def finish(adapter: TalentLMSAdapter, job_id: str, ops: list[Operation]):
    """Poll like the engine does (with a pause) until the task has finished."""
    for _ in range(200):
        outcomes = adapter.poll_job(job_id, ops)
        if outcomes is not None:
            return outcomes
        time.sleep(0.02)
    raise AssertionError(f"task {job_id} never finished")


def create_all(adapter: TalentLMSAdapter, ops: list[Operation]):
    outcomes = adapter.execute(ops)
    jobs = {o.job_id for o in outcomes if o.status is OutcomeStatus.PENDING}
    for job_id in jobs:
        mine = [o.op for o in outcomes if o.job_id == job_id]
        done = {id(o.op): o for o in finish(adapter, job_id, mine)}
        outcomes = [done.get(id(o.op), o) for o in outcomes]
    for outcome in outcomes:
        outcome.op.remote_id = outcome.remote_id
    return outcomes


def users_by_login(portal) -> dict[str, dict]:
    return {u["login"]: u for u in portal.dump()["users"]}


def seed_people(portal, count: int, start: int = 100) -> None:
    portal.seed(
        {
            "users": [
                {
                    "id": start + i,
                    "login": f"old{i}",
                    "name": "Old",
                    "surname": f"Timer{i}",
                    "email": f"old{i}@acme.test",
                }
                for i in range(count)
            ]
        }
    )


# --- validation --------------------------------------------------------------------------------


def desired(key: str = "E1", **fields: Any) -> DesiredUser:
    base = {"login": "jdoe", "name": "Jane", "surname": "Doe", "email": "jane@acme.test"}
    return DesiredUser(key, {**base, **fields})


def test_a_valid_user_passes(adapter, portal):
    assert adapter.validate(desired(custom_field_1="E-1", timezone="Europe/Athens")) == []


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"login": ""}, "login is required by TalentLMS but rendered empty"),
        ({"email": "jane.acme.test"}, "email 'jane.acme.test' is not a valid email address"),
        ({"name": "x" * 192}, "name is 192 characters long; TalentLMS allows at most 191"),
        ({"status": "active"}, "users.fields.status cannot be mapped"),
        ({"deactivation_date": "31/12/2026"}, "TalentLMS expects a date as YYYY-MM-DD"),
        (
            {"user_type_id": "learner"},
            "user_type_id is 'learner'; TalentLMS expects a user type id",
        ),
        ({"email_notifications": "maybe"}, "TalentLMS expects true or false"),
        ({"timezone": "Mars/Olympus"}, "timezone 'Mars/Olympus' is not an IANA time zone"),
        ({"department": "Sales"}, "users.fields.department is not a TalentLMS user field"),
        ({"custom_field_7": "x"}, "custom_field_7 is not a custom user field of this portal"),
    ],
)
def test_invalid_fields_are_named_with_the_problem(adapter, portal, fields, reason):
    reasons = adapter.validate(desired(**fields))
    assert any(reason in r for r in reasons), reasons


def test_a_missing_required_field_says_which(adapter, portal):
    user = DesiredUser("E1", {"login": "j", "name": "J", "email": "j@acme.test"})
    assert adapter.validate(user) == ["surname is required by TalentLMS; add users.fields.surname"]


def test_dropdown_custom_fields_accept_only_their_values(adapter, portal):
    portal.seed(
        {
            "user_fields": [
                {
                    "key": "custom_field_2",
                    "name": "Colour",
                    "type": "dropdown",
                    "dropdown_values": [{"item": "Blue", "default": False}, {"item": "Red"}],
                }
            ]
        }
    )
    assert adapter.validate(desired(custom_field_2="Blue")) == []
    [reason] = adapter.validate(
        desired("E2", login="x", email="x@acme.test", custom_field_2="Pink")
    )
    assert reason == "custom_field_2 (Colour) is 'Pink'; TalentLMS allows only: Blue, Red"


def test_duplicate_emails_in_one_plan_are_refused_before_sending(adapter, portal):
    assert adapter.validate(desired("E1")) == []
    [reason] = adapter.validate(desired("E2", login="other", email="JANE@acme.test"))
    assert reason == (
        "email 'JANE@acme.test' is also the email of HR record E1; "
        "TalentLMS requires every email to be unique"
    )
    assert adapter.validate(desired("E1")) == []  # the same person again is no duplicate
    adapter.begin_validation()  # the next plan's validations are a new pass
    assert adapter.validate(desired("E2", login="other")) == []


# --- matching ----------------------------------------------------------------------------------


def test_matching_one_person_is_one_filtered_lookup(adapter, portal):
    seed_people(portal, 3)
    found = adapter.match_existing([DesiredUser("H1", {"email": "OLD1@acme.test"})], None)
    assert found["H1"].remote_id == "101" and found["H1"].active is True
    assert portal.requests()[-1]["query"].startswith("filter[email][eq]=OLD1@acme.test")
    assert adapter.api_calls == 1


def test_matching_many_in_a_large_portal_reads_the_listing_once(adapter, portal):
    seed_people(portal, 450)
    people = [DesiredUser(f"H{i}", {"email": f"old{i}@acme.test"}) for i in range(0, 450, 30)]
    people.append(DesiredUser("NEW", {"email": "nobody@acme.test"}))
    found = adapter.match_existing(people, "email")
    assert len(found) == 15 and "NEW" not in found
    assert found["H30"].remote_id == "130"
    assert portal.count("GET /api/v2/users") == 5  # 451 accounts, 100 a page


def test_matching_a_few_in_a_large_portal_looks_each_up(adapter, portal):
    seed_people(portal, 950)
    people = [DesiredUser(f"H{i}", {"login": f"old{i}"}) for i in (5, 600)]
    found = adapter.match_existing(people, "login")
    assert {k: a.remote_id for k, a in found.items()} == {"H5": "105", "H600": "700"}
    # Page 1 (which holds old5), then one lookup for the one it does not hold.
    assert portal.count("GET /api/v2/users") == 2


def test_an_inactive_account_is_matched_as_inactive(adapter, portal):
    portal.seed(
        {
            "users": [
                {
                    "id": 9,
                    "login": "gone",
                    "name": "G",
                    "surname": "One",
                    "email": "gone@acme.test",
                    "status": "inactive",
                }
            ]
        }
    )
    found = adapter.match_existing([DesiredUser("H", {"email": "gone@acme.test"})], None)
    assert found["H"].active is False


def test_matching_on_another_field_is_refused_at_start(live):
    with pytest.raises(ValueError, match="email or login only"):
        make_adapter(live.base_url("talentlms"), match="custom_field_1")


# --- creates -----------------------------------------------------------------------------------


def test_one_new_hire_is_created_at_once_with_a_generated_password(adapter, portal):
    [outcome] = adapter.execute([new_hire(1)])
    assert outcome.status is OutcomeStatus.DONE
    account = users_by_login(portal)["hire1"]
    assert outcome.remote_id == str(account["id"]) and account["has_password"]
    assert portal.count("POST /api/v2/users") == 1 and adapter.api_calls == 1


def test_generated_passwords_are_strong_and_never_logged(tmp_path):
    bodies: list[dict] = []

    def handle(request: Received) -> Reply:
        bodies.append(request.json())
        return Reply(200, {"_data": {"id": 31 + len(bodies)}})

    with LoopbackServer(handle) as server, structlog.testing.capture_logs() as events:
        adapter = make_adapter(server.url)
        adapter.execute([new_hire(1)])
        adapter.execute([new_hire(2, password="Chosen-by-HR-1")])
        adapter.close()
    generated, chosen = bodies[0]["password"], bodies[1]["password"]
    assert chosen == "Chosen-by-HR-1"
    assert len(generated) == 20 and generated != chosen
    assert any(c.isupper() for c in generated) and any(c.isdigit() for c in generated)
    assert generated not in repr(events) and chosen not in repr(events)


def test_several_hires_go_in_one_batch_and_their_ids_are_learned_cheaply(adapter, portal):
    seed_people(portal, 250)
    ops = [new_hire(i, custom_field_1=f"E-{i}") for i in range(100)]
    # As the engine does: look for existing accounts first (page 1, then one lookup each).
    hires = [DesiredUser(op.hr_key, op.fields) for op in ops]
    assert adapter.match_existing(hires, "email") == {}
    listed = portal.count("GET /api/v2/users")
    outcomes = adapter.execute(ops)
    assert {o.status for o in outcomes} == {OutcomeStatus.PENDING}
    assert len({o.job_id for o in outcomes}) == 1
    done = finish(adapter, outcomes[0].job_id, ops)
    assert all(o.status is OutcomeStatus.DONE for o in done)
    accounts = users_by_login(portal)
    assert [o.remote_id for o in done] == [str(accounts[f"hire{i}"]["id"]) for i in range(100)]
    assert accounts["hire7"]["custom_fields"] == {"custom_field_1": "E-7"}
    assert accounts["hire7"]["has_password"]
    assert portal.count("POST /api/v2/batch/users") == 1
    # The new accounts sit on the last two pages: two reads, not one per person.
    assert portal.count("GET /api/v2/users") - listed == 2


def test_two_tasks_finishing_together_share_the_pages_read(adapter, portal):
    first = [new_hire(i) for i in range(60)]
    second = [new_hire(i) for i in range(60, 120)]
    out_first, out_second = adapter.execute(first), adapter.execute(second)
    time.sleep(0.1)
    assert all(o.status is OutcomeStatus.DONE for o in finish(adapter, out_first[0].job_id, first))
    listed = portal.count("GET /api/v2/users")
    done = finish(adapter, out_second[0].job_id, second)
    assert all(o.status is OutcomeStatus.DONE for o in done)
    assert portal.count("GET /api/v2/users") == listed  # already read with the first task


def test_a_task_is_polled_once_per_poll_until_it_finishes():
    with hand_clocked() as (clock, sim, adapter):
        ops = [new_hire(1), new_hire(2)]
        [pending, _] = adapter.execute(ops)
        assert adapter.poll_job(pending.job_id, ops) is None
        clock.advance(5)
        assert adapter.poll_job(pending.job_id, ops) is None
        assert sim.count("GET /api/v2/tasks/{id}") == 2 and sim.count("GET /api/v2/users") == 0
        clock.advance(5)
        done = adapter.poll_job(pending.job_id, ops)
        assert done is not None and {o.status for o in done} == {OutcomeStatus.DONE}
        assert sim.count("GET /api/v2/tasks/{id}") == 3
        adapter.close()


def test_tasks_whose_accounts_a_listing_showed_are_not_polled(adapter, portal):
    batches = [[new_hire(i) for i in range(k * 100, k * 100 + 100)] for k in range(3)]
    pending = [adapter.execute(ops)[0].job_id for ops in batches]
    time.sleep(0.1)  # every task (30 ms) has finished
    outcomes = [finish(adapter, job_id, ops) for job_id, ops in zip(pending, batches, strict=True)]
    accounts = users_by_login(portal)
    for ops, done in zip(batches, outcomes, strict=True):
        assert [o.remote_id for o in done] == [
            str(accounts[op.fields["login"]]["id"]) for op in ops
        ]
    # The first task's poll read the listing back to its accounts, past the others':
    # one poll in all, and each of the four pages (301 accounts) read once.
    assert portal.count("GET /api/v2/tasks/{id}") == 1
    assert portal.count("GET /api/v2/users") == 4


def test_a_task_behind_a_running_one_waits_for_it_to_finish():
    with hand_clocked() as (clock, sim, adapter):
        ops = [[new_hire(1), new_hire(2)], [new_hire(3), new_hire(4)]]
        jobs = [adapter.execute(batch)[0].job_id for batch in ops]
        # A round: the first task still runs, so the one submitted after it is not asked.
        assert [adapter.poll_job(job, batch) for job, batch in zip(jobs, ops, strict=True)] == [
            None,
            None,
        ]
        assert sim.count("GET /api/v2/tasks/{id}") == 1
        clock.advance(10)
        done = [adapter.poll_job(job, batch) for job, batch in zip(jobs, ops, strict=True)]
        assert all(d is not None and {o.status for o in d} == {OutcomeStatus.DONE} for d in done)
        assert sim.count("GET /api/v2/tasks/{id}") == 2  # the second's accounts were listed
        adapter.close()


def test_a_task_settled_by_the_listing_no_longer_holds_the_next_one_back():
    with hand_clocked() as (clock, sim, adapter):
        ops = [[new_hire(1), new_hire(2)], [new_hire(3), new_hire(4)]]
        jobs = [adapter.execute(batch)[0].job_id for batch in ops]
        assert adapter.poll_job(jobs[0], ops[0]) is None  # still running
        clock.advance(10)
        for op in ops[0]:  # the first task's accounts show up in reads made for other reasons
            adapter.directory.lookup("email", op.fields["email"])
        first = adapter.poll_job(jobs[0], ops[0])
        assert first is not None and {o.status for o in first} == {OutcomeStatus.DONE}
        assert sim.count("GET /api/v2/tasks/{id}") == 1
        second = adapter.poll_job(jobs[1], ops[1])
        assert second is not None and {o.status for o in second} == {OutcomeStatus.DONE}
        assert sim.count("GET /api/v2/tasks/{id}") == 2
        adapter.close()


def test_batch_items_the_vendor_refuses_fail_with_its_reason(adapter, portal):
    seed_people(portal, 1)
    ops = [new_hire(1), new_hire(2, login="old0"), new_hire(3, custom_field_9="x")]
    outcomes = adapter.execute(ops)
    done = finish(adapter, outcomes[0].job_id, ops)
    assert [o.status for o in done] == [
        OutcomeStatus.DONE,
        OutcomeStatus.FAILED,
        OutcomeStatus.FAILED,
    ]
    # No per-item result exists: the read-back says what was not applied, and what it
    # can see of why (another account holds the login).
    task = outcomes[0].job_id
    assert done[1].error == (
        f"TalentLMS did not apply it (batch task {task}): no account was created (login, "
        "name, surname, email not applied). Login already exists: account 100 (email "
        "'old0@acme.test') has it"
    )
    assert done[2].error == (
        f"TalentLMS did not apply it (batch task {task}): no account was created (login, "
        "name, surname, email, custom_field_9 not applied)"
    )
    assert set(users_by_login(portal)) == {"admin", "old0", "hire1"}


def test_a_refused_create_names_the_account_holding_its_login_now(adapter, portal):
    """The login's holder named in the error is the one TalentLMS has when the task ran, not
    one the adapter remembers from an older listing: in a portal of five pages the holder's
    page is not among those read back, and the account remembered with that login has given
    it up since."""
    seed_people(portal, 450)
    adapter.directory.read_all()  # remembers account 100 with login old0
    portal.store.users[100].login = "moved0"
    portal.store.users[101].login = "old0"
    ops = [new_hire(1), new_hire(2, login="old0")]
    created, done = finish(adapter, adapter.execute(ops)[0].job_id, ops)
    assert created.status is OutcomeStatus.DONE and done.status is OutcomeStatus.FAILED
    assert done.error is not None
    assert done.error.endswith("Login already exists: account 101 (email 'old1@acme.test') has it")


def test_a_failed_task_retries_what_it_did_not_apply(adapter, portal):
    portal.set_faults({"job_fail_next": 1, "job_fail_applied_share": 0.5})
    ops = [new_hire(i) for i in range(4)]
    outcomes = adapter.execute(ops)
    done = finish(adapter, outcomes[0].job_id, ops)
    statuses = [o.status for o in done]
    # Not seen after a failed task: looked up before being sent again (the task may go on).
    assert statuses == [OutcomeStatus.DONE] * 2 + [OutcomeStatus.UNKNOWN] * 2
    assert "failed before this account was created" in done[3].error
    assert set(users_by_login(portal)) == {"admin", "hire0", "hire1"}


def test_a_task_report_adds_detail_but_never_decides(adapter, portal):
    seed_people(portal, 1)
    ops = [new_hire(1), new_hire(2, login="old0")]
    [pending, _] = adapter.execute(ops)
    poll = adapter.tasks.poll

    def with_report(task_id: str):
        """A report that says the opposite of what TalentLMS holds."""
        task = poll(task_id)
        if task.finished:
            task.report = parse_report(
                {
                    "items": [
                        {"index": 0, "status": "failed", "errors": ["Imaginary problem"]},
                        {"index": 1, "status": "failed", "errors": ["Told by the report"]},
                    ]
                }
            )
        return task

    adapter.tasks.poll = with_report
    done = finish(adapter, pending.job_id, ops)
    assert [o.status for o in done] == [OutcomeStatus.DONE, OutcomeStatus.FAILED]
    assert done[0].remote_id == str(users_by_login(portal)["hire1"]["id"])
    assert "TalentLMS did not apply it" in done[1].error
    assert "Told by the report" in done[1].error


def test_batch_updates_are_read_back_field_by_field(adapter, portal):
    seed_people(portal, 1)
    hires = create_all(adapter, [new_hire(1), new_hire(2)])

    def update(hire, **changes: Any) -> Operation:
        fields = {**hire.op.fields, **changes}
        return Operation(OpKind.UPDATE, hire.op.hr_key, hire.remote_id, fields, tuple(changes))

    renamed = update(hires[0], surname="Renamed", custom_field_1="E-1")
    taken = update(hires[1], email="OLD0@acme.test", name="Changed")
    reads = portal.count("GET /api/v2/users/{id}")
    [pending, _] = adapter.execute([renamed, taken])
    done = finish(adapter, pending.job_id, [renamed, taken])
    assert [o.status for o in done] == [OutcomeStatus.DONE, OutcomeStatus.FAILED]
    assert done[1].error == (
        f"TalentLMS did not apply it (batch task {pending.job_id}): "
        "email (sent 'OLD0@acme.test', TalentLMS has 'hire2@acme.test'), "
        "name (sent 'Changed', TalentLMS has 'New')"
    )
    assert portal.count("GET /api/v2/users/{id}") - reads == 2  # one read per person
    accounts = users_by_login(portal)
    assert accounts["hire1"]["surname"] == "Renamed"
    assert accounts["hire1"]["custom_fields"] == {"custom_field_1": "E-1"}
    assert accounts["hire2"]["email"] == "hire2@acme.test"


def test_many_updates_of_listed_fields_are_read_back_from_the_listing(adapter, portal):
    hires = create_all(adapter, [new_hire(i) for i in range(3)])  # the portal: one page
    ops = [
        Operation(OpKind.UPDATE, h.op.hr_key, h.remote_id, {"surname": "Wed"}, ("surname",))
        for h in hires
    ]
    before = calls(portal)
    [pending, *_] = adapter.execute(ops)
    done = finish(adapter, pending.job_id, ops)
    assert {o.status for o in done} == {OutcomeStatus.DONE}
    used = calls(portal) - before
    assert used["GET /api/v2/users"] == 1 and used["GET /api/v2/users/{id}"] == 0


def test_values_are_compared_as_talentlms_writes_them():
    sent = {
        "email": "Jane.Doe@ACME.test ",
        "login": "JDoe",
        "name": "Jane",
        "email_notifications": "true",
        "credits": 11,
        "deactivation_date": "2026-01-31",
        "custom_field_1": "",
        "custom_field_2": "Blue",
        "password": "never shown",
    }
    shown = {
        "email": "jane.doe@acme.test",
        "login": "jdoe",
        "name": " Jane",
        "email_notifications": True,
        "credits": 11.0,
        "deactivation_date": "2026-01-31T00:00:00+00:00",
        "custom_field_2": "Green",
    }
    found = differences(sent, shown, whole_account=True)
    assert [d.describe() for d in found] == [
        "custom_field_2 (sent 'Blue', TalentLMS has 'Green')"
    ]
    # A listing shows none of the fields beyond login, email, name and surname.
    assert differences(sent, shown, whole_account=False) == []
    assert differences({"timezone": "UTC"}, {"login": "x"}, whole_account=True) == []


def test_a_failed_task_leaves_its_updates_to_be_sent_again(adapter, portal):
    hires = create_all(adapter, [new_hire(1), new_hire(2)])
    ops = [
        Operation(OpKind.UPDATE, h.op.hr_key, h.remote_id, {"surname": "Later"}, ("surname",))
        for h in hires
    ]
    portal.set_faults({"job_fail_next": 1})
    [pending, _] = adapter.execute(ops)
    done = finish(adapter, pending.job_id, ops)
    assert [o.status for o in done] == [OutcomeStatus.RETRY] * 2
    assert f"batch task {pending.job_id} failed before applying this update" in done[0].error


def test_a_task_talentlms_no_longer_knows_leaves_its_creates_to_be_looked_up():
    with hand_clocked() as (clock, sim, adapter):
        ops = [new_hire(1), new_hire(2)]
        [pending, _] = adapter.execute(ops)
        sim.forget_task(pending.job_id)  # its id now answers 404, as documented
        done = adapter.poll_job(pending.job_id, ops)
        assert done is not None
        assert [o.status for o in done] == [OutcomeStatus.UNKNOWN] * 2
        assert f"TalentLMS no longer knows batch task {pending.job_id}" in done[0].error
        clock.advance(10)  # the task went on after all: the look-up finds both accounts
        hires = [DesiredUser(op.hr_key, op.fields) for op in ops]
        assert set(adapter.match_existing(hires, "email")) == {"E1", "E2"}
        adapter.close()


def test_a_create_whose_answer_was_lost_is_unknown(adapter, portal):
    portal.set_faults({"drop_next": 1, "drop_after_processing": True})
    [outcome] = adapter.execute([new_hire(1)])
    assert outcome.status is OutcomeStatus.UNKNOWN
    assert "look the record up" in outcome.error
    found = adapter.match_existing([DesiredUser("E1", {"email": "hire1@acme.test"})], None)
    assert found["E1"].remote_id == str(users_by_login(portal)["hire1"]["id"])


def test_a_create_that_meets_its_own_earlier_account_adopts_it(adapter, portal):
    [first] = adapter.execute([new_hire(1)])
    [again] = adapter.execute([new_hire(1)])  # as after a lost answer re-sent blindly
    assert again.status is OutcomeStatus.DONE and again.remote_id == first.remote_id
    assert len(users_by_login(portal)) == 2


# --- updates and status ------------------------------------------------------------------------


def test_one_update_patches_only_the_changed_fields(adapter, portal):
    [hire] = create_all(adapter, [new_hire(1)])
    op = Operation(
        OpKind.UPDATE, "E1", hire.remote_id, {**hire.op.fields, "name": "Renamed"}, ("name",)
    )
    [outcome] = adapter.execute([op])
    assert outcome.status is OutcomeStatus.DONE
    account = users_by_login(portal)["hire1"]
    assert account["name"] == "Renamed" and account["surname"] == "Hire1"
    assert portal.count("PATCH /api/v2/users/{id}") == 1


def test_custom_field_updates_go_through_the_batch_endpoint(adapter, portal):
    [hire] = create_all(adapter, [new_hire(1)])
    op = Operation(
        OpKind.UPDATE, "E1", hire.remote_id, {"custom_field_1": "E-9"}, ("custom_field_1",)
    )
    [pending] = adapter.execute([op])
    assert pending.status is OutcomeStatus.PENDING
    [done] = finish(adapter, pending.job_id, [op])
    assert done.status is OutcomeStatus.DONE
    assert users_by_login(portal)["hire1"]["custom_fields"] == {"custom_field_1": "E-9"}
    assert portal.count("PATCH /api/v2/users/{id}") == 0


def test_deactivate_and_reactivate(adapter, portal):
    [hire] = create_all(adapter, [new_hire(1)])
    [off] = adapter.execute([Operation(OpKind.DEACTIVATE, "E1", hire.remote_id)])
    assert off.status is OutcomeStatus.DONE
    assert users_by_login(portal)["hire1"]["status"] == "inactive"
    [on] = adapter.execute([Operation(OpKind.REACTIVATE, "E1", hire.remote_id)])
    assert on.status is OutcomeStatus.DONE
    assert users_by_login(portal)["hire1"]["status"] == "active"
    # The first change of each direction is confirmed by a read, later ones are not.
    adapter.execute([Operation(OpKind.DEACTIVATE, "E1", hire.remote_id)])
    assert portal.count("GET /api/v2/users/{id}") == 2


def test_an_account_deleted_in_talentlms(adapter, portal):
    [off] = adapter.execute([Operation(OpKind.DEACTIVATE, "E1", "999")])
    assert off.status is OutcomeStatus.DONE and "no longer exists" in off.warnings[0]
    [on] = adapter.execute([Operation(OpKind.REACTIVATE, "E1", "999")])
    assert on.status is OutcomeStatus.FAILED
    assert on.error == "TalentLMS account 999 no longer exists (was it deleted in TalentLMS?)"


def test_delete_removes_the_account_and_tolerates_its_absence(adapter, portal):
    [hire] = create_all(adapter, [new_hire(1)])
    [gone] = adapter.execute([Operation(OpKind.DELETE, "E1", hire.remote_id)])
    [again] = adapter.execute([Operation(OpKind.DELETE, "E1", hire.remote_id)])
    assert gone.status is again.status is OutcomeStatus.DONE
    assert "hire1" not in users_by_login(portal)


def serve(handler) -> LoopbackServer:
    """A loopback server that also answers PATCH (the shared helper serves the other verbs)."""
    server = LoopbackServer(handler)
    handler_class = server._server.RequestHandlerClass
    handler_class.do_PATCH = handler_class.do_POST
    return server


class StatusPortal:
    """A portal that stores status only when written as ``accepts`` (the other forms vary)."""

    def __init__(self, accepts: str, refuse_others: bool) -> None:
        self.accepts = accepts
        self.refuse_others = refuse_others
        self.status = "active"
        self.bodies: list[dict] = []

    def handle(self, request: Received) -> Reply:
        if request.method == "GET":
            return Reply(200, {"_data": {"id": 7, "status": self.status}})
        body = request.json()
        self.bodies.append(body)
        form = "active" if "active" in body else type(body["status"]).__name__
        if form != self.accepts:
            if self.refuse_others:
                title = f"The attribute '{'active' if form == 'active' else 'status'}' is invalid"
                return Reply(400, {"_errors": [{"id": "bad_request", "title": title}]})
            return Reply(204)  # accepted and ignored
        value = body.get("active", body.get("status"))
        self.status = "active" if value is True else "inactive"
        return Reply(204)


@pytest.mark.parametrize(("accepts", "refuse_others"), [("bool", True), ("active", False)])
def test_the_status_form_the_portal_accepts_is_found_and_kept(accepts, refuse_others):
    fake = StatusPortal(accepts, refuse_others)
    with serve(fake.handle) as server:
        adapter = make_adapter(server.url)
        [outcome] = adapter.execute([Operation(OpKind.DEACTIVATE, "E1", "7")])
        assert outcome.status is OutcomeStatus.DONE and fake.status == "inactive"
        adapter.execute([Operation(OpKind.REACTIVATE, "E1", "7")])
        assert fake.status == "active"
        sent = len(fake.bodies)
        adapter.execute([Operation(OpKind.DEACTIVATE, "E1", "7")])
        assert fake.status == "inactive" and len(fake.bodies) == sent + 1
        adapter.close()
    expected = {"status": False} if accepts == "bool" else {"active": False}
    assert fake.bodies[-1] == expected


# --- groups and branches -----------------------------------------------------------------------


def membership(kind: OpKind, remote_id: str, target: str) -> Operation:
    return Operation(kind, "E1", remote_id, target=target)


def test_groups_are_listed_once_and_already_so_counts_as_done(adapter, portal):
    [hire] = create_all(adapter, [new_hire(1)])
    rid = hire.remote_id
    for target in ("Engineering Team", "Sales Team", "Engineering Team"):
        [outcome] = adapter.execute([membership(OpKind.GROUP_ADD, rid, target)])
        assert outcome.status is OutcomeStatus.DONE
    [removed] = adapter.execute([membership(OpKind.GROUP_REMOVE, rid, "Sales Team")])
    [not_member] = adapter.execute([membership(OpKind.GROUP_REMOVE, rid, "Sales Team")])
    [no_group] = adapter.execute([membership(OpKind.GROUP_REMOVE, rid, "Never Existed")])
    assert removed.status is not_member.status is no_group.status is OutcomeStatus.DONE
    groups = {g["name"]: g["users"] for g in portal.dump()["groups"]}
    assert groups == {"Engineering Team": [int(rid)], "Sales Team": []}
    assert portal.count("GET /api/v2/groups") == 1
    # Each "already so" answer (409 twice) was settled by reading the account's groups.
    assert portal.count("POST /api/v2/group-memberships", 409) == 1
    assert portal.count("DELETE /api/v2/group-memberships", 409) == 1
    assert portal.count(USER_READ) == 2


def test_a_missing_group_fails_unless_its_kind_may_be_created(live, portal):
    strict = make_adapter(live.base_url("talentlms"))
    lenient = make_adapter(live.base_url("talentlms"), creatable_group_kinds={"group", "branch"})
    [hire] = create_all(strict, [new_hire(1)])
    rid = hire.remote_id
    [refused] = strict.execute([membership(OpKind.GROUP_ADD, rid, "Finance")])
    [refused_branch] = strict.execute([membership(OpKind.GROUP_ADD, rid, "branch:lisbon")])
    assert refused.error == (
        "group 'Finance' does not exist in TalentLMS; create it or set create_missing: true"
    )
    assert refused_branch.error == (
        "branch 'lisbon' does not exist in TalentLMS; create it or set create_missing: true"
    )
    [group] = lenient.execute([membership(OpKind.GROUP_ADD, rid, "Finance")])
    [branch] = lenient.execute([membership(OpKind.GROUP_ADD, rid, "branch:lisbon")])
    assert group.status is branch.status is OutcomeStatus.DONE
    state = portal.dump()
    assert [g["users"] for g in state["groups"] if g["name"] == "Finance"] == [[int(rid)]]
    assert [b["users"] for b in state["branches"] if b["name"] == "lisbon"] == [[int(rid)]]
    strict.close()
    lenient.close()


def test_branch_membership_conflicts_are_read_kindly(adapter, portal):
    [hire] = create_all(adapter, [new_hire(1)])
    rid = hire.remote_id
    outcomes = [
        adapter.execute([membership(kind, rid, "branch:marketing")])[0]
        for kind in (OpKind.GROUP_ADD, OpKind.GROUP_ADD, OpKind.GROUP_REMOVE, OpKind.GROUP_REMOVE)
    ]
    assert {o.status for o in outcomes} == {OutcomeStatus.DONE}
    assert portal.count("POST /api/v2/branch-users", 409) == 1
    assert portal.count("DELETE /api/v2/branch-users", 409) == 1


USER_READ = "GET /api/v2/users/{id}"


@pytest.mark.parametrize(
    ("kind", "target", "write"),
    [
        (OpKind.GROUP_ADD, "Sales Team", "POST /api/v2/group-memberships"),
        (OpKind.GROUP_ADD, "branch:marketing", "POST /api/v2/branch-users"),
        (OpKind.GROUP_REMOVE, "Sales Team", "DELETE /api/v2/group-memberships"),
        (OpKind.ENROLL, "102", "POST /api/v2/enrollments"),
        (OpKind.UNENROLL, "102", "DELETE /api/v2/enrollments"),
    ],
)
def test_a_write_sent_before_is_looked_up_before_it_is_sent_again(
    adapter, portal, kind, target, write
):
    """After a crash or a lost answer the outbox hands the operation over again (a second
    attempt): what TalentLMS already holds is found by reading the account, not sent twice."""
    [hire] = create_all(adapter, [new_hire(1)])
    rid = hire.remote_id
    if kind in (OpKind.GROUP_REMOVE, OpKind.UNENROLL):  # first be a member, to be removed
        adding = OpKind.GROUP_ADD if kind is OpKind.GROUP_REMOVE else OpKind.ENROLL
        assert adapter.execute([membership(adding, rid, target)])[0].status is OutcomeStatus.DONE
    first = Operation(kind, "E1", rid, target=target, attempts=1)
    assert adapter.execute([first])[0].status is OutcomeStatus.DONE
    reads = portal.count(USER_READ)

    [again] = adapter.execute([Operation(kind, "E1", rid, target=target, attempts=2)])

    assert (again.status, again.error) == (OutcomeStatus.DONE, None)
    assert portal.count(write) == 1  # not sent again
    assert portal.count(USER_READ) == reads + 1  # the account, read once


def test_enrollments_sent_again_in_a_batch_skip_the_pairs_already_held(adapter, portal):
    """A batch whose answer was lost is handed over again: the pairs the accounts show are
    done without a second batch; only the rest are sent."""
    hires = create_all(adapter, [new_hire(i) for i in range(3)])
    portal.seed({"enrollments": [{"user_id": int(h.remote_id), "course_id": 101}
                                 for h in hires[:2]]})  # fmt: skip
    ops = [
        Operation(OpKind.ENROLL, h.op.hr_key, h.remote_id, target=course, attempts=2)
        for h in hires
        for course in ("101", "102")
    ]
    outcomes = adapter.execute(ops)

    statuses = [o.status for o in outcomes]
    assert statuses[:4] == [OutcomeStatus.DONE, OutcomeStatus.PENDING] * 2
    assert statuses[4:] == [OutcomeStatus.PENDING] * 2
    assert portal.count(USER_READ) == 3  # once per person
    done = finish(adapter, outcomes[1].job_id, [o.op for o in outcomes if o.job_id])
    assert {o.status for o in done} == {OutcomeStatus.DONE}
    assert portal.count("POST /api/v2/batch/enrollments") == 1
    enrolled = sorted((e["user_id"], e["course_id"]) for e in portal.dump()["enrollments"])
    assert enrolled == sorted((int(h.remote_id), c) for h in hires for c in (101, 102))


# --- enrollments -------------------------------------------------------------------------------


def test_several_enrollments_go_in_one_batch(adapter, portal):
    hires = create_all(adapter, [new_hire(i) for i in range(3)])
    portal.seed({"enrollments": [{"user_id": int(hires[0].remote_id), "course_id": 101}]})
    ops = [Operation(OpKind.ENROLL, h.op.hr_key, h.remote_id, target="101") for h in hires]
    ops.append(Operation(OpKind.ENROLL, "E0", hires[0].remote_id, target="999"))
    outcomes = adapter.execute(ops)
    assert {o.status for o in outcomes} == {OutcomeStatus.PENDING}
    done = finish(adapter, outcomes[0].job_id, ops)
    assert [o.status for o in done] == [OutcomeStatus.DONE] * 3 + [OutcomeStatus.FAILED]
    assert "Course not found" in done[3].error
    enrolled = {(e["user_id"], e["course_id"]) for e in portal.dump()["enrollments"]}
    assert {(int(h.remote_id), 101) for h in hires} <= enrolled
    assert portal.count("POST /api/v2/batch/enrollments") == 1


def test_single_enrollment_and_unenrollment(adapter, portal):
    [hire] = create_all(adapter, [new_hire(1)])
    rid = hire.remote_id
    enroll = Operation(OpKind.ENROLL, "E1", rid, target="102")
    unenroll = Operation(OpKind.UNENROLL, "E1", rid, target="102")
    results = [adapter.execute([op])[0] for op in (enroll, enroll, unenroll, unenroll)]
    assert {o.status for o in results} == {OutcomeStatus.DONE}  # the repeats are "already so"
    assert portal.count("POST /api/v2/enrollments", 409) == 1
    assert portal.dump()["enrollments"] == []
    [unknown] = adapter.execute([Operation(OpKind.ENROLL, "E1", rid, target="999")])
    assert unknown.error == "course 999 does not exist in TalentLMS"
    [bad] = adapter.execute([Operation(OpKind.ENROLL, "E1", rid, target="Safety")])
    assert bad.error == "course id 'Safety' is not a positive number"


def test_learning_path_enrollments():
    received: list[tuple[str, dict]] = []

    def handle(request: Received) -> Reply:
        received.append((request.method, request.json()))
        if request.method == "DELETE":
            return Reply(204)
        if len(received) == 1:
            return Reply(200, {"_data": {"user_id": 5, "learning_path_id": 7}})
        title = "The user is already enrolled in this learning path"
        return Reply(409, {"_errors": [{"id": "conflict", "title": title}]})

    with LoopbackServer(handle) as server:
        adapter = make_adapter(server.url)
        enroll = Operation(OpKind.ENROLL, "E1", "5", target="learning-path:7")
        outcomes = [adapter.execute([enroll])[0], adapter.execute([enroll])[0]]
        outcomes += adapter.execute(
            [Operation(OpKind.UNENROLL, "E1", "5", target="learning-path:7")]
        )
        adapter.close()
    assert {o.status for o in outcomes} == {OutcomeStatus.DONE}
    assert received[0] == ("POST", {"user_id": 5, "learning_path_id": 7})
    assert received[2] == ("DELETE", {"user_id": 5, "learning_path_id": 7})
    assert [r.path for r in server.requests] == ["/api/v2/learning-paths/enrollments"] * 3


# --- pull --------------------------------------------------------------------------------------


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def test_a_first_pull_backfills_from_its_start_date(live, portal):
    seed_people(portal, 2)
    now = datetime.now(UTC).replace(microsecond=0)
    portal.seed(
        {
            "completions": [
                {
                    "user_id": 100,
                    "course_id": 101,
                    "score": 91,
                    "completed_at": iso(now - timedelta(days=40)),
                    "certificate": {"url": "https://cert.example/1", "expires_at": "2030-01-01"},
                },
                {"user_id": 101, "course_id": 102, "completed_at": iso(now - timedelta(days=2))},
            ]
        }
    )
    default = make_adapter(live.base_url("talentlms"))
    [page] = list(default.pull(None))
    links = {"100": "H0", "101": "H1"}
    assert [(identify(r, "t", links).hr_key, r.course_id) for r in page.results] == [("H1", "102")]
    older = make_adapter(live.base_url("talentlms"), start_date=(now - timedelta(days=60)).date())
    [page] = list(older.pull(None))
    first, second = (identify(r, "t", {"100": "H0"}) for r in page.results)
    assert (first.hr_key, first.course_id, first.status) == ("H0", "101", ResultStatus.COMPLETED)
    assert first.score == 91.0 and first.progress == 100.0
    assert first.completed_at == now - timedelta(days=40)
    assert first.certificate_url == "https://cert.example/1"
    assert first.certificate_expires_at == datetime(2030, 1, 1, tzinfo=UTC)
    assert first.course_name == "Information Security Basics"
    assert second.hr_key is None and second.lms_user_id == "101"  # not linked: the engine parks it
    default.close()
    older.close()


def test_repeated_pulls_confirm_each_change_once(adapter, portal):
    seed_people(portal, 1)
    portal.complete(100, 101, score=75)
    [page] = list(adapter.pull(None))
    assert [r.status for r in page.results] == [ResultStatus.COMPLETED]
    progress_reads = portal.count("GET /api/v2/course-progress")
    [again] = list(adapter.pull(page.cursor))
    assert again.results == [] and again.cursor["since"] == page.cursor["since"]
    assert portal.count("GET /api/v2/course-progress") == progress_reads

    # A completion that shows up late, inside the overlap window, is still read.
    late = datetime.fromisoformat(page.cursor["since"]) - timedelta(minutes=10)
    portal.seed({"completions": [{"user_id": 100, "course_id": 102, "completed_at": iso(late)}]})
    [late_page] = list(adapter.pull(again.cursor))
    assert [r.course_id for r in late_page.results] == ["102"]


def test_a_progress_reset_is_pulled_as_a_change(adapter, portal):
    seed_people(portal, 1)
    portal.complete(100, 101, score=75)
    [page] = list(adapter.pull(None))
    time.sleep(1.1)  # the timeline has one-second resolution
    adapter.client.delete("/api/v2/course-progress", params={"user_id": 100, "course_id": 101})
    [reset] = list(adapter.pull(page.cursor))
    [result] = reset.results
    assert result.status is ResultStatus.NOT_STARTED and result.completed_at is None
    assert result.result_id == page.results[0].result_id  # the same row, updated


def test_pull_pages_hold_100_people_each_with_a_cursor_that_only_moves_forward(adapter, portal):
    seed_people(portal, 150)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    when = [iso(start + timedelta(minutes=i)) for i in range(150)]
    portal.seed(
        {
            "completions": [
                {"user_id": 100 + i, "course_id": 101, "completed_at": when[i]} for i in range(150)
            ]
        }
    )
    pages = list(adapter.pull(None))
    assert [len(p.results) for p in pages] == [100, 50]
    assert pages[0].cursor["since"] < pages[1].cursor["since"]
    assert [r.lms_user_id for r in pages[0].results][:2] == ["100", "101"]  # oldest first
    # The keys of the last hour (the overlap window) travel in the cursor; older ones do not.
    assert pages[1].cursor["since"] == when[149]
    assert len(pages[1].cursor["seen"]) == 61


def test_status_and_certificate_readings():
    assert result_status("Completed") is ResultStatus.COMPLETED
    assert result_status("incomplete") is ResultStatus.IN_PROGRESS
    assert result_status("not_attempted") is ResultStatus.NOT_STARTED
    assert result_status("archived") is None and result_status(None) is None
    assert certificate_fields(None) == (None, None)
    assert certificate_fields({"id": 3}) == (None, None)
    assert certificate_fields("https://c.example/x.pdf") == ("https://c.example/x.pdf", None)


def test_task_reports_of_unknown_shape_are_not_guessed():
    assert parse_report("<html>") is None
    assert parse_report({"items": "nope"}) is None
    report = parse_report({"items": [{"index": 0, "status": "failed", "errors": [{"title": "X"}]}]})
    assert report is not None and report.items[0].failed and report.items[0].errors == ["X"]


def test_a_generated_password_echoed_in_a_refusal_never_reaches_the_outcome():
    sent: list[str] = []

    def answer(request: Received) -> Reply:
        if request.method == "POST" and request.path == "/api/v2/users":
            body = request.json()
            sent.append(body["password"])
            echoed = {"title": f"Invalid user {json.dumps(body)}", "status": 400}
            return Reply(400, {"_errors": [echoed]})
        return Reply(200, {"_data": []})

    with LoopbackServer(answer) as server:
        adapter = make_adapter(server.url)
        try:
            op = Operation(OpKind.CREATE, "E1", fields={"login": "ann", "email": "ann@acme.test",
                                                         "name": "Ann", "surname": "Lee"})
            (outcome,) = adapter.execute([op])
        finally:
            adapter.close()

    assert outcome.status is OutcomeStatus.FAILED and "Invalid user" in (outcome.error or "")
    (password,) = sent
    assert len(password) >= 8
    assert not any(password[i : i + 4] in outcome.error for i in range(len(password) - 3))

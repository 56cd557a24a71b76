"""Push cycles end to end through the engine and the state store, on SQLite and PostgreSQL.

The LMS is ``FakeLMS``; what is asserted is what a user would check: which
accounts the LMS ends with, how many calls a cycle cost, what `syncd status`
and `syncd errors` would show.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from syncd.engine.cycle import CycleOutcome
from syncd.engine.diff import DiffPolicy
from syncd.engine.guard import Threshold
from syncd.engine.push import outbox, readback, resume, sent, stream
from syncd.engine.push.order import summary
from syncd.engine.push.run import PushSettings, approve, retry, run_push
from syncd.engine.push.settings import Escrow, JobPolling
from syncd.model import LinkStatus, OpKind, Outcome, OutcomeStatus
from syncd.sources.base import SourceRecord
from syncd.state import store
from syncd.state.bulk import BulkWriter
from syncd.state.db import make_engine
from syncd.state.status import error_rows, status_rows
from syncd.state.tables import jobs, links, operations, sync_errors, sync_runs
from tests.fake_lms import Account, FakeLMS, TinyMapper


def person(key, name=None, dept="Engineering", status="active", email=None):
    return {
        "employee_id": key,
        "name": name or f"Person {key}",
        "department": dept,
        "status": status,
        "email": email or f"p{key}@acme.test",
    }


class World:
    """One connector wired to a FakeLMS and a mutable HR list."""

    def __init__(self, url: str, lms: FakeLMS | None = None, **settings):
        self.engine = make_engine(url)
        self.lms = lms or FakeLMS()
        self.hr: list[dict] = []
        self.settings = PushSettings(
            connector="fake",
            engine=self.engine,
            adapter=self.lms,
            mapper=TinyMapper(),
            key="employee_id",
            records=self._records,
            match="email",
            polling=JobPolling(first_delay=0.0, max_delay=0.0, timeout=5),
            **settings,
        )

    def _records(self):
        return [SourceRecord(f"line {i + 2}", dict(r)) for i, r in enumerate(self.hr)]

    def push(self, **kwargs):
        return run_push(self.settings, **kwargs)


@pytest.fixture
def world(migrated_db_url):
    w = World(migrated_db_url)
    yield w
    w.engine.dispose()


def test_first_sync_creates_people_memberships_and_enrollments(world):
    world.hr = [person(1), person(2, dept="Sales"), person(3, status="contractor")]
    result = world.push()
    assert result.outcome == CycleOutcome.SUCCESS and result.exit_code == 0
    accounts = world.lms.by_email()
    assert set(accounts) == {"p1@acme.test", "p2@acme.test"}
    assert accounts["p1@acme.test"].groups == {"Engineering"}
    assert accounts["p2@acme.test"].groups == {"Sales"}
    assert accounts["p2@acme.test"].courses == {"101"}
    assert result.counts["created"] == 2 and result.counts["records_seen"] == 3
    [status] = status_rows(world.engine)
    assert status["state"] == "idle" and status["pending_ops"] == 0 and status["last_success_at"]


def test_unchanged_source_costs_no_api_call(world):
    world.hr = [person(i) for i in range(10)]
    world.push()
    calls = world.lms.calls
    result = world.push()
    assert world.lms.calls == calls
    assert result.plan == [] and result.counts["api_calls"] == 0


def test_a_change_sends_only_the_changed_field(world):
    world.hr = [person(1), person(2)]
    world.push()
    world.lms.writes.clear()
    world.hr[0]["name"] = "Renamed"
    result = world.push()
    assert world.lms.writes == [("update", "1")]
    [update] = [op for op in result.plan if op.kind.value == "update"]
    assert update.changed == ("name",)
    assert world.lms.by_email()["p1@acme.test"].fields["name"] == "Renamed"


def test_department_change_moves_group_membership(world):
    world.hr = [person(1, dept="Engineering")]
    world.push()
    world.hr[0]["department"] = "Sales"
    world.push()
    account = world.lms.by_email()["p1@acme.test"]
    assert account.groups == {"Sales"} and account.courses == {"101"}


def test_leaver_is_deactivated_and_rehire_reactivated_not_created_twice(world):
    world.hr = [person(i) for i in range(20)]
    world.push()
    leaver = world.hr.pop(3)
    result = world.push()
    assert result.counts["deactivated"] == 1
    assert world.lms.by_email()[leaver["email"]].active is False
    world.hr.append(leaver)
    result = world.push()
    assert result.counts["reactivated"] == 1 and result.counts["created"] == 0
    assert len(world.lms.accounts) == 20
    assert world.lms.by_email()[leaver["email"]].active is True


def test_status_change_to_inactive_deactivates(world):
    world.hr = [person(i) for i in range(20)]
    world.push()
    world.hr[0]["status"] = "terminated"
    world.push()
    assert world.lms.by_email()["p0@acme.test"].active is False


@pytest.mark.parametrize("on_missing,expected", [("delete", 19), ("ignore", 20)])
def test_on_missing_delete_and_ignore(migrated_db_url, on_missing, expected):
    w = World(migrated_db_url, policy=DiffPolicy(on_missing=on_missing))
    w.hr = [person(i) for i in range(20)]
    w.push()
    w.hr.pop()
    w.push()
    assert len(w.lms.accounts) == expected
    assert all(a.active for a in w.lms.accounts.values())
    w.engine.dispose()


def test_invalid_record_is_reported_never_sent_and_others_go_on(world):
    world.hr = [person(1), person(2, email="not-an-address")]
    result = world.push()
    assert result.outcome == CycleOutcome.PARTIAL and result.exit_code == 1
    assert set(world.lms.by_email()) == {"p1@acme.test"}
    assert ("create", "2") not in world.lms.writes
    [error] = error_rows(world.engine, "fake")
    assert error["hr_key"] == "2" and error["operation"] == "validate"
    assert "not-an-address" in error["reason"]
    world.hr[1]["email"] = "p2@acme.test"
    world.push()
    assert error_rows(world.engine, "fake") == []
    assert "p2@acme.test" in world.lms.by_email()


def test_missing_and_repeated_keys_are_errors_for_that_key_only(world):
    world.hr = [person(1), person(2), {**person(2), "name": "Twin"}, {"name": "no key"}]
    result = world.push()
    assert set(world.lms.by_email()) == {"p1@acme.test"}
    errors = {(e["hr_key"], e["operation"]) for e in error_rows(world.engine, "fake")}
    assert ("2", "source") in errors
    assert ("<line 5>", "source") in errors
    assert result.exit_code == 1


def test_repeated_key_never_deprovisions_the_person(world):
    world.hr = [person(i) for i in range(20)]
    world.push()
    world.hr.append({**person(5), "name": "Duplicate"})
    world.push()
    assert world.lms.by_email()["p5@acme.test"].active is True


def test_vendor_refusal_is_recorded_and_not_resent_until_hr_changes(world):
    world.lms.refuse_emails = {"p2@acme.test"}
    world.hr = [person(1), person(2)]
    result = world.push()
    assert result.counts["failed"] == 1
    [error] = error_rows(world.engine, "fake")
    assert error == {**error, "hr_key": "2", "operation": "create"}
    assert "refused" in error["reason"]
    assert (error["kind"], error["retry"], error["next_attempt_at"]) == (
        "permanent",
        "after a fix",
        None,
    )
    writes = len(world.lms.writes)
    world.push()
    assert len(world.lms.writes) == writes  # no re-send of a refused create each cycle
    world.lms.refuse_emails.clear()
    assert retry(world.engine, "fake") == 2  # the create and the group add that needed it
    world.push()
    assert world.lms.by_email()["p2@acme.test"].groups == {"Engineering"}
    assert error_rows(world.engine, "fake") == []


def test_guard_stops_mass_deactivation_until_approved_once(world):
    world.hr = [person(i) for i in range(50)]
    world.push()
    world.hr = world.hr[:40]
    writes = len(world.lms.writes)
    result = world.push()
    assert result.outcome == CycleOutcome.GUARDED and result.exit_code == 3
    assert "10 of 50" in result.message
    assert len(world.lms.writes) == writes
    assert status_rows(world.engine)[0]["state"] == "guarded"
    approve(world.engine, "fake")
    result = world.push()
    assert result.counts["deactivated"] == 10
    assert status_rows(world.engine)[0]["state"] == "idle"
    world.hr = world.hr[:30]
    assert world.push().outcome == CycleOutcome.GUARDED  # approval was for one run only


def test_absolute_guard(migrated_db_url):
    w = World(migrated_db_url, threshold=Threshold.parse(2))
    w.hr = [person(i) for i in range(100)]
    w.push()
    w.hr = w.hr[:97]
    assert w.push().outcome == CycleOutcome.GUARDED
    w.engine.dispose()


def test_empty_source_never_deprovisions(world):
    world.hr = [person(i) for i in range(5)]
    world.push()
    world.hr = []
    result = world.push()
    # A guard stop (exit 3) naming the source, as SPEC §6 and issue 14 ask; it was exit 4.
    assert result.outcome == CycleOutcome.GUARDED and result.exit_code == 3
    assert all(a.active for a in world.lms.accounts.values())
    assert "the source gave no record" in status_rows(world.engine)[0]["last_error"]


def test_a_source_without_its_key_column_is_one_guard_stop_naming_the_column(world):
    world.hr = [person(i) for i in range(5)]
    world.push()
    world.hr = [{k: v for k, v in person(i).items() if k != "employee_id"} for i in range(5)]
    result = world.push()
    assert result.outcome == CycleOutcome.GUARDED and result.exit_code == 3
    assert "has no 'employee_id' column (its key) in any of its 5 records" in result.message
    assert result.errors == []  # one stop, not one error per line
    assert all(a.active for a in world.lms.accounts.values())


def test_records_without_a_key_defer_the_cycles_deactivations_and_say_why(world):
    world.settings.threshold = Threshold.parse("100%")
    world.hr = [person(i) for i in range(1, 6)]
    world.push()
    blanked = {**person(3), "employee_id": "  "}  # person 3's key was blanked in HR
    world.hr = [person(1), person(2), blanked, person(4)]  # and person 5 left
    result = world.push()
    assert result.exit_code == 1
    assert all(a.active for a in world.lms.accounts.values())  # neither 3 nor 5 deactivated
    assert any("2 people missing from the source are not deactivated" in e for e in result.errors)
    world.hr = [person(1), person(2), person(3), person(4)]  # the key is back; 5 is gone
    world.push()
    active = {a.fields["email"]: a.active for a in world.lms.accounts.values()}
    assert active == {**{f"p{i}@acme.test": True for i in range(1, 5)}, "p5@acme.test": False}


def test_only_names_keys_that_could_do_nothing(world):
    world.hr = [person(1), person(2, status="contractor")]
    world.settings.only = frozenset({"1", "2", "NOPE-1"})
    result = world.push()
    assert result.exit_code == 1
    assert "NOPE-1: only: not in the source" in result.errors
    assert "2: only: out of this connector's scope: status is 'contractor'" in result.errors
    assert len(world.lms.accounts) == 1

    again = world.push()  # person 1 is in the LMS as HR has them: the key does nothing, rightly
    assert again.plan == [] and again.exit_code == 1  # (2 and NOPE-1 are still misses)
    assert any(note.startswith("1: unchanged since the last push") for note in again.notes)
    assert not any(error.startswith("1:") for error in again.errors)


def test_a_dry_run_exits_3_when_its_push_would_trip_the_guard(world):
    world.hr = [person(i) for i in range(50)]
    world.push()
    world.hr = world.hr[:40]
    plan = world.push(dry_run=True)
    assert plan.outcome == CycleOutcome.DRY_RUN and plan.exit_code == 3
    assert plan.forecast.guard_stops and "10 of 50" in plan.message
    assert status_rows(world.engine)[0]["state"] == "idle"  # a plan is not a guarded push
    approve(world.engine, "fake")
    assert world.push(dry_run=True).exit_code == 0  # the approved push would go ahead


def test_a_dry_run_names_the_people_out_of_scope_and_estimates_the_calls(migrated_db_url):
    from syncd.limits.policy import LimitPolicy, Window

    w = World(migrated_db_url, limits=LimitPolicy((Window(2, 60.0),)))
    w.hr = [person(1), person(2), person(3, status="contractor")]
    plan = w.push(dry_run=True)
    w.engine.dispose()
    forecast = plan.forecast
    assert forecast.out_of_scope == 1
    assert forecast.scope_reasons == {"3": "status is 'contractor'"}
    # FakeLMS: 2 creates in one batch of 3, and a group add each: 3 calls; writes may use
    # 2 of every 60 s (95 % of 2, rounded up), so the third goes a window later.
    assert (forecast.estimate.calls, forecast.estimate.seconds) == (3, 60.0)
    assert forecast.unlisted == ["fake groups are not listed here: not checked"]


def test_a_push_shows_its_progress_while_it_sends(world):
    from syncd import progress

    seen = []
    execute = world.lms.execute

    def watched(ops):
        (shown,) = progress.active()
        seen.append(shown.snapshot())
        return execute(ops)

    world.lms.execute = watched
    world.hr = [person(i) for i in range(4)]
    world.push()
    assert [(s.done, s.planned) for s in seen] == [(0, 8), (3, 8), (4, 8), (5, 8), (6, 8), (7, 8)]
    assert seen[-1].connector == "fake" and seen[-1].calls == 6  # a lookup, 5 sends before
    assert seen[-1].eta is not None and seen[-1].line().startswith("fake push: 7/8 operations")
    assert progress.active() == []


def test_first_sync_adopts_existing_accounts_by_match_key(world):
    world.lms.accounts["77"] = __import__("tests.fake_lms").fake_lms.Account(
        {"email": "p1@acme.test", "name": "Old name"}, active=False
    )
    world.hr = [person(1)]
    world.push()
    assert list(world.lms.accounts) == ["77"]
    account = world.lms.accounts["77"]
    assert account.active is True and account.fields["name"] == "Person 1"


def test_dry_run_sends_no_write_and_records_nothing(world):
    world.hr = [person(1), person(2)]
    result = world.push(dry_run=True)
    assert result.outcome == CycleOutcome.DRY_RUN
    assert summary(result.plan) == {"create": 2, "group_add": 2}
    assert world.lms.writes == [] and world.lms.accounts == {}
    with world.engine.connect() as conn:
        assert conn.execute(select(operations)).first() is None


def test_async_creates_are_polled_until_their_job_ends(migrated_db_url):
    w = World(migrated_db_url, lms=FakeLMS(async_creates=True, polls_to_finish=3))
    w.hr = [person(i) for i in range(7)]
    result = w.push()
    assert result.counts["created"] == 7
    assert all(a.groups == {"Engineering"} for a in w.lms.accounts.values())
    assert len(w.lms.jobs) == 3  # batches of 3
    w.engine.dispose()


def test_lost_create_answer_is_looked_up_not_created_twice(world):
    world.hr = [person(1), person(2)]
    world.lms.lose_answer_after_create = True
    with pytest.raises(ConnectionError):
        world.push()
    # The process "died": its operations stayed in the outbox as sent.
    with world.engine.connect() as conn:
        states = {r.state for r in conn.execute(select(operations.c.state))}
    assert "sent" in states
    world.push()
    assert sorted(world.lms.by_email()) == ["p1@acme.test", "p2@acme.test"]
    assert len(world.lms.accounts) == 2
    with world.engine.connect() as conn:
        assert store.count_operations(conn, "fake", store.OPEN_STATES) == 0


class PasswordMapper(TinyMapper):
    """Maps an initial password, as a mapping with ``password:`` does."""

    def render(self, hr_key, record, source_hash=None):
        user = super().render(hr_key, record, source_hash)
        return type(user)(
            **{
                **{s: getattr(user, s) for s in user.__slots__},
                "fields": {**user.fields, "password": f"Initial-{hr_key}-Pa55word!"},
            }
        )


def test_passwords_are_sent_but_never_stored(migrated_db_url):
    w = World(migrated_db_url)
    w.settings.mapper = PasswordMapper()
    w.settings.policy = DiffPolicy(write_only_fields=frozenset({"password"}))
    w.hr = [person(1)]
    w.push()
    assert w.lms.passwords_seen == ["Initial-1-Pa55word!"]
    with w.engine.connect() as conn:
        dump = " ".join(
            str(tuple(r))
            for t in ("links", "operations")
            for r in conn.exec_driver_sql(f"select * from {t}")
        )
    assert "Pa55word" not in dump
    calls = w.lms.calls
    w.push()
    assert w.lms.calls == calls  # a write-only field never looks "changed"
    w.engine.dispose()


ECHOED_PASSWORD = "".join(chr(c) for c in range(33, 127))  # every printable ASCII character


class EchoingLMS(FakeLMS):
    """A vendor whose refusal echoes the request body, password and all."""

    def _apply(self, op):
        if op.kind is OpKind.CREATE:
            body = json.dumps(dict(op.fields))
            return Outcome(op, OutcomeStatus.FAILED, error=f"400 invalid user {body}")
        return super()._apply(op)


class EchoedPasswordMapper(TinyMapper):
    def render(self, hr_key, record, source_hash=None):
        user = super().render(hr_key, record, source_hash)
        return replace(user, fields={**user.fields, "password": ECHOED_PASSWORD})


def test_a_password_echoed_in_a_vendor_refusal_is_stored_and_logged_masked(migrated_db_url, capsys):
    w = World(migrated_db_url, lms=EchoingLMS())
    w.settings.mapper = EchoedPasswordMapper()
    w.settings.policy = DiffPolicy(write_only_fields=frozenset({"password"}))
    w.hr = [person(1)]
    result = w.push()

    assert result.exit_code == 1 and "invalid user" in result.errors[0]
    with w.engine.connect() as conn:
        dump = " ".join(
            str(tuple(row))
            for table in ("links", "operations", "sync_errors", "sync_runs", "sync_status")
            for row in conn.exec_driver_sql(f"select * from {table}")
        )
    said = " ".join(result.errors) + capsys.readouterr().out
    for text in (dump, said):
        assert "invalid user" in text
        leaked = [
            ECHOED_PASSWORD[i : i + 6]
            for i in range(len(ECHOED_PASSWORD) - 5)
            if ECHOED_PASSWORD[i : i + 6] in text
        ]
        assert leaked == []
    w.engine.dispose()


def test_every_cycle_is_a_sync_runs_row(world):
    world.hr = [person(1)]
    world.push()
    world.push(dry_run=True)
    with world.engine.connect() as conn:
        outcomes = [r.outcome for r in conn.execute(select(sync_runs).order_by(sync_runs.c.id))]
    assert outcomes == ["success", "dry_run"]


def test_a_create_resumed_after_a_crash_still_gets_its_mapped_password(migrated_db_url):
    class CrashBeforeSending(FakeLMS):
        crashed = False

        def execute(self, ops):
            if not self.crashed:
                self.crashed = True
                raise SystemExit("killed before the request left")
            return super().execute(ops)

    w = World(migrated_db_url, lms=CrashBeforeSending())
    w.settings.mapper = PasswordMapper()
    w.settings.policy = DiffPolicy(write_only_fields=frozenset({"password"}))
    w.hr = [person(1), person(2)]
    with pytest.raises(SystemExit):
        w.push()
    assert w.lms.accounts == {}
    w.push()
    # Resumed from the outbox, which holds no password: rendered again from the source.
    assert sorted(w.lms.passwords_seen) == ["Initial-1-Pa55word!", "Initial-2-Pa55word!"]
    assert len(w.lms.accounts) == 2
    w.engine.dispose()


def test_a_push_on_demand_touches_only_the_people_asked_for(world):
    world.hr = [person(i) for i in range(5)]
    world.push()
    world.hr[1]["name"] = "Renamed"
    world.hr[2]["name"] = "Also renamed"
    leaver = world.hr.pop(4)
    world.hr.append(person(9))
    world.lms.writes.clear()
    world.settings.only = frozenset({"1", "9"})
    result = world.push()
    assert summary(result.plan) == {"update": 1, "create": 1, "group_add": 1}
    assert {w for w in world.lms.writes if w[0] in ("update", "create", "deactivate")} == {
        ("update", "1"),
        ("create", "9"),
    }
    assert world.lms.by_email()[leaver["email"]].active is True  # not asked for: untouched
    world.settings.only = None
    result = world.push()  # the next full cycle does the rest
    assert summary(result.plan) == {"update": 1, "deactivate": 1}


def test_a_retried_create_whose_job_outlives_the_cycle_is_not_planned_twice(migrated_db_url):
    w = World(migrated_db_url, lms=FakeLMS(async_creates=True, polls_to_finish=1))
    w.hr = [person(1)]
    w.lms.refuse_emails = {"p1@acme.test"}
    assert w.push().counts["failed"] == 1
    w.lms.refuse_emails.clear()
    assert retry(w.engine, "fake") == 2  # the create and the membership that needed it
    # The resent create's job is still running when this cycle plans.
    w.lms.polls_to_finish = 3
    w.settings.polling = JobPolling(first_delay=0.0, max_delay=0.0, timeout=0.0)
    result = w.push()
    assert summary(result.plan).get("create", 0) == 0
    w.settings.polling = JobPolling(first_delay=0.0, max_delay=0.0, timeout=5)
    w.push()
    w.push()
    creates = [write for write in w.lms.writes if write[0] == "create"]
    assert creates == [("create", "1"), ("create", "1")]  # the refused one and the retry
    assert len(w.lms.accounts) == 1
    with w.engine.connect() as conn:
        assert store.count_operations(conn, "fake", store.OPEN_STATES) == 0
    w.engine.dispose()


def due_now(engine) -> None:
    """Move every escrowed operation's next attempt to the past, as time passing would."""
    with engine.begin() as conn:
        conn.execute(
            update(operations)
            .where(operations.c.next_attempt_at.is_not(None))
            .values(next_attempt_at=store.now() - timedelta(seconds=1))
        )


def next_attempt(engine) -> datetime:
    with engine.connect() as conn:
        [when] = (
            conn.execute(
                select(operations.c.next_attempt_at).where(
                    operations.c.next_attempt_at.is_not(None)
                )
            )
            .scalars()
            .all()
        )
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def test_a_job_that_never_ends_is_given_up_after_job_timeout_then_looked_up_and_resent(
    migrated_db_url,
):
    w = World(migrated_db_url, lms=FakeLMS(async_creates=True, polls_to_finish=10**6))
    w.settings.polling = JobPolling(
        first_delay=0.0, max_delay=0.0, timeout=0.0, give_up_after=timedelta(minutes=30)
    )
    w.hr = [person(1)]

    def sent_ago(minutes: int) -> None:
        with w.engine.begin() as conn:
            conn.execute(update(jobs).values(submitted_at=store.now() - timedelta(minutes=minutes)))

    assert w.push().counts["failed"] == 0  # still running: polled again next cycle
    sent_ago(29)
    assert w.push().counts["failed"] == 0
    polls = w.lms.calls
    sent_ago(31)
    given_up = w.push()
    assert w.lms.calls == polls + 1  # polled once more first: it might just have ended
    assert given_up.outcome == CycleOutcome.PARTIAL and given_up.exit_code == 1
    [error] = [e for e in error_rows(w.engine, "fake") if e["operation"] == "create"]
    reason = error["reason"]
    assert reason.startswith("fake job ")
    assert "(create 1) had not ended 31m after it was sent" in reason
    assert "(target.job_timeout: 30m)" in reason and "looked up and sent again" in reason
    assert (error["kind"], error["retry"]) == ("transient", "automatic")
    assert error["next_attempt_at"] is not None
    with w.engine.connect() as conn:
        [state] = conn.execute(select(jobs.c.state)).scalars().all()
    assert state == "expired"
    [status] = status_rows(w.engine)
    assert status["pending_ops"] == 2 and status["failed_ops"] == 0  # the create and its group

    calls = w.lms.calls
    w.push()  # the next cycle looks it up first (it may exist after all), then sends it again
    assert w.lms.calls == calls + 3 and w.lms.writes == []  # looked up, sent, polled
    assert len(w.lms.jobs) == 2
    w.engine.dispose()


def test_a_passing_fault_is_retried_with_backoff_then_left_for_syncd_retry(migrated_db_url):
    w = World(migrated_db_url, escrow=Escrow(attempts=4, first_wait=timedelta(minutes=5)))
    w.lms.faulty_emails = {"p1@acme.test"}
    w.hr = [person(1), person(2)]
    first = w.push()
    assert first.outcome == CycleOutcome.PARTIAL and first.counts["created"] == 1
    [error] = [e for e in error_rows(w.engine, "fake") if e["operation"] == "create"]
    assert error["reason"] == "HTTP 503 after 5 attempts"
    assert (error["kind"], error["retry"]) == ("transient", "automatic")

    writes = len(w.lms.writes)
    assert w.push().outcome == CycleOutcome.PARTIAL  # the first retry: with the next cycle
    assert len(w.lms.writes) == writes + 1
    sent = store.now()
    assert sent - timedelta(minutes=6) < next_attempt(w.engine) - timedelta(minutes=5) < sent
    assert w.push().outcome == CycleOutcome.SUCCESS  # nothing due yet: nothing sent
    assert len(w.lms.writes) == writes + 1
    due_now(w.engine)
    w.push()
    assert len(w.lms.writes) == writes + 2  # sent again, failing again: now 10 minutes
    gap = next_attempt(w.engine) - store.now()
    assert timedelta(minutes=9) < gap <= timedelta(minutes=10)

    due_now(w.engine)
    last = w.push()  # the fourth send, the last allowed
    assert last.outcome == CycleOutcome.PARTIAL and last.counts["failed"] == 1
    [error] = [e for e in error_rows(w.engine, "fake") if e["operation"] == "create"]
    assert (error["kind"], error["retry"], error["next_attempt_at"]) == (
        "transient",
        "syncd retry",
        None,
    )
    assert "still failing after 4 sends; `syncd retry fake` sends it again" in error["reason"]
    assert [s["failed_ops"] for s in status_rows(w.engine)] == [2]  # with its group add
    due_now(w.engine)
    w.push()
    assert len(w.lms.writes) == writes + 3  # no longer sent by itself

    w.lms.faulty_emails.clear()
    assert retry(w.engine, "fake") == 2
    assert w.push().outcome == CycleOutcome.SUCCESS
    assert set(w.lms.by_email()) == {"p1@acme.test", "p2@acme.test"}
    assert error_rows(w.engine, "fake") == []
    w.engine.dispose()


def test_a_key_read_as_a_float_is_the_same_person_as_its_text(world):
    # A SQL or JSON source gives employee 7 as 7.0; a CSV export of it says "7".
    world.hr = [person(7.0, email="p7@acme.test")]
    assert world.push().outcome == CycleOutcome.SUCCESS
    with world.engine.connect() as conn:
        assert set(store.load_links(conn, "fake", ["7", "7.0"])) == {"7"}
    world.hr = [person("7", email="p7@acme.test")]
    again = world.push()
    assert again.outcome == CycleOutcome.SUCCESS
    assert [op for op in again.plan if op.kind.value in ("create", "deactivate")] == []
    assert [a.active for a in world.lms.accounts.values()] == [True]


@pytest.mark.parametrize("recorded_by", ["this syncd", "an older syncd"])
def test_a_membership_resumed_after_a_crash_keeps_the_account_id_its_create_returned(
    migrated_db_url, recorded_by
):
    """The create ends in the cycle, the enrollment's job outlives it (the process dies): the
    next cycle reads that job back knowing whose it was, not asking about account None, also
    when an older syncd recorded the row without the id (its link has it)."""
    w = World(migrated_db_url, lms=FakeLMS(async_kinds={OpKind.ENROLL}, polls_to_finish=10**6))
    w.settings.polling = JobPolling(first_delay=0.0, max_delay=0.0, timeout=0.0)
    w.hr = [person(1, dept="Sales")]  # Sales people are enrolled in a course
    w.push()
    account = next(iter(w.lms.accounts))
    with w.engine.connect() as conn:
        waiting = conn.execute(
            select(operations.c.kind, operations.c.remote_id).where(operations.c.state == "waiting")
        ).all()
    assert [tuple(row) for row in waiting] == [("enroll", account)]
    if recorded_by == "an older syncd":
        with w.engine.begin() as conn:
            conn.execute(update(operations).values(remote_id=None))
    w.lms.polls_to_finish = 1
    w.settings.polling = JobPolling(first_delay=0.0, max_delay=0.0, timeout=5)
    resumed = World(migrated_db_url, lms=w.lms)  # a new process: only the outbox remembers
    resumed.hr = w.hr
    assert resumed.push().outcome == CycleOutcome.SUCCESS
    assert w.lms.accounts[account].courses
    assert error_rows(w.engine, "fake") == []
    resumed.engine.dispose()
    w.engine.dispose()


def test_a_first_sync_larger_than_one_outbox_batch_records_and_creates_everyone_once(
    migrated_db_url, monkeypatch
):
    """The outbox is written several operations a statement: across batch boundaries every
    person is recorded once, in plan order, and created once; the guard still stops a
    later mass deactivation before anything is written."""
    monkeypatch.setattr(store, "OUTBOX_BATCH", 7)
    monkeypatch.setattr(store, "CHUNK", 5)
    w = World(migrated_db_url, lms=FakeLMS(batch=4))
    w.hr = [person(i, dept="Sales" if i % 3 else "Engineering") for i in range(40)]
    inserts = []
    insert = BulkWriter.insert

    def counted(writer, table, columns, rows):
        if table is operations:
            inserts.append(len(rows))
        insert(writer, table, columns, rows)

    monkeypatch.setattr(BulkWriter, "insert", counted)

    result = w.push()
    assert result.outcome == CycleOutcome.SUCCESS
    assert len(w.lms.accounts) == 40
    assert set(w.lms.by_email()) == {f"p{i}@acme.test" for i in range(40)}
    with w.engine.connect() as conn:
        rows = conn.execute(
            select(operations.c.kind, operations.c.hr_key, operations.c.state).order_by(
                operations.c.id
            )
        ).all()
    creates = [hr_key for kind, hr_key, _ in rows if kind == "create"]
    assert sorted(creates) == sorted(str(i) for i in range(40))  # each person once
    assert {state for _, _, state in rows} == {"done"}
    assert [kind for kind, _, _ in rows] == [op.kind.value for op in result.plan]
    assert len(inserts) == -(-len(rows) // 7)  # a batch at a time, not an operation
    assert max(inserts) == 7
    assert result.counts["created"] == 40

    w.hr = w.hr[:20]  # half the people gone: over the guard's 10%
    writes = len(w.lms.writes)
    result = w.push()
    assert result.outcome == CycleOutcome.GUARDED
    assert len(w.lms.writes) == writes
    with w.engine.connect() as conn:
        assert len(conn.execute(select(operations.c.id)).all()) == len(rows)
    w.engine.dispose()


# --- a first sync streamed in chunks ----------------------------------------------------------


def _streamed_world(url: str, monkeypatch, lms: FakeLMS | None = None) -> World:
    """A world whose first syncs are streamed three new people a chunk, with passwords."""
    monkeypatch.setattr(stream, "CHUNK", 3)
    monkeypatch.setattr(store, "OUTBOX_BATCH", 4)
    w = World(url, lms=lms or FakeLMS(batch=2))
    w.settings.mapper = PasswordMapper()
    w.settings.policy = DiffPolicy(write_only_fields=frozenset({"password"}))
    return w


def _recorded(engine) -> list[tuple[str, str, str]]:
    """The outbox's (kind, HR key, state) rows in plan order."""
    with engine.connect() as conn:
        query = select(operations.c.kind, operations.c.hr_key, operations.c.state)
        return [tuple(r) for r in conn.execute(query.order_by(operations.c.id))]


def _passwords(keys) -> list[str]:
    return sorted(f"Initial-{k}-Pa55word!" for k in keys)


def _everyone_created_once(w, result, people: list[str]) -> None:
    """Each of ``people`` has one account, was sent one password, and the push succeeded."""
    assert sorted(a.fields["email"] for a in w.lms.accounts.values()) == sorted(
        f"p{k}@acme.test" for k in people
    )
    assert sorted(w.lms.passwords_seen) == _passwords(people)
    assert result.outcome == CycleOutcome.SUCCESS


def test_a_first_sync_of_more_people_than_a_chunk_creates_everyone_once(
    migrated_db_url, monkeypatch
):
    """Eleven new people, three a chunk: each is recorded and created exactly once, with the
    group and the password its record maps (never stored), and nothing is left to send."""
    w = _streamed_world(migrated_db_url, monkeypatch)
    chunks = []
    record_people = outbox.record_people
    monkeypatch.setattr(
        outbox, "record_people", lambda *a, **k: chunks.append(a[3].ops) or record_people(*a, **k)
    )
    w.hr = [person(i, dept="Sales" if i % 2 else "Engineering") for i in range(11)]
    w.hr += [person(3, name="Someone else"), person(20, status="contractor")]
    w.hr += [person(21, email="not-an-address")]
    result = w.push()
    assert result.outcome == CycleOutcome.PARTIAL  # key 3 repeated, 21 invalid: held, named
    assert sorted(result.errors) == [
        "21: validate: email 'not-an-address' is not a valid address",
        "3: source: employee_id '3' appears more than once in the source; "
        "none of its records is used until it is unique",
    ]
    assert result.counts["failed"] == 2
    assert {e["hr_key"] for e in error_rows(w.engine, "fake")} == {"3", "21"}
    people = [str(i) for i in range(11) if i != 3]
    accounts = w.lms.by_email()
    assert set(accounts) == {f"p{k}@acme.test" for k in people}
    assert accounts["p1@acme.test"].groups == {"Sales"} and accounts["p1@acme.test"].courses
    assert accounts["p2@acme.test"].groups == {"Engineering"}
    assert sorted(w.lms.passwords_seen) == _passwords(people)
    rows = _recorded(w.engine)
    assert sorted(k for kind, k, _ in rows if kind == "create") == sorted(people)
    assert {state for *_, state in rows} == {"done"}
    assert result.counts["created"] == 10
    assert len([ops for ops in chunks if ops]) == 4  # 10 people, 3 a chunk
    with w.engine.connect() as conn:
        dump = " ".join(str(tuple(r)) for r in conn.exec_driver_sql("select * from operations"))
    assert "Pa55word" not in dump
    calls = w.lms.calls
    again = w.push()
    assert w.lms.calls == calls and again.counts["created"] == 0
    w.engine.dispose()


def test_a_guard_stop_with_new_people_to_stream_writes_nothing(migrated_db_url, monkeypatch):
    """Most people leave while more new ones than a chunk arrive: the guard stops the push
    before the first chunk is recorded; approved, everyone goes once."""
    w = _streamed_world(migrated_db_url, monkeypatch)
    w.hr = [person(i) for i in range(10)]
    w.push()
    rows, writes = _recorded(w.engine), len(w.lms.writes)
    w.hr = [person(i) for i in range(2)] + [person(i) for i in range(100, 108)]
    stopped = w.push()
    assert stopped.outcome == CycleOutcome.GUARDED and stopped.exit_code == 3
    assert "deactivates or deletes 8 of 10 linked users" in stopped.message
    assert len(w.lms.writes) == writes and _recorded(w.engine) == rows
    with w.engine.connect() as conn:
        assert store.count_links(conn, "fake", list(LinkStatus)) == 10
    approve(w.engine, "fake")
    result = w.push()
    assert result.counts["deactivated"] == 8 and result.counts["created"] == 8
    created = [k for kind, k, _ in _recorded(w.engine) if kind == "create"]
    assert sorted(created) == sorted(
        [str(i) for i in range(10)] + [str(i) for i in range(100, 108)]
    )
    w.engine.dispose()


def test_a_crash_between_streamed_chunks_resumes_without_duplicates(migrated_db_url, monkeypatch):
    """Killed after two chunks were recorded, before anything was sent: the next cycle sends
    the recorded ones (passwords rendered again) and plans the rest, everyone once."""
    w = _streamed_world(migrated_db_url, monkeypatch)
    w.hr = [person(i) for i in range(10)]
    record_people = outbox.record_people
    calls = []

    def dies_at_the_third_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:  # the rest of the plan (empty), two chunks, then death
            raise SystemExit("killed while recording")
        return record_people(*args, **kwargs)

    monkeypatch.setattr(outbox, "record_people", dies_at_the_third_chunk)
    with pytest.raises(SystemExit):
        w.push()
    monkeypatch.setattr(outbox, "record_people", record_people)
    assert w.lms.accounts == {}
    assert len([k for kind, k, _ in _recorded(w.engine) if kind == "create"]) == 6
    result = w.push()
    people = [str(i) for i in range(10)]
    _everyone_created_once(w, result, people)
    assert sorted(k for kind, k, _ in _recorded(w.engine) if kind == "create") == people
    w.engine.dispose()


def test_a_crash_while_a_streamed_chunk_is_sent_resumes_without_duplicates(
    migrated_db_url, monkeypatch
):
    """Killed right after the LMS took the second batch of creates, before its answer was
    recorded: the next cycle finds those accounts instead of creating them again."""

    class DiesAfterSecondCreateBatch(FakeLMS):
        batches = 0

        def execute(self, ops):
            outcomes = super().execute(ops)
            if ops[0].kind is OpKind.CREATE:
                self.batches += 1
                if self.batches == 2:
                    raise SystemExit("killed with the answer in flight")
            return outcomes

    w = _streamed_world(migrated_db_url, monkeypatch, lms=DiesAfterSecondCreateBatch(batch=2))
    w.hr = [person(i) for i in range(10)]
    with pytest.raises(SystemExit):
        w.push()
    assert len(w.lms.accounts) == 3  # the first chunk's two batches
    w.lms.batches = 3  # it dies no more
    result = w.push()
    _everyone_created_once(w, result, [str(i) for i in range(10)])  # each password sent once
    assert {state for *_, state in _recorded(w.engine)} == {"done"}
    w.engine.dispose()


def _stored_rows(engine) -> dict[str, int]:
    """Rows a push may write besides its run row: none of them is a dry run's."""
    tables = (operations, links, sync_errors, jobs)
    with engine.connect() as conn:
        return {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in tables
        }


def test_a_dry_run_of_a_streamed_sync_shows_each_chunk_before_planning_the_next(
    migrated_db_url, monkeypatch
):
    """Nine new people, three a chunk: each chunk is matched with the LMS's accounts (read
    only), shown, then let go; the whole is what a plan of all at once shows, and nothing is
    recorded. An invalid record past the first chunk is still named."""
    w = _streamed_world(migrated_db_url, monkeypatch)
    w.hr = [person(i, dept="Sales" if i % 2 else "Engineering") for i in range(10)]
    w.hr += [person(21, email="not-an-address"), person(22, status="contractor")]
    w.hr += [person(3, name="Someone else")]  # named after 21, as a whole plan names them
    w.lms.accounts["old"] = Account(fields={"email": "p7@acme.test", "name": "Old"}, active=True)
    shown: list = []
    asked: list[tuple[int, int]] = []  # (people matched, operations shown by then)
    match = w.lms.match_existing
    monkeypatch.setattr(
        w.lms,
        "match_existing",
        lambda users, by: asked.append((len(users), len(shown))) or match(users, by),
    )
    streamed = w.push(dry_run=True, show=shown.append)
    assert [people for people, _ in asked] == [3, 3, 3]  # never more than a chunk rendered
    assert [before for _, before in asked] == [0, 7, 14]  # each shown before the next
    assert streamed.plan == [] and streamed.outcome == CycleOutcome.DRY_RUN
    assert streamed.planned == {"create": 8, "update": 1, "group_add": 9, "enroll": 4}
    assert "21: validate: email 'not-an-address' is not a valid address" in streamed.errors
    assert "Pa55word" not in str(shown)  # as the outbox would record them
    assert _stored_rows(w.engine) == {"operations": 0, "links": 0, "sync_errors": 0, "jobs": 0}
    assert w.lms.writes == []

    monkeypatch.setattr(stream, "CHUNK", 100)  # the same people, planned whole
    whole = w.push(dry_run=True)
    assert summary(whole.plan) == streamed.planned
    assert sorted(map(repr, whole.plan)) == sorted(map(repr, shown))
    assert whole.forecast == streamed.forecast and whole.forecast is not None
    assert whole.forecast.out_of_scope == 1
    assert whole.errors == streamed.errors
    del whole.counts["api_calls"], streamed.counts["api_calls"]  # the fake matches per call
    assert whole.counts == streamed.counts  # the run rows say alike: records seen, failed
    with w.engine.connect() as conn:
        runs = conn.execute(select(sync_runs.c.outcome)).scalars().all()
    assert runs == ["dry_run", "dry_run"]  # a dry run's one write, as before
    w.engine.dispose()


def _killed_before_sending(w: World, monkeypatch) -> list[tuple[str, str, str]]:
    """Push ``w`` once, killed once every chunk is recorded and before any is sent; the
    outbox it leaves."""
    send = stream.NewPeople.send

    def killed(_new_people, _sender):
        raise SystemExit("killed before sending")

    monkeypatch.setattr(stream.NewPeople, "send", killed)
    with pytest.raises(SystemExit):
        w.push()
    monkeypatch.setattr(stream.NewPeople, "send", send)
    assert w.lms.accounts == {}
    return _recorded(w.engine)


def test_a_first_sync_killed_before_sending_is_resumed_a_batch_at_a_time(
    migrated_db_url, monkeypatch
):
    """Ten new people recorded in four chunks, nothing sent, then the process dies: the next
    cycle reads the outbox back four operations at a time, sends each batch before reading
    the next, and creates everyone once, with the groups and the password their record maps."""
    w = _streamed_world(migrated_db_url, monkeypatch)
    monkeypatch.setattr(resume, "BATCH", 4)
    w.hr = [person(i, dept="Sales" if i % 2 else "Engineering") for i in range(10)]
    recorded = _killed_before_sending(w, monkeypatch)
    assert len(recorded) > 3 * 4 and {state for *_, state in recorded} == {"pending"}
    events: list[tuple[str, int]] = []
    open_operations, execute = store.open_operations, w.lms.execute

    def read(*args, **kwargs):
        rows = open_operations(*args, **kwargs)
        events.append(("read", len(rows)))
        return rows

    monkeypatch.setattr(store, "open_operations", read)
    monkeypatch.setattr(w.lms, "execute", lambda ops: events.append(("send", 0)) or execute(ops))

    result = w.push()
    people = [str(i) for i in range(10)]
    _everyone_created_once(w, result, people)
    accounts = w.lms.by_email()
    assert accounts["p1@acme.test"].groups == {"Sales"} and accounts["p1@acme.test"].courses
    assert accounts["p2@acme.test"].groups == {"Engineering"}
    rows = _recorded(w.engine)
    assert rows == [(kind, key, "done") for kind, key, _ in recorded]  # nothing planned twice
    reads = [n for event, n in events if event == "read"]
    assert max(reads) == 4 and sum(reads) >= len(recorded)  # never the whole outbox at once
    last_read = max(i for i, (event, n) in enumerate(events) if event == "read" and n)
    assert ("send", 0) in events[:last_read]  # the first batches went before the last was read
    calls = w.lms.calls
    assert w.push().counts["created"] == 0 and w.lms.calls == calls
    w.engine.dispose()


def test_a_resume_whose_source_order_differs_from_the_outbox_sends_every_password(
    migrated_db_url, monkeypatch
):
    """The source lists people in the reverse of the recorded order when the outbox is
    resumed: the passwords read ahead of their batch are held only so far, the rest are
    looked for apart, and each create still goes once with its own password."""
    w = _streamed_world(migrated_db_url, monkeypatch)
    monkeypatch.setattr(resume, "BATCH", 4)
    monkeypatch.setattr(readback, "READ_AHEAD", 2)
    w.hr = [person(i) for i in range(10)]
    _killed_before_sending(w, monkeypatch)
    w.hr.reverse()
    result = w.push()
    _everyone_created_once(w, result, [str(i) for i in range(10)])
    assert {state for *_, state in _recorded(w.engine)} == {"done"}
    w.engine.dispose()


def test_creates_retried_and_refused_again_in_a_batched_resume_are_sent_once(
    migrated_db_url, monkeypatch
):
    """``syncd retry`` requeues two refused creates (with passwords) and their memberships; the
    next cycle resumes them two operations a batch and the LMS refuses them again: the planner
    sees them covered though retry made it diff those people again, so each goes once."""
    w = _streamed_world(migrated_db_url, monkeypatch)
    monkeypatch.setattr(resume, "BATCH", 2)
    w.hr = [person(i) for i in range(6)]
    w.lms.refuse_emails = {"p1@acme.test", "p4@acme.test"}
    assert w.push().counts["failed"] == 2
    assert retry(w.engine, "fake") == 4  # two creates and the group adds that needed them
    writes = len(w.lms.writes)
    result = w.push()
    assert result.outcome == CycleOutcome.PARTIAL and result.counts["failed"] == 2
    assert sorted(w.lms.writes[writes:]) == [("create", "1"), ("create", "4")]
    assert sorted(w.lms.passwords_seen) == _passwords(["0", "2", "3", "5"])
    assert [op for op in result.plan if op.hr_key in ("1", "4")] == []
    w.engine.dispose()


def test_a_shutdown_during_a_batched_resume_plans_nothing_again(migrated_db_url, monkeypatch):
    """Two refused updates are requeued by ``syncd retry``; the next cycle resumes them one a
    batch and a shutdown comes after the first: the cycle ends there, reading neither the
    source nor the rest of the outbox (at a first sync's size either takes longer than a stop
    may wait). The one not reached stays in the outbox, once. The cycle after sends it once,
    and makes the re-diff of both people that retry asked for and the stopped cycle never
    reached: person 2's update, refused again, goes once more, then never again."""
    monkeypatch.setattr(resume, "BATCH", 1)
    w = World(migrated_db_url)
    w.hr = [person(i) for i in range(4)]
    w.push()
    w.hr = [person(i, name=f"Renamed {i}") for i in range(4)]
    for key in ("2", "3"):  # deleted in the LMS behind syncd's back: their updates are refused
        [gone] = [r for r, a in w.lms.accounts.items() if a.fields["email"] == f"p{key}@acme.test"]
        del w.lms.accounts[gone]
    assert w.push().counts["failed"] == 2
    assert retry(w.engine, "fake") == 2
    execute = w.lms.execute

    def shut_down_after_one(ops):
        w.settings.stop.set()
        return execute(ops)

    monkeypatch.setattr(w.lms, "execute", shut_down_after_one)
    reads, read_back, open_operations = [], [], store.open_operations
    records = w.settings.records
    w.settings.records = lambda: reads.append(1) or records()

    def open_read(*args, **kwargs):
        rows = open_operations(*args, **kwargs)
        read_back.extend(op.hr_key for op, _state, _job in rows)
        return rows

    monkeypatch.setattr(store, "open_operations", open_read)
    writes = len(w.lms.writes)
    stopped = w.push()
    assert w.lms.writes[writes:] == [("update", "2")]
    assert stopped.outcome == CycleOutcome.STOPPED and stopped.plan == []
    assert reads == [] and stopped.counts["records_seen"] == 0
    assert read_back == ["2"]  # the batch sent; the one after it is not read to be noted
    open_rows = [r for r in _recorded(w.engine) if r[2] in ("pending", "sent")]
    assert open_rows == [("update", "3", "pending")]  # once, not twice
    monkeypatch.setattr(w.lms, "execute", execute)
    w.settings.stop.clear()
    w.push()
    assert w.lms.writes[writes + 1 :] == [("update", "3"), ("update", "2")]
    w.push()
    assert w.lms.writes[writes + 3 :] == []
    w.engine.dispose()


@pytest.mark.parametrize(
    ("asked", "others"),
    [([0], 0), ([1], 0), ([0, 1, 2, 3, 4], 0), ([0, 1, 2, 3, 4], 20)],
    ids=["searched", "searched-not-covered", "scanned", "indexed"],
)
def test_what_a_resume_sent_covers_the_same_operations_however_it_is_searched(world, asked, others):
    """``SentOps`` answers as the operations themselves would, whichever way it searches (a
    few planned, many of both, few noted): the same kind, person and target with every value
    it would send, the password included; another value or another target is not covered."""
    world.settings.mapper = PasswordMapper()
    world.settings.policy = DiffPolicy(write_only_fields=frozenset({"password"}))
    world.hr = [person(i, dept="Sales") for i in range(3)]
    world.push()
    with world.engine.connect() as conn:
        ids = [row.id for row in conn.execute(select(operations.c.id))]
        recorded = store.operations_by_id(conn, ids)
    password = {"password": "Initial-1-Pa55word!"}
    noted = sent.SentOps(world.engine, frozenset({"password"}))
    for op in recorded:  # a batch each: as many runs as operations
        noted.add([outbox.given_fields(op, password) if op.kind is OpKind.CREATE else op])
    create = next(op for op in recorded if op.kind is OpKind.CREATE and op.hr_key == "1")
    enroll = next(op for op in recorded if op.kind is OpKind.ENROLL and op.hr_key == "1")
    create = replace(outbox.given_fields(create, password), id=None)
    choices = [
        (create, True),  # the same create, password and all
        (replace(create, fields={**create.fields, "password": "other"}), False),
        (replace(enroll, id=None), True),
        (replace(enroll, target="999", id=None), False),
        (replace(create, fields={**create.fields, "name": "Someone"}), False),
    ]
    planned = [choices[at][0] for at in asked]
    planned += [replace(enroll, hr_key=f"x{i}", id=None) for i in range(others)]
    covered = noted.covers(planned)
    assert [covered(op) for op in planned] == [choices[at][1] for at in asked] + [False] * others
    world.engine.dispose()


def test_only_plans_a_streamed_sync_whole(migrated_db_url, monkeypatch):
    """What ``--only`` sends is as without streaming."""
    w = _streamed_world(migrated_db_url, monkeypatch)
    w.hr = [person(i) for i in range(10)]
    w.settings.only = frozenset({"4"})
    only = w.push()
    assert summary(only.plan) == {"create": 1, "group_add": 1}
    assert [a.fields["email"] for a in w.lms.accounts.values()] == ["p4@acme.test"]
    w.engine.dispose()


def test_a_shutdown_while_a_first_sync_is_streamed_stops_between_chunks(
    migrated_db_url, monkeypatch
):
    """A shutdown request while chunks are recorded ends the cycle after the current one,
    sending nothing; the next cycle sends what was recorded and plans the rest, once."""
    w = _streamed_world(migrated_db_url, monkeypatch)
    w.hr = [person(i) for i in range(10)]
    record_people = outbox.record_people
    calls = []

    def stop_after_the_first_chunk(*args, **kwargs):
        calls.append(1)
        recorded = record_people(*args, **kwargs)
        if len(calls) == 2:
            w.settings.stop.set()
        return recorded

    monkeypatch.setattr(outbox, "record_people", stop_after_the_first_chunk)
    stopped = w.push()
    assert w.lms.accounts == {} and stopped.counts["created"] == 0
    assert len([k for kind, k, _ in _recorded(w.engine) if kind == "create"]) == 3
    w.settings.stop.clear()
    result = w.push()
    people = [str(i) for i in range(10)]
    _everyone_created_once(w, result, people)
    assert sorted(k for kind, k, _ in _recorded(w.engine) if kind == "create") == people
    w.engine.dispose()


def test_only_a_streamed_first_sync_reads_the_source_again(migrated_db_url, monkeypatch):
    """A push with no more new people than a chunk reads its source once, a no-change push
    too; a streamed one reads it again to plan its chunks, and to render passwords."""
    w = _streamed_world(migrated_db_url, monkeypatch)
    reads = []
    records = w.settings.records
    w.settings.records = lambda: reads.append(1) or records()
    w.hr = [person(i) for i in range(3)]
    w.push()
    assert len(reads) == 1
    w.push()
    assert len(reads) == 2
    w.hr += [person(i) for i in range(10, 20)]
    w.push()
    assert len(reads) == 5 and len(w.lms.accounts) == 13
    w.engine.dispose()


def test_a_resumed_adopted_accounts_update_carries_the_password_as_planned(
    migrated_db_url, monkeypatch
):
    """An adopted account's reactivation and update carry the mapped password when the
    outbox is resumed in batches, as when planned whole or streamed (a vendor that checks
    an operation's fields before sending sees it), and never name it changed (never sent)."""
    w = _streamed_world(migrated_db_url, monkeypatch)
    monkeypatch.setattr(resume, "BATCH", 4)
    w.hr = [person(i) for i in range(10)]
    w.lms.accounts["hand-7"] = Account(fields={"email": "p7@acme.test", "name": "Old"})
    w.lms.accounts["hand-7"].active = False
    send = stream.NewPeople.send
    monkeypatch.setattr(stream.NewPeople, "send", lambda *_: (_ for _ in ()).throw(SystemExit))
    with pytest.raises(SystemExit):
        w.push()
    monkeypatch.setattr(stream.NewPeople, "send", send)
    sent_ops: list = []
    execute = w.lms.execute
    monkeypatch.setattr(w.lms, "execute", lambda ops: sent_ops.extend(ops) or execute(ops))

    w.push()

    adopted = [op for op in sent_ops if op.hr_key == "7"]
    assert {op.kind for op in adopted} >= {OpKind.REACTIVATE, OpKind.UPDATE}
    for op in adopted:
        if op.kind in (OpKind.REACTIVATE, OpKind.UPDATE):
            assert op.fields["password"] == "Initial-7-Pa55word!" and "password" not in op.changed
    assert w.lms.by_email()["p7@acme.test"].active and len(w.lms.accounts) == 10

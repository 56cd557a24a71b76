"""HowNow end to end: a YAML configuration, a CSV HR file, the state store (SQLite and
PostgreSQL), the push and pull engines, and the HowNow sandbox over real HTTP.

Each test is a situation an integration engineer meets: the first sync, a token
expiring mid-run, a job that fails or warns, a 429 storm, a leaver who authored
content, a rehire, a crash at the worst moment, a job outliving the run, a future
start date, the pull of learning results and learning records pushed into HowNow.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from syncd.assemble import adapter_context, load_config, open_state
from syncd.config import ConfigError
from syncd.engine.cycle import CycleOutcome
from syncd.engine.push import stream
from syncd.engine.push.run import PushResult, retry
from syncd.engine.push.settings import JobPolling
from syncd.http import TOKENS
from syncd.limits import credential_id
from syncd.model import LinkState, LinkStatus, ResultStatus
from syncd.sandbox import ManualClock, Sandbox
from syncd.state import store
from syncd.state.status import status_rows
from syncd.state.tables import jobs, operations, rate_limit_calls, sync_runs
from syncd.vendors.hownow import HowNowAdapter
from syncd.vendors.hownow import api as hownow_api
from tests.fake_results import standard_lms
from tests.support.cli import run_syncd
from tests.support.e2e import (
    error_reasons,
    pull_cycle,
    push_cycle,
    quick_retry,
    read_rows,
    write_rows,
)

ROOT = Path(__file__).resolve().parents[1]
ENV = {"HOWNOW_CLIENT_ID": "sandbox-hownow-client", "HOWNOW_CLIENT_SECRET": "sandbox-hownow-secret"}
ROOMY = {"per_minute": 6000, "per_hour": 360_000}
FAST = JobPolling(first_delay=0.05, max_delay=0.2, timeout=20)
UPSERT = "POST /external/v1/users/upsert"
JOB_STATUS = "GET /external/v1/jobs/{job_id}/status"
COLUMNS = [
    "employee_id",
    "first_name",
    "last_name",
    "email",
    "user_type",
    "manager",
    "job_title",
    "location",
    "department",
    "start_date",
    "status",
]


def hr(key: str, manager: str = "", status: str = "active", **values: str) -> dict[str, str]:
    row = {
        "employee_id": key,
        "first_name": "First",
        "last_name": key,
        "email": f"{key}@acme.test",
        "user_type": "ReadOnly",
        "manager": manager,
        "job_title": "Engineer",
        "location": "NYC",
        "department": "Engineering",
        "start_date": "",
        "status": status,
    }
    row.update(values)
    return row


class World:
    """One configuration file, its state store and the HowNow sandbox."""

    def __init__(
        self,
        tmp_path: Path,
        db_url: str,
        sandbox: Sandbox,
        *,
        on_missing: str = "deactivate",
        rate_limit: str = "{per_minute: 6000, per_hour: 360000}",
        budget_share: float = 1.0,
        target_extra: str = "",
    ) -> None:
        self.tmp_path = tmp_path
        self.sandbox = sandbox
        self.sim = sandbox.sim("hownow")
        self.hr_path = tmp_path / "hr.csv"
        self.write_hr([])
        self.training = tmp_path / "training.csv"
        config_path = tmp_path / "syncd.yaml"
        config_path.write_text(f"""
state: {{url: "{db_url}"}}
sources:
  hr: {{type: csv, path: "{self.hr_path}", key: employee_id}}
sinks:
  training: {{type: csv, path: "{self.training}"}}
  hownow_records:
    type: hownow
    base_url: "{sandbox.base_url("hownow")}"
    client_id: ${{HOWNOW_CLIENT_ID}}
    client_secret: ${{HOWNOW_CLIENT_SECRET}}
connectors:
  - name: hownow
    source: hr
    schedule: {{every: 30m}}
    target:
      type: hownow
      base_url: "{sandbox.base_url("hownow")}"
      client_id: ${{HOWNOW_CLIENT_ID}}
      client_secret: ${{HOWNOW_CLIENT_SECRET}}
      rate_limit: {rate_limit}
      deactivate_assign_to: EXT-svc_admin
      {target_extra}
    users:
      fields:
        external_user_id: "{{{{ employee_id }}}}"
        name: "{{{{ first_name }}}} {{{{ last_name }}}}"
        email: "{{{{ email }}}}"
        user_type: "{{{{ user_type }}}}"
        manager_id: "{{{{ manager }}}}"
        start_date: "{{{{ start_date }}}}"
        job_role: {{name: "{{{{ job_title }}}}"}}
        custom_fields: {{location: "{{{{ location }}}}", department: "{{{{ department }}}}"}}
      active: "{{{{ status == 'active' }}}}"
      on_missing: {on_missing}
    guard: {{max_deactivations: 100%}}
    pull: {{sink: training, schedule: {{every: 6h}}, budget_share: {budget_share}}}
  - name: lms
    source: hr
    schedule: {{every: 1h}}
    target: {{type: talentlms, base_url: "http://127.0.0.1:9", api_key: "unused-key-1"}}
    users: {{fields: {{email: "{{{{ email }}}}"}}}}
    pull: {{sink: hownow_records}}
""")
        self.config = load_config(config_path, environ=ENV)
        self.engine = open_state(self.config)

    def write_hr(self, rows: list[dict[str, str]]) -> None:
        write_rows(self.hr_path, COLUMNS, rows)

    def adapter(self, cls: type[HowNowAdapter] = HowNowAdapter, **options: Any) -> HowNowAdapter:
        connector = self.config.connector("hownow")
        context = adapter_context(connector, self.engine, retry=quick_retry())
        return cls(connector.target, context, **options)  # type: ignore[arg-type]

    def sent_ago(self, age: timedelta) -> None:
        """Pretend every recorded job was sent ``age`` ago (as if that much time had passed)."""
        with self.engine.begin() as conn:
            conn.execute(update(jobs).values(submitted_at=store.now() - age))

    def push(self, adapter: HowNowAdapter | None = None, polling: JobPolling = FAST) -> PushResult:
        return push_cycle(self.config, "hownow", self.engine, adapter or self.adapter(), polling)

    def pull(self, connector: str = "hownow", adapter: Any = None):
        return pull_cycle(self.config, connector, self.engine, adapter)

    def users(self) -> dict[str, dict[str, Any]]:
        return {u["external_user_id"]: u for u in self.sim.dump()["users"]}

    def links(self) -> dict[str, LinkState]:
        with self.engine.connect() as conn:
            return {link.hr_key: link for link in store.iter_links(conn, "hownow", LinkStatus)}

    def errors(self) -> dict[tuple[str, str], str]:
        return error_reasons(self.engine, "hownow")

    def open_operations(self) -> list[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(operations.c.kind, operations.c.hr_key, operations.c.state))
            return [f"{r.kind}:{r.hr_key}:{r.state}" for r in rows if r.state not in ("done",)]


@pytest.fixture(scope="module")
def shared_sandbox() -> Iterator[Sandbox]:
    with Sandbox(vendors=["hownow"], job_duration=0.2, hownow=ROOMY) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(shared_sandbox: Sandbox) -> Sandbox:
    shared_sandbox.sim("hownow").reset()
    TOKENS.clear()
    return shared_sandbox


@pytest.fixture
def world(tmp_path, db_url, sandbox) -> Iterator[World]:
    w = World(tmp_path, db_url, sandbox)
    yield w
    w.engine.dispose()


TEAM = [
    hr("R1", manager="M"),
    hr("R2", manager="M", location="LDN"),
    hr("M", manager="TOP", user_type="Manager", job_title="Team Lead"),
    hr("TOP", user_type="Admin", job_title="CTO"),
]


# --- users -----------------------------------------------------------------------------------


def test_first_sync_creates_everyone_managers_before_reports(world):
    world.write_hr(TEAM)
    result = world.push()
    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    assert result.counts["created"] == 4 and result.counts["failed"] == 0
    made = world.users()
    assert made["R2"]["manager"] == "EXT-M" and made["M"]["manager"] == "EXT-TOP"
    assert made["M"]["job_role"] == "Team Lead" and made["TOP"]["user_type"] == "Admin"
    assert made["R2"]["custom_fields"] == {"location": "LDN", "department": "Engineering"}
    assert {k: (v.status, v.remote_id) for k, v in world.links().items()} == {
        k: (LinkStatus.LINKED, k) for k in ("R1", "R2", "M", "TOP")
    }
    # Each upsert is one user; every job was polled and recorded.
    assert world.sim.count(UPSERT, 201) == 4 and world.errors() == {}
    again = world.push()
    assert again.plan == [] and again.counts["api_calls"] == 0


def test_a_first_sync_of_more_people_than_a_chunk_is_still_arranged_whole(world, monkeypatch):
    """HowNow orders across people (managers first), so its first sync is never streamed in
    chunks, where a report listed first would go before a manager of a later chunk."""
    monkeypatch.setattr(stream, "CHUNK", 1)
    world.write_hr(TEAM)
    result = world.push()
    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    assert result.counts["created"] == 4 and result.counts["failed"] == 0
    assert [op.hr_key for op in result.plan] == ["TOP", "M", "R1", "R2"]


def test_a_changed_person_sends_the_full_record_with_every_custom_field(world):
    world.write_hr(TEAM)
    world.push()
    # Only the location changes; HowNow replaces custom_fields whole, so had syncd sent
    # just the changed field, the department would be gone.
    world.write_hr([hr("R1", manager="M", location="SFO"), *TEAM[1:]])
    result = world.push()
    assert result.counts["updated"] == 1 and world.sim.count(UPSERT, 201) == 5
    assert world.users()["R1"]["custom_fields"] == {"location": "SFO", "department": "Engineering"}
    assert world.users()["R1"]["manager"] == "EXT-M"
    world.write_hr([hr("R1", manager="M", location="SFO", department="Sales"), *TEAM[1:]])
    assert world.push().counts["updated"] == 1
    assert world.users()["R1"]["custom_fields"] == {"location": "SFO", "department": "Sales"}


def test_invalid_records_are_reported_with_the_field_and_never_sent(world):
    world.write_hr(
        [
            hr("bad id"),
            hr("E2", email="nope"),
            hr("E3", user_type="Learner"),
            hr("E4"),
            hr("E5", last_name="L" * 70),  # "First " + 70 letters: 76 characters
            hr("E6", start_date="31/01/2024"),
            hr("E7", start_date="2024-02-30"),
        ]
    )
    result = world.push()
    assert result.outcome == CycleOutcome.PARTIAL and result.exit_code == 1
    errors = world.errors()
    assert "external_user_id: 'bad id' may contain only letters" in errors["bad id", "validate"]
    assert errors["E2", "validate"] == "email: 'nope' is not an email address"
    assert errors["E3", "validate"].startswith("user_type: 'Learner' is not one of Admin")
    assert errors["E5", "validate"] == "name: 76 characters, HowNow allows at most 75"
    assert errors["E6", "validate"] == ("start_date: '31/01/2024' is not a date written YYYY-MM-DD")
    assert errors["E7", "validate"].startswith("start_date: '2024-02-30' is not a date")
    assert set(world.users()) == {"svc_admin", "E4"} and world.sim.count(UPSERT) == 1


class ExpiringTokens(HowNowAdapter):
    """Expires every HowNow token the first time each job is polled: mid-run, mid-job."""

    sim: Any = None

    def poll_job(self, job_id, ops):
        if job_id not in getattr(self, "_expired_for", set()):
            self._expired_for = {*getattr(self, "_expired_for", set()), job_id}
            self.sim.expire_tokens()
        return super().poll_job(job_id, ops)


def test_a_token_expiring_mid_run_fails_no_operation(world):
    world.write_hr(TEAM)
    ExpiringTokens.sim = world.sim
    result = world.push(world.adapter(ExpiringTokens))
    assert result.outcome == CycleOutcome.SUCCESS and result.counts["created"] == 4
    refused = world.sim.count("GET /external/v1/jobs/{job_id}/status", 401)
    assert refused >= 2 and world.sim.count(status=401) == refused
    # One fresh token per refusal (plus the first): each 401 was renewed once and retried.
    assert world.sim.count("POST /token", 200) == refused + 1 and world.errors() == {}


def test_tokens_are_renewed_before_their_hour_ends(tmp_path, db_url, monkeypatch):
    """One clock, moved by the test, for the sandbox (which expires tokens) and for syncd's
    token cache (which renews them), so what is proved does not hang on how long a cycle
    takes: a token lives its documented hour, is kept while it has more than the renewal
    margin (five minutes) left, and is renewed once inside that margin, before HowNow
    would refuse it."""
    clock = ManualClock()
    timed = functools.partial(hownow_api.ClientCredentialsAuth, clock=clock.time)
    monkeypatch.setattr(hownow_api, "ClientCredentialsAuth", timed)
    TOKENS.clear()
    with Sandbox(vendors=["hownow"], clock=clock, job_duration=0, hownow=ROOMY) as sandbox:
        world = World(tmp_path, db_url, sandbox)
        try:
            world.write_hr(TEAM[2:])
            assert world.push().outcome == CycleOutcome.SUCCESS
            assert world.sim.count("POST /token", 200) == 1
            clock.advance(3000)  # ten minutes left: kept
            world.write_hr([hr("M", manager="TOP", user_type="Manager", job_title="Lead"), TEAM[3]])
            kept = world.push()
            assert kept.outcome == CycleOutcome.SUCCESS and kept.counts["updated"] == 1
            assert world.sim.count("POST /token", 200) == 1
            clock.advance(420)  # three minutes left: inside the margin, still valid at HowNow
            world.write_hr(
                [hr("M", manager="TOP", user_type="Manager", job_title="Director"), TEAM[3]]
            )
            renewed = world.push()
            assert renewed.outcome == CycleOutcome.SUCCESS and renewed.counts["updated"] == 1
            assert world.sim.count("POST /token", 200) == 2
            assert world.sim.count(status=401) == 0  # renewed ahead of expiry, never refused
        finally:
            world.engine.dispose()


def test_a_failed_job_fails_that_person_only_and_the_next_run_retries(world):
    world.write_hr([hr("A"), hr("B"), hr("C")])
    world.sim.set_faults({"job_fail_next": 1})
    result = world.push()
    assert result.outcome == CycleOutcome.PARTIAL and result.exit_code == 1
    assert result.counts["created"] == 2 and result.counts["failed"] == 1
    reason = world.errors()["A", "create"]
    assert reason.startswith("HowNow job job_") and reason.endswith(
        "failed: Job failed (sandbox fault job_fail)"
    )
    assert world.links()["A"].status is LinkStatus.FAILED
    assert retry(world.engine, "hownow") == 1  # `syncd retry`: a failed create waits for it
    retried = world.push()
    assert retried.outcome == CycleOutcome.SUCCESS and retried.counts["created"] == 1
    assert world.errors() == {} and set(world.users()) == {"svc_admin", "A", "B", "C"}


def test_reports_of_a_manager_who_could_not_be_created_are_not_sent_in_vain(world):
    world.write_hr(TEAM)
    world.sim.set_faults({"job_fail_next": 1})  # the first job: TOP, who heads the chain
    result = world.push()
    assert result.counts["failed"] == 4 and world.sim.count(UPSERT) == 1
    errors = world.errors()
    assert "failed: Job failed (sandbox fault job_fail)" in errors["TOP", "create"]
    assert errors["M", "create"].startswith(
        "manager_id: their manager EXT-TOP could not be created (HowNow job job_"
    )
    assert errors["R1", "create"].startswith(
        "manager_id: their manager EXT-M could not be created (EXT-TOP, above them, was not: "
        "HowNow job job_"
    )
    assert retry(world.engine, "hownow") == 4
    retried = world.push()
    assert retried.outcome == CycleOutcome.SUCCESS and retried.counts["created"] == 4
    assert world.errors() == {} and world.users()["R1"]["manager"] == "EXT-M"


def test_a_job_with_warnings_is_done_and_the_warning_recorded_for_that_person(world):
    world.write_hr(TEAM[3:])
    world.sim.set_faults({"job_warn_next": 1})
    result = world.push()
    assert result.outcome == CycleOutcome.SUCCESS and result.counts["created"] == 1
    reason = world.errors()["TOP", "create_warning"]
    assert "completed with warnings: Simulated warning (sandbox fault job_warn)" in reason
    assert world.links()["TOP"].status is LinkStatus.LINKED


def test_a_429_storm_pauses_the_credential_and_the_run_succeeds(world):
    world.write_hr(TEAM)
    world.sim.set_faults({"storm_requests": 3, "storm_retry_after": 1})
    result = world.push()
    assert result.outcome == CycleOutcome.SUCCESS and result.counts["created"] == 4
    assert world.sim.count(status=429) == 3 and world.errors() == {}


def test_a_leaver_with_authored_content_hands_it_to_the_heir_after_reports_moved(world):
    world.write_hr(TEAM)
    world.push()
    world.sim.seed(
        {"contents": [{"external_id": "runbook", "title": "Runbook", "author": "EXT-M"}]}
    )
    # M leaves; their reports move to TOP in the same cycle.
    world.write_hr(
        [
            hr("R1", manager="TOP"),
            hr("R2", manager="TOP"),
            hr("M", manager="TOP", status="left", user_type="Manager"),
            TEAM[3],
        ]
    )
    result = world.push()
    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    assert result.counts["deactivated"] == 1 and result.counts["updated"] == 2
    kinds = [op.kind.value for op in result.plan]
    assert kinds.index("deactivate") > max(i for i, k in enumerate(kinds) if k == "update")
    made = world.users()
    assert made["M"]["status"] == "Deactivated"
    assert made["R1"]["manager"] == made["R2"]["manager"] == "EXT-TOP"
    [runbook] = [c for c in world.sim.dump()["contents"] if c["external_id"] == "runbook"]
    assert runbook["author"] == "EXT-svc_admin"
    assert world.links()["M"].status is LinkStatus.DEACTIVATED


def test_a_rehire_is_reactivated_with_their_manager_not_created_twice(world):
    world.write_hr(TEAM)
    world.push()
    world.write_hr(TEAM[:1] + TEAM[2:])  # R2 leaves the HR file
    assert world.push().counts["deactivated"] == 1
    assert world.users()["R2"]["manager"] is None  # HowNow clears it on deactivation
    world.write_hr(TEAM)  # ... and comes back
    result = world.push()
    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    assert result.counts["reactivated"] == 1 and result.counts["created"] == 0
    made = world.users()
    assert made["R2"]["status"] == "Invited" and made["R2"]["manager"] == "EXT-M"
    assert [u["external_user_id"] for u in world.sim.dump()["users"]].count("R2") == 1
    assert world.links()["R2"].status is LinkStatus.LINKED


def test_on_missing_delete_deletes_and_hands_content_over(tmp_path, db_url, sandbox):
    world = World(tmp_path, db_url, sandbox, on_missing="delete")
    try:
        world.write_hr(TEAM)
        world.push()
        world.sim.seed({"contents": [{"external_id": "deck", "title": "Deck", "author": "EXT-R1"}]})
        world.write_hr(TEAM[1:])
        result = world.push()
        assert result.outcome == CycleOutcome.SUCCESS and result.counts["deleted"] == 1
        assert "R1" not in world.users()
        [deck] = [c for c in world.sim.dump()["contents"] if c["external_id"] == "deck"]
        assert deck["author"] == "EXT-svc_admin"
        assert world.links()["R1"].status is LinkStatus.DELETED
    finally:
        world.engine.dispose()


class SimulatedCrash(BaseException):
    """The process dies: nothing after this point runs."""


class CrashAfterSubmit(HowNowAdapter):
    """Submits the upsert, then dies before the engine can record the job id."""

    def execute(self, ops):
        super().execute(ops)
        raise SimulatedCrash


def test_a_crash_between_submitting_an_upsert_and_recording_its_job_loses_no_one(world):
    world.write_hr([*TEAM[3:], hr("E9")])
    with pytest.raises(SimulatedCrash):
        world.push(world.adapter(CrashAfterSubmit))
    assert world.sim.count(UPSERT, 201) == 1  # the first person's upsert went out
    time.sleep(0.3)  # its job ends meanwhile
    result = world.push()
    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    # The lost answer was recovered by looking the person up, not by a second upsert.
    assert world.sim.count(UPSERT, 201) == 2
    assert [u["external_user_id"] for u in world.sim.dump()["users"]].count("E9") == 1
    assert {k: v.status for k, v in world.links().items()} == {
        "TOP": LinkStatus.LINKED,
        "E9": LinkStatus.LINKED,
    }
    assert world.open_operations() == [] and world.errors() == {}


def test_a_future_start_date_holds_the_person_until_the_day(world):
    world.write_hr([hr("NEW", start_date="2021-03-01"), hr("OLD", start_date="2020-11-02")])
    before = world.adapter(clock=lambda: datetime(2021, 2, 1, 12, tzinfo=UTC))
    result = world.push(before)
    assert result.outcome == CycleOutcome.SUCCESS and result.counts["created"] == 1
    assert "NEW" not in world.users() and world.users()["OLD"]["start_date"] == "2020-11-02"
    [status] = [s for s in status_rows(world.engine) if s["direction"] == "push"]
    assert status["pending_ops"] == 1
    assert world.open_operations() == ["create:NEW:pending"]
    waited = world.push(world.adapter(clock=lambda: datetime(2021, 2, 20, 12, tzinfo=UTC)))
    assert waited.counts["created"] == 0 and world.sim.count(UPSERT) == 1  # no call spent
    on_the_day = world.push(world.adapter(clock=lambda: datetime(2021, 3, 1, 13, tzinfo=UTC)))
    assert on_the_day.outcome == CycleOutcome.SUCCESS and on_the_day.counts["created"] == 1
    assert world.users()["NEW"]["start_date"] == "2021-03-01"


def test_reports_of_a_manager_who_has_not_started_wait_with_them(world):
    world.write_hr([TEAM[3], hr("R1", manager="TOP")])
    world.push()
    # A new manager starts on 1 March; an existing report moves to them, a new hire joins them.
    world.write_hr(
        [
            TEAM[3],
            hr("BOSS", manager="TOP", user_type="Manager", start_date="2021-03-01"),
            hr("R1", manager="BOSS"),
            hr("R9", manager="BOSS"),
        ]
    )
    february = world.push(world.adapter(clock=lambda: datetime(2021, 2, 1, 12, tzinfo=UTC)))
    assert february.outcome == CycleOutcome.SUCCESS and february.counts["failed"] == 0
    assert world.sim.count(UPSERT) == 2 and world.errors() == {}  # nothing sent in vain
    assert sorted(world.open_operations()) == [
        "create:BOSS:pending",
        "create:R9:pending",
        "update:R1:pending",
    ]
    assert world.users()["R1"]["manager"] == "EXT-TOP"
    march = world.push(world.adapter(clock=lambda: datetime(2021, 3, 1, 13, tzinfo=UTC)))
    assert march.outcome == CycleOutcome.SUCCESS, march.errors
    assert march.counts["created"] == 2 and march.counts["updated"] == 1
    made = world.users()
    assert made["BOSS"]["start_date"] == "2021-03-01"
    assert made["R1"]["manager"] == made["R9"]["manager"] == "EXT-BOSS"
    assert world.open_operations() == [] and world.errors() == {}


def test_a_job_outliving_the_run_is_resumed_by_the_next_run(tmp_path, db_url):
    clock = ManualClock()
    TOKENS.clear()
    with Sandbox(vendors=["hownow"], clock=clock, job_duration=60, hownow=ROOMY) as sandbox:
        world = World(tmp_path, db_url, sandbox)
        try:
            world.write_hr(TEAM[3:])
            impatient = JobPolling(first_delay=0.05, max_delay=0.05, timeout=0.2)
            first = world.push(polling=impatient)
            assert first.outcome == CycleOutcome.SUCCESS and first.counts["created"] == 0
            assert "has not finished after 0.2s" in world.errors()["TOP", "job"]
            assert world.open_operations() == ["create:TOP:waiting"]
            with world.engine.connect() as conn:
                [run] = conn.execute(select(sync_runs.c.outcome)).all()
            assert run.outcome == "success"
            clock.advance(61)  # the job ends while no syncd is running
            second = world.push()
            assert second.outcome == CycleOutcome.SUCCESS and second.counts["created"] == 1
            assert world.sim.count(UPSERT) == 1  # resumed by polling, not sent again
            assert world.links()["TOP"].status is LinkStatus.LINKED
            assert world.open_operations() == []
        finally:
            world.engine.dispose()


def test_a_job_that_never_ends_is_reported_naming_the_person_and_sent_again(tmp_path, db_url):
    clock = ManualClock()  # never moved: the sandbox's job never ends
    TOKENS.clear()
    with Sandbox(vendors=["hownow"], clock=clock, job_duration=60, hownow=ROOMY) as sandbox:
        world = World(tmp_path, db_url, sandbox, target_extra="job_timeout: 30m")
        try:
            world.write_hr(TEAM[3:])
            impatient = JobPolling(first_delay=0.05, max_delay=0.05, timeout=0.2)
            first = world.push(polling=impatient)
            assert first.counts["created"] == 0 and world.open_operations() == [
                "create:TOP:waiting"
            ]
            assert "has not finished after 0.2s" in world.errors()["TOP", "job"]
            # A later process (a restart, or `syncd sync` from cron) 29 minutes on: still polled.
            world.sent_ago(timedelta(minutes=29))
            second = world.push(polling=impatient)
            assert second.counts["failed"] == 0 and world.open_operations() == [
                "create:TOP:waiting"
            ]
            polls = world.sim.count(JOB_STATUS)
            # 31 minutes after it was sent (recorded in the state store): given up, reported.
            world.sent_ago(timedelta(minutes=31))
            third = world.push(polling=impatient)
            assert third.outcome == CycleOutcome.PARTIAL and third.exit_code == 1
            assert third.counts["failed"] == 0 and world.sim.count(JOB_STATUS) == polls + 1
            reason = world.errors()["TOP", "create"]
            assert reason.startswith("hownow job job_")
            assert "(create TOP) had not ended 31m" in reason
            assert "target.job_timeout: 30m" in reason and "looked up and sent again" in reason
            assert ("TOP", "job") not in world.errors()  # the "still running" report is superseded
            [status] = [s for s in status_rows(world.engine) if s["direction"] == "push"]
            assert status["failed_ops"] == 0 and status["pending_ops"] == 1
            assert status["last_error"].startswith("create TOP: ")
            assert world.sim.count(UPSERT) == 1
            # HowNow's jobs run again; the next cycle looks TOP up, finds no account, sends
            # the upsert once more, and it is created.
            world.sim.options = world.sim.options.model_copy(update={"job_duration": 0})
            again = world.push()
            assert again.outcome == CycleOutcome.SUCCESS and again.counts["created"] == 1
            assert world.sim.count(UPSERT) == 2 and world.errors() == {}
            assert world.links()["TOP"].status is LinkStatus.LINKED
        finally:
            world.engine.dispose()


def test_job_timeout_must_be_a_duration(tmp_path, sandbox):
    with pytest.raises(ConfigError) as refused:
        World(tmp_path, f"sqlite:///{tmp_path / 's.db'}", sandbox, target_extra="job_timeout: 0s")
    message = str(refused.value)
    assert "connectors[hownow].target.job_timeout: must be longer than 0s (e.g. 30m)" in message


# --- configuration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            'groups: [{from: "{{ department }}"}]',
            "hownow cannot write group memberships (its API documents no such operation)",
        ),
        (
            "enrollments: [{courses: [101]}]",
            "hownow cannot write course enrollments (its API documents no such operation)",
        ),
    ],
)
def test_config_check_refuses_groups_and_enrollments_on_hownow(tmp_path, section, message):
    path = tmp_path / "syncd.yaml"
    path.write_text(f"""
sources:
  hr: {{type: csv, path: hr.csv, key: employee_id}}
connectors:
  - name: hownow
    source: hr
    schedule: {{every: 30m}}
    target:
      type: hownow
      base_url: https://api.hownow.app
      client_id: ${{HOWNOW_CLIENT_ID}}
      client_secret: ${{HOWNOW_CLIENT_SECRET}}
      deactivate_assign_to: EXT-svc_admin
    users:
      fields: {{external_user_id: "{{{{ employee_id }}}}", name: x, email: x, user_type: ReadOnly}}
    {section}
""")
    done = run_syncd("config", "check", "--config", str(path), env=ENV, cwd=ROOT)
    assert done.returncode == 2
    assert message in done.stderr and "connectors[hownow]" in done.stderr
    assert "sandbox-hownow-secret" not in done.stdout + done.stderr


# --- pull: learning results out of HowNow ---------------------------------------------------


def delivered(world: World) -> list[dict[str, str]]:
    return read_rows(world.training)


def test_pull_delivers_progress_and_completions_once_per_change(world):
    world.write_hr(TEAM)
    world.push()
    world.sim.set_progress("EXT-R1", "course_1", 40)
    world.sim.set_progress("EXT-M", "course_2", 100)
    first = world.pull()
    assert first.outcome == CycleOutcome.SUCCESS, first.errors
    rows = {(r["hr_key"], r["course_id"]): r for r in delivered(world)}
    assert rows["R1", "course_184341"]["status"] == "in_progress"
    assert rows["R1", "course_184341"]["progress"] in ("40", "40.0")
    assert rows["M", "course_184342"]["status"] == "completed"
    assert rows["M", "course_184342"]["completed_at"].endswith("Z")
    assert rows["M", "course_184342"]["course_name"] == "Code of Conduct"
    assert world.pull().counts["delivered"] == 0  # nothing changed, nothing delivered
    world.sim.set_progress("EXT-R1", "course_1", 100)
    third = world.pull()
    assert third.counts["delivered"] == 1
    assert delivered(world)[-1]["status"] == ResultStatus.COMPLETED.value


@pytest.mark.parametrize("leaving", ["deactivated", "deleted"])
def test_a_course_finished_just_before_leaving_reaches_hr_once(tmp_path, db_url, sandbox, leaving):
    """HowNow lists no deactivated user: the push reads a leaver's results first."""
    on_missing = "delete" if leaving == "deleted" else "deactivate"
    world = World(tmp_path, db_url, sandbox, on_missing=on_missing)
    try:
        world.write_hr(TEAM)
        world.push()
        world.sim.set_progress("EXT-R2", "course_2", 100)  # finished, then left before a pull
        if leaving == "deleted":
            world.write_hr([TEAM[0], *TEAM[2:]])
        else:
            world.write_hr([TEAM[0], hr("R2", manager="M", status="left"), *TEAM[2:]])
        left = world.push()
        assert left.counts[leaving] == 1, left.errors
        assert world.users().get("R2", {}).get("status") in (None, "Deactivated")

        first = world.pull()
        assert first.outcome == CycleOutcome.SUCCESS, first.errors
        world.pull()
        rows = [(r["hr_key"], r["course_id"], r["status"]) for r in delivered(world)]
        assert rows.count(("R2", "course_184342", "completed")) == 1, rows
        pulled = [r for r in status_rows(world.engine) if r["direction"] == "pull"]
        assert [r["unlinked_results"] for r in pulled] == [0]
    finally:
        world.engine.dispose()


def test_pull_spreads_a_full_scan_over_cycles_within_its_budget(tmp_path, db_url, sandbox):
    world = World(
        tmp_path,
        db_url,
        sandbox,
        budget_share=0.5,
        rate_limit="{per_minute: 6000, per_hour: 360000, burst: 10, burst_window: 1s}",
    )
    try:
        world.write_hr([hr(f"E{i}") for i in range(1, 9)])
        world.push()
        for i in range(1, 9):
            world.sim.set_progress(f"EXT-E{i}", "course_1", 10 * i)
        results = [world.pull() for _ in range(6)]
        assert all(r.outcome == CycleOutcome.SUCCESS for r in results)
        # 0.5 of the 9 calls a second allowed: 4 reads a cycle (+1 when a token is due).
        assert all(r.counts["api_calls"] <= 5 for r in results)
        assert {r["hr_key"] for r in delivered(world)} >= {f"E{i}" for i in range(1, 9)}
        assert len(delivered(world)) == 8  # every result once, however the scan was cut
    finally:
        world.engine.dispose()


# --- the hownow sink: learning results from another LMS into HowNow -------------------------


def test_learning_records_from_another_lms_reach_howNow_and_a_failed_job_is_resent(world):
    world.sim.seed(
        {
            "users": [
                {"external_user_id": f"E{i}", "name": f"P{i}", "email": f"p{i}@acme.test"}
                for i in (1, 2)
            ],
            "contents": [
                {"external_id": "c1", "title": "Safety"},
                {"external_id": "c2", "title": "Ethics"},
            ],
        }
    )
    with world.engine.begin() as conn:
        for i in (1, 2):
            store.save_link(conn, "lms", LinkState(f"E{i}", f"u{i}", {}, True))
    lms = standard_lms(users=2, courses=2)
    lms.complete("u1", "c2")
    first = world.pull("lms", adapter=lms)
    assert first.outcome == CycleOutcome.SUCCESS, first.message
    records = {
        (r["external_user_id"], r["external_content_id"]): r
        for r in world.sim.dump()["learning_records"]
    }
    assert set(records) == {("E1", "c1"), ("E1", "c2"), ("E2", "c1"), ("E2", "c2")}
    assert records["E1", "c2"]["completion_percentage"] == 100
    # The sink's calls count in the state store against the HowNow credential's one budget,
    # the very key the HowNow connector's calls use (same base_url and client_id).
    with world.engine.connect() as conn:
        logged = conn.execute(select(rate_limit_calls.c.credential)).scalars().all()
    budget = credential_id("hownow", world.sandbox.base_url("hownow"), ENV["HOWNOW_CLIENT_ID"])
    assert set(logged) == {budget} and len(logged) == world.sim.count()
    assert records["E1", "c2"]["completion_date"] == "2024-05-02"
    assert records["E2", "c1"]["enrollment_date"] == "2024-05-01"
    # A job that fails refuses the batch: nothing is marked delivered, the next cycle resends.
    lms.set("u2", "c1", progress=75.0)
    world.sim.set_faults({"job_fail_next": 1})
    failed = world.pull("lms", adapter=lms)
    assert failed.outcome == CycleOutcome.FAILED and failed.exit_code == 4
    assert (
        "learning records failed in HowNow" in failed.message
        and "E2 in course c1" in failed.message
    )
    resent = world.pull("lms", adapter=lms)
    assert resent.outcome == CycleOutcome.SUCCESS and resent.counts["delivered"] == 1
    stored = {
        (r["external_user_id"], r["external_content_id"]): r
        for r in world.sim.dump()["learning_records"]
    }
    assert stored["E2", "c1"]["completion_percentage"] == 75


# --- lost answers and "already so" (issue: look up before resending) ---------------------------


@pytest.mark.parametrize("lost", [1, 4], ids=["resent_by_the_client", "resent_by_the_next_run"])
def test_an_upsert_whose_answer_is_lost_after_it_applied_is_never_doubled(world, lost):
    """HowNow's upsert is keyed by external_user_id, so sending it again updates the same
    user: whether the client sends it again at once or the run gives up (4 lost answers,
    every attempt) and the next run does, there is one user and no open error."""
    world.write_hr([hr("E1")])
    assert world.push().outcome == CycleOutcome.SUCCESS
    world.write_hr([hr("E1", location="LDN"), hr("E2")])
    upserts = "/external/v1/users/upsert"
    world.sim.set_faults({"drop_next": lost, "drop_after_processing": True, "paths": [upserts]})
    first = world.push()
    if lost > 1:
        assert first.outcome != CycleOutcome.SUCCESS  # no answer came at all
        time.sleep(0.3)
        assert world.push().outcome == CycleOutcome.SUCCESS
    else:
        assert first.outcome == CycleOutcome.SUCCESS, first.errors
    assert world.sim.count(UPSERT, "dropped") == lost
    ids = [u["external_user_id"] for u in world.sim.dump()["users"]]
    assert sorted(ids) == ["E1", "E2", "svc_admin"]  # each exactly once
    assert world.users()["E1"]["custom_fields"]["location"] == "LDN"
    assert world.errors() == {} and world.open_operations() == []
    assert {k: v.status for k, v in world.links().items()} == {
        "E1": LinkStatus.LINKED,
        "E2": LinkStatus.LINKED,
    }


@pytest.mark.parametrize("action", ["deactivate", "reactivate"])
def test_a_leave_or_return_whose_answer_is_lost_is_settled_by_reading_the_user(world, action):
    """The answer is lost after HowNow applied it; the client sends the PUT again and HowNow
    answers "already so" (422): the user read back settles it, with no error left."""
    world.write_hr([hr("E1")])
    world.push()
    if action == "reactivate":
        world.write_hr([hr("E1", status="left")])
        world.push()
    world.write_hr([hr("E1", status="left" if action == "deactivate" else "active")])
    path = f"/external/v1/users/EXT-E1/{action}"
    world.sim.set_faults({"drop_next": 1, "drop_after_processing": True, "paths": [path]})
    result = world.push()
    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    assert result.counts[f"{action}d"] == 1
    assert world.sim.count(f"PUT /external/v1/users/{{uid}}/{action}", 422) == 1
    wanted = "Deactivated" if action == "deactivate" else "Invited"
    assert world.users()["E1"]["status"] == wanted
    assert world.errors() == {} and world.open_operations() == []


def test_an_already_so_refusal_of_any_status_is_taken_only_when_the_user_bears_it_out(world):
    """HowNow documents no answer for "already deactivated" (Q24): a 400 saying so is done
    when the user reads deactivated, and an error naming the person when they do not."""
    world.write_hr([hr("E1"), hr("E2")])
    world.push()
    with world.sim.lock:  # an administrator deactivated E1 by hand
        world.sim.store.user_by_external("E1").deactivated_at = world.sim.clock.time()
    world.write_hr([hr("E1", status="left"), hr("E2", status="left")])
    words = {"refuse_status": 400, "refuse_message": "User is already deactivated"}
    world.sim.set_faults({"refuse_next": 2, **words, "methods": ["PUT"]})
    result = world.push()
    assert result.outcome == CycleOutcome.PARTIAL
    assert result.counts["deactivated"] == 1 and result.counts["failed"] == 1
    assert world.users()["E2"]["status"] != "Deactivated"  # the refusal's words were wrong
    assert set(world.errors()) == {("E2", "deactivate")}
    assert "HTTP 400: User is already deactivated" in world.errors()["E2", "deactivate"]
    assert world.links()["E1"].status is LinkStatus.DEACTIVATED

"""Pull cycles end to end: LMS results into real sinks, exactly once per change.

The LMS is ``FakeResultsLMS``; the sinks are the real ones (a CSV file in
tmp_path, a table in the state database, an HTTP receiver on loopback). What is
asserted is what an HR receiver and an operator would check: which rows the sink
holds, how often each result_id arrived, where the cursor stands, and what
``syncd status`` / ``syncd errors`` show.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from pydantic import TypeAdapter
from sqlalchemy import create_engine, inspect, select
from support_http import LoopbackServer, Received, Reply

from syncd.assemble import open_sink
from syncd.config.schema.sinks import SinkConfig
from syncd.engine.cycle import CycleOutcome
from syncd.engine.pull.run import PullResult, PullSettings, run_pull
from syncd.http import AuthenticationError, RetryPolicy, UnreachableError
from syncd.model import LearningResult, LinkState, ResultStatus, stable_hash
from syncd.sinks.sql import results_table
from syncd.state import results as pulled
from syncd.state import store
from syncd.state.db import make_engine
from syncd.state.lease import connector_lease
from syncd.state.status import error_rows, status_rows
from syncd.state.tables import delivered_results, sync_runs
from tests.fake_results import FakeResultsLMS, standard_lms

ROOT = Path(__file__).resolve().parents[1]
SINK = "training"
KINDS = ["csv-append", "csv-rewrite", "sql", "http"]


class Receiver:
    """The HR side of an HTTP sink: refuses the next ``failures`` requests, keeps the rest."""

    def __init__(self) -> None:
        self.failures = 0
        self.accepted: list[dict[str, Any]] = []
        self.server = LoopbackServer(self.handle)

    def handle(self, request: Received) -> Reply:
        if self.failures > 0:
            self.failures -= 1
            return Reply(503, {"error": "maintenance"})
        self.accepted.extend(request.json()["results"])
        return Reply(200, {"accepted": True})


class Target:
    """One real sink of a given kind, and a way to read back what it holds."""

    def __init__(self, kind: str, tmp_path: Path, db_url: str, receiver: Receiver | None):
        self.kind = kind
        self.db_url = db_url
        self.receiver = receiver
        self.path = tmp_path / "hr" / "training.csv"
        self.path.parent.mkdir(exist_ok=True)

    @property
    def upserts(self) -> bool:
        """Whether the sink keeps one row per result (else every delivery is a new row)."""
        return self.kind in ("csv-rewrite", "sql")

    @property
    def repeats_once(self) -> bool:
        """Whether a batch delivered again unchanged (a crash before it was recorded) is held
        once: upserting sinks, and the CSV append sink, which skips a row identical to the
        result's last one. Only the HTTP receiver sees such a repeat twice."""
        return self.upserts or self.kind == "csv-append"

    @property
    def config(self) -> dict[str, Any]:
        if self.kind.startswith("csv"):
            return {"type": "csv", "path": str(self.path), "mode": self.kind.split("-")[1]}
        if self.kind == "sql":
            return {"type": "sql", "url": self.db_url, "table": "training_records"}
        assert self.receiver is not None
        return {"type": "http", "url": self.receiver.server.url + "/training", "batch_size": 100}

    def open(self):
        config = TypeAdapter(SinkConfig).validate_python(self.config)
        return open_sink(SINK, config, retry=RetryPolicy(attempts=1, backoff_initial=0.0))

    def rows(self) -> list[dict[str, Any]]:
        """Every row the receiver holds, oldest first."""
        if self.kind.startswith("csv"):
            if not self.path.exists():
                return []
            with self.path.open(newline="") as handle:
                return list(csv.DictReader(handle))
        if self.kind == "sql":
            engine = create_engine(self.db_url)
            try:
                if not inspect(engine).has_table("training_records"):
                    return []
                with engine.connect() as conn:
                    table = results_table("training_records")
                    return [dict(r._mapping) for r in conn.execute(select(table))]
            finally:
                engine.dispose()
        assert self.receiver is not None
        return list(self.receiver.accepted)

    def copies(self) -> Counter[str]:
        return Counter(row["result_id"] for row in self.rows())


class World:
    """One connector "lms" with users u1..u4 linked to E1..E4, pulling into ``target``."""

    def __init__(self, url: str, target: Target, lms: FakeResultsLMS | None = None):
        self.engine = make_engine(url)
        self.target = target
        self.lms = lms or standard_lms()
        for number in range(1, 5):
            self.link(f"E{number}", f"u{number}")

    def link(self, hr_key: str, remote_id: str) -> None:
        with self.engine.begin() as conn:
            store.save_link(conn, "lms", LinkState(hr_key, remote_id, {}, True))

    def pull(self, sink=None, sink_name: str = SINK, **options: Any) -> PullResult:
        sink = sink or self.target.open()
        try:
            return run_pull(PullSettings("lms", self.engine, self.lms, sink, sink_name, **options))
        finally:
            sink.close()

    def cursor(self, sink_name: str = SINK) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            return pulled.load_cursor(conn, "lms", pulled.cursor_name(sink_name))

    def delivered(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            query = select(delivered_results.c.result_id, delivered_results.c.content_hash)
            return dict(conn.execute(query).all())

    def runs(self) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(sync_runs).order_by(sync_runs.c.id)))

    def pull_status(self) -> dict[str, Any]:
        [row] = [r for r in status_rows(self.engine) if r["direction"] == "pull"]
        return row


def make_world(kind: str, tmp_path: Path, url: str, stack, **lms_options: Any) -> World:
    receiver = None
    if kind == "http":
        receiver = stack.enter_context(_started(Receiver()))
    lms = standard_lms(**lms_options) if lms_options else None
    return World(url, Target(kind, tmp_path, url, receiver), lms)


class _started:
    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver

    def __enter__(self) -> Receiver:
        self.receiver.server.__enter__()
        return self.receiver

    def __exit__(self, *exc: object) -> None:
        self.receiver.server.__exit__(*exc)


@pytest.fixture
def stack():
    from contextlib import ExitStack

    with ExitStack() as opened:
        yield opened


@pytest.fixture(params=KINDS)
def world(request, migrated_db_url, tmp_path, stack):
    w = make_world(request.param, tmp_path, migrated_db_url, stack)
    yield w
    w.engine.dispose()


@pytest.fixture
def sql_world(migrated_db_url, tmp_path, stack):
    w = make_world("sql", tmp_path, migrated_db_url, stack)
    yield w
    w.engine.dispose()


class CrashAfterWrite:
    """A sink wrapper that lets the process "die" right after the sink accepted a batch."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = inner.name
        self.max_batch = inner.max_batch

    def write(self, results) -> None:
        self.inner.write(results)
        raise SystemExit("killed between the sink's answer and the cursor save")

    def close(self) -> None:
        self.inner.close()


# --- exactly once ----------------------------------------------------------------------------


def test_results_are_delivered_exactly_once_over_repeated_cycles(world):
    first = world.pull()
    assert first.outcome == CycleOutcome.SUCCESS and first.exit_code == 0
    assert first.counts == {
        "records_seen": 8,
        "delivered": 8,
        "failed": 0,
        "api_calls": 3,
        "unlinked": 0,
    }
    for _ in range(2):
        again = world.pull()
        assert again.outcome == CycleOutcome.SUCCESS
        assert again.counts["delivered"] == 0
    rows = world.target.rows()
    assert len(rows) == 8 and set(world.target.copies().values()) == {1}
    by_user = {(r["lms_user_id"], r["course_id"]): r for r in rows}
    assert by_user["u3", "c2"]["hr_key"] == "E3"
    assert by_user["u3", "c2"]["connector"] == "lms"
    assert by_user["u3", "c2"]["vendor"] == "fakelms"
    assert world.cursor() == {"seq": 8}


def test_a_changed_result_is_delivered_again_once(world):
    world.pull()
    changed = world.lms.complete("u2", "c1")
    result = world.pull()
    assert result.counts["delivered"] == 1
    assert world.pull().counts["delivered"] == 0
    copies = world.target.copies()
    expected = 1 if world.target.upserts else 2
    assert copies[changed.result_id] == expected
    assert sum(copies.values()) == 8 + (expected - 1)
    latest = [r for r in world.target.rows() if r["result_id"] == changed.result_id][-1]
    assert latest["status"] == "completed" and float(latest["progress"]) == 100
    if not world.target.upserts:  # the receiver sees the earlier state first
        earliest = next(r for r in world.target.rows() if r["result_id"] == changed.result_id)
        assert earliest["status"] == "in_progress" and float(earliest["progress"]) == 50


def test_a_full_scan_vendor_costs_reads_but_delivers_only_changes(migrated_db_url, tmp_path, stack):
    w = make_world("sql", tmp_path, migrated_db_url, stack, incremental=False)
    assert w.pull().counts["delivered"] == 8
    again = w.pull()
    assert again.counts["records_seen"] == 8 and again.counts["delivered"] == 0
    w.lms.set("u1", "c2", progress=75.0)
    assert w.pull().counts["delivered"] == 1
    rows = {(r["lms_user_id"], r["course_id"]): r for r in w.target.rows()}
    assert rows["u1", "c2"]["progress"] == 75.0 and len(rows) == 8
    w.engine.dispose()


def test_an_updated_at_only_change_is_not_a_new_delivery(sql_world):
    sql_world.pull()
    sql_world.lms.set("u1", "c1")  # same values, the LMS merely touched its timestamp
    assert sql_world.pull().counts == {
        "records_seen": 1,
        "delivered": 0,
        "failed": 0,
        "api_calls": 1,
        "unlinked": 0,
    }


SPEC_COLUMNS = (  # SPEC §4's result columns but updated_at: what syncd hashed before 0003
    "result_id", "connector", "vendor", "hr_key", "lms_user_id", "course_id", "course_name",
    "status", "progress", "score", "started_at", "completed_at", "certificate_url",
    "certificate_expires_at",
)  # fmt: skip


def test_results_delivered_before_the_added_columns_existed_are_not_delivered_again():
    result = LearningResult("ilms", "7", "c1", ResultStatus.PASSED, connector="lms", score=90.0)
    row = result.as_row()
    assert result.content_hash() == stable_hash({name: row[name] for name in SPEC_COLUMNS})
    for added in ({"credits": 0.0}, {"hours": 2.0}, {"certification_status": "Certified"}):
        assert replace(result, **added).content_hash() != result.content_hash()


def test_a_page_larger_than_the_sink_batch_is_split(migrated_db_url, tmp_path, stack):
    w = make_world("http", tmp_path, migrated_db_url, stack, page_size=5)
    receiver = w.target.receiver
    sink = open_sink(
        SINK,
        TypeAdapter(SinkConfig).validate_python({**w.target.config, "batch_size": 2}),
        retry=RetryPolicy(attempts=1),
    )
    result = w.pull(sink)
    assert result.counts["delivered"] == 8
    sizes = [len(r.json()["results"]) for r in receiver.server.requests]
    assert max(sizes) == 2 and sum(sizes) == 8
    assert set(w.target.copies().values()) == {1}
    w.engine.dispose()


# --- the cursor moves only after the sink accepted -----------------------------------------


@pytest.mark.parametrize("kind", ["csv-append", "http"])
def test_a_sink_that_failed_twice_then_recovered_gets_everything_once(
    kind, migrated_db_url, tmp_path, stack
):
    w = make_world(kind, tmp_path, migrated_db_url, stack)
    w.pull()
    cursor, accepted = w.cursor(), w.delivered()
    w.lms.complete("u1", "c1")
    w.lms.complete("u4", "c2")
    w.lms.set("u2", "c3")  # a new result
    folder = w.target.path.parent
    if kind == "http":
        w.target.receiver.failures = 2
        reason = "answered 503"
    else:
        folder.rename(folder.with_name("hr-away"))  # the share is not mounted
        reason = "does not exist"
    for _ in range(2):
        failed = w.pull()
        assert failed.outcome == CycleOutcome.FAILED and failed.exit_code == 4
        assert f"sink '{SINK}'" in failed.message and reason in failed.message
        assert failed.counts["delivered"] == 0
        assert w.cursor() == cursor and w.delivered() == accepted
        status = w.pull_status()
        assert status["state"] == "failed" and reason in status["last_error"]
    if kind != "http":
        folder.with_name("hr-away").rename(folder)
    recovered = w.pull()
    assert recovered.outcome == CycleOutcome.SUCCESS and recovered.counts["delivered"] == 3
    assert w.lms.cursors_seen[1:] == [cursor, cursor, cursor]
    assert w.cursor() == {"seq": 11}
    copies = w.target.copies()
    assert len(copies) == 9 and sum(copies.values()) == 11  # 8 first, then 3 changes, once each
    assert w.pull().counts["delivered"] == 0
    status = w.pull_status()
    assert status["state"] == "idle" and status["last_error"] is None
    w.engine.dispose()


@pytest.mark.parametrize("error", [AuthenticationError, UnreachableError])
def test_vendor_failure_fails_the_cycle_and_leaves_the_cursor(sql_world, error):
    sql_world.pull()
    cursor = sql_world.cursor()
    sql_world.lms.complete("u1", "c1")
    sql_world.lms.fail_next = error("credentials refused twice (HTTP 401)")
    result = sql_world.pull()
    assert result.outcome == CycleOutcome.FAILED and result.exit_code == 4
    assert "credentials refused twice" in result.message
    assert sql_world.cursor() == cursor
    status = sql_world.pull_status()
    assert status["state"] == "failed" and "credentials refused" in status["last_error"]
    assert sql_world.pull().counts["delivered"] == 1


def test_pages_read_before_the_vendor_failed_stay_delivered(sql_world):
    sql_world.lms.fail_next = UnreachableError("connection reset after 5 tries")
    sql_world.lms.fail_after_pages = 1
    result = sql_world.pull()
    assert result.outcome == CycleOutcome.FAILED and result.counts["delivered"] == 3
    assert sql_world.cursor() == {"seq": 3}
    assert sql_world.pull().counts["delivered"] == 5
    assert len(sql_world.target.rows()) == 8


def test_a_stop_request_ends_the_cycle_after_the_current_page(sql_world):
    sql_world.lms.page_size = 3
    import threading

    stop = threading.Event()
    stop.set()
    result = sql_world.pull(stop=stop)
    assert result.outcome == CycleOutcome.STOPPED and result.counts["delivered"] == 3
    assert sql_world.cursor() == {"seq": 3}
    assert sql_world.pull().counts["delivered"] == 5


# --- crashes between the sink's answer and the cursor save -------------------------------------


def test_a_crash_right_after_the_sink_accepted_repeats_at_most_that_batch(world):
    with pytest.raises(SystemExit):
        world.pull(CrashAfterWrite(world.target.open()))
    assert world.target.copies().total() == 3  # the sink has the first page
    assert world.cursor() is None and world.delivered() == {}
    result = world.pull()
    assert result.outcome == CycleOutcome.SUCCESS and result.counts["delivered"] == 8
    copies = world.target.copies()
    assert len(copies) == 8
    if world.target.repeats_once:
        assert set(copies.values()) == {1}
    else:  # the first page arrived twice, identical rows the receiver can de-duplicate
        assert sorted(copies.values()) == [1] * 5 + [2] * 3
        repeated = [r for r in world.target.rows() if copies[r["result_id"]] == 2]
        assert repeated[:3] == repeated[3:]
    assert world.pull().counts["delivered"] == 0
    assert copies == world.target.copies()
    first, *_ = world.runs()
    assert first.outcome == "aborted" and first.direction == "pull"


@pytest.mark.parametrize("kind", ["sql", "csv-append"])
def test_a_killed_pull_process_loses_nothing_and_repeats_at_most_one_batch(
    kind, migrated_db_url, tmp_path, stack
):
    w = make_world(kind, tmp_path, migrated_db_url, stack)
    child = subprocess.run(
        [sys.executable, "-m", "tests.fake_results", migrated_db_url, json.dumps(w.target.config)],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    assert child.returncode == -9, child.stderr.decode()[-2000:]
    assert w.target.copies().total() == 3 and w.delivered() == {}
    result = _pull_when_lease_free(w)
    assert result.outcome == CycleOutcome.SUCCESS and result.counts["delivered"] == 8
    copies = w.target.copies()
    assert len(copies) == 8 and max(copies.values()) == (1 if w.target.repeats_once else 2)
    assert w.pull().counts["delivered"] == 0
    assert w.runs()[0].outcome == "aborted"
    w.engine.dispose()


def _pull_when_lease_free(w: World) -> PullResult:
    """PostgreSQL frees a dead session's lock once it notices the closed connection."""
    for _ in range(100):
        result = w.pull()
        if result.outcome != CycleOutcome.BUSY:
            return result
        time.sleep(0.05)
    raise AssertionError("the killed process's lease was never released")


# --- people syncd does not know ----------------------------------------------------------------


def unlinked_gauge() -> float | None:
    """``syncd_unlinked_results{connector="lms"}`` as /metrics shows it."""
    return REGISTRY.get_sample_value("syncd_unlinked_results", {"connector": "lms"})


def test_results_of_an_unlinked_account_are_counted_apart_and_delivered_once_linked(world):
    """An administrator or external learner fails nothing; linked later, nothing is lost."""
    world.lms.set("u9", "c1")
    world.lms.complete("u9", "c7", score=70.0)
    result = world.pull()
    assert result.outcome == CycleOutcome.SUCCESS and result.exit_code == 0
    assert result.counts["failed"] == 0 and result.counts["delivered"] == 8
    assert result.counts["unlinked"] == 2
    assert {r["lms_user_id"] for r in world.target.rows()} == {"u1", "u2", "u3", "u4"}
    assert error_rows(world.engine, "lms") == []
    status = world.pull_status()
    assert (status["unlinked_results"], status["failed_ops"], status["pending_ops"]) == (2, 0, 0)
    assert status["state"] == "idle" and status["last_error"] is None
    assert world.cursor() == {"seq": 10}  # the cursor moved on: the results are kept aside
    assert unlinked_gauge() == 2

    still = world.pull()
    assert still.outcome == CycleOutcome.SUCCESS and still.counts["delivered"] == 0
    assert world.pull_status()["unlinked_results"] == 2  # the same two, not counted twice

    world.link("E9", "u9")
    linked = world.pull()
    assert linked.outcome == CycleOutcome.SUCCESS and linked.counts["delivered"] == 2
    rows = [r for r in world.target.rows() if r["lms_user_id"] == "u9"]
    assert len(rows) == 2 and {r["hr_key"] for r in rows} == {"E9"}
    assert {r["status"] for r in rows} == {"in_progress", "completed"}
    assert world.pull_status()["unlinked_results"] == 0
    assert unlinked_gauge() == 0
    assert world.pull().counts["delivered"] == 0
    assert set(world.target.copies().values()) == {1}


def test_with_unlinked_ignore_nothing_is_reported_and_nothing_is_lost(sql_world):
    sql_world.lms.set("u9", "c1")
    result = sql_world.pull(unlinked="ignore")
    assert result.outcome == CycleOutcome.SUCCESS and result.counts["unlinked"] == 0
    assert sql_world.pull_status()["unlinked_results"] == 0
    assert unlinked_gauge() == 0
    assert error_rows(sql_world.engine, "lms") == []
    sql_world.link("E9", "u9")  # kept all the same, quietly: delivered once linked
    assert sql_world.pull(unlinked="ignore").counts["delivered"] == 1


def test_a_newer_result_of_an_unknown_user_replaces_the_kept_one(sql_world):
    sql_world.lms.set("u9", "c1")
    sql_world.pull()
    sql_world.lms.complete("u9", "c1")
    sql_world.pull()
    sql_world.link("E9", "u9")
    assert sql_world.pull().counts["delivered"] == 1
    [row] = [r for r in sql_world.target.rows() if r["lms_user_id"] == "u9"]
    assert row["status"] == "completed" and row["hr_key"] == "E9"


def test_users_the_adapter_could_not_map_fail_nothing(sql_world):
    sql_world.lms.report_unknown = {"u9"}  # an adapter that skips unlinked u9
    sql_world.lms.set("u9", "c1")
    result = sql_world.pull()
    assert result.outcome == CycleOutcome.SUCCESS and result.counts["failed"] == 0
    assert error_rows(sql_world.engine, "lms") == []


def test_a_result_without_a_course_is_rejected_with_its_reason(sql_world):
    sql_world.lms.set("u1", "")
    result = sql_world.pull()
    assert result.outcome == CycleOutcome.PARTIAL and result.counts["delivered"] == 8
    [error] = error_rows(sql_world.engine, "lms")
    assert error["hr_key"] == "lms:u1" and error["operation"] == "validate"
    assert "no course_id" in error["reason"]


def test_an_adapter_may_map_users_itself(sql_world):
    sql_world.lms.set("u9", "c1")

    original = sql_world.lms.pull

    def pull_with_keys(cursor):
        for page in original(cursor):
            page.results = [
                replace(result, hr_key="E9-from-vendor") if result.lms_user_id == "u9" else result
                for result in page.results
            ]
            yield page

    sql_world.lms.pull = pull_with_keys
    assert sql_world.pull().outcome == CycleOutcome.SUCCESS
    [row] = [r for r in sql_world.target.rows() if r["lms_user_id"] == "u9"]
    assert row["hr_key"] == "E9-from-vendor"


# --- runs, status, leases, sinks ---------------------------------------------------------------


def test_each_cycle_is_a_pull_run_and_status_row(sql_world):
    sql_world.pull()
    sql_world.lms.complete("u1", "c1")
    sql_world.pull()
    runs = sql_world.runs()
    assert [(r.direction, r.outcome) for r in runs] == [("pull", "success")] * 2
    assert (runs[0].records_seen, runs[0].delivered, runs[0].failed, runs[0].api_calls) == (
        8,
        8,
        0,
        3,
    )
    assert (runs[1].records_seen, runs[1].delivered) == (1, 1)
    assert all(r.finished_at is not None for r in runs)
    status = sql_world.pull_status()
    assert status["connector"] == "lms" and status["state"] == "idle"
    assert status["last_started_at"] and status["last_finished_at"] and status["last_success_at"]
    assert status["last_error"] is None
    assert [r["direction"] for r in status_rows(sql_world.engine)] == ["pull"]


def test_a_failed_cycle_keeps_the_last_success_time(sql_world):
    sql_world.pull()
    success = sql_world.pull_status()["last_success_at"]
    sql_world.lms.fail_next = UnreachableError("vendor down")
    sql_world.pull()
    status = sql_world.pull_status()
    assert status["state"] == "failed" and status["last_success_at"] == success
    assert sql_world.runs()[-1].outcome == "failed"


def test_a_second_process_finds_the_pull_busy(sql_world):
    with connector_lease(sql_world.engine, "lms:pull") as held:
        assert held
        result = sql_world.pull()
    assert result.outcome == CycleOutcome.BUSY and result.exit_code == 0
    assert sql_world.target.rows() == [] and sql_world.runs() == []


def test_switching_sinks_delivers_everything_to_the_new_one(sql_world, tmp_path):
    sql_world.pull()
    archive = tmp_path / "archive.csv"
    config = TypeAdapter(SinkConfig).validate_python({"type": "csv", "path": str(archive)})
    moved = sql_world.pull(open_sink("archive", config), sink_name="archive")
    assert moved.counts["delivered"] == 8
    with archive.open(newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 8
    assert sql_world.lms.cursors_seen[-1] is None  # read from the start for the new sink
    assert sql_world.pull().counts["delivered"] == 0  # the first sink is still up to date


def test_results_keep_their_values_through_every_sink(world):
    world.lms.set(
        "u1",
        "c1",
        status=ResultStatus.PASSED,
        score=87.5,
        certificate_url="https://lms.example/cert/1",
    )
    world.pull()
    [row] = [r for r in world.target.rows() if (r["lms_user_id"], r["course_id"]) == ("u1", "c1")]
    assert row["status"] == "passed" and float(row["score"]) == 87.5
    assert row["certificate_url"] == "https://lms.example/cert/1"
    assert row["completed_at"] in (None, "")  # unknown stays empty, never invented

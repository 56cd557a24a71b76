"""`syncd run` as a real process: schedules, serves /healthz /metrics /status, stops cleanly.

Each test starts the daemon as a subprocess against the TalentLMS simulator and a
state store (SQLite, or PostgreSQL when configured), and checks what an operator
would: the endpoints, the LMS, the status table, the exit code after SIGTERM.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

import syncd
from syncd.sandbox import Sandbox
from syncd.state.db import make_engine
from syncd.state.tables import operations, sync_runs
from tests.support import configs
from tests.support.cli import run_syncd, syncd_command

pytestmark = pytest.mark.slow

SECRET = "sandbox-talentlms-key"


def write_hr(path: Path, count: int, start: int = 0) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["employee_id", "first_name", "last_name", "email", "department"])
        for i in range(start, start + count):
            writer.writerow([f"E{i:04d}", f"First{i}", f"Last{i}", f"e{i}@daemon.test", "Sales"])


def write_config(
    tmp_path: Path,
    state_url: str,
    base_url: str,
    *,
    every: str = "1s",
    paused: bool = False,
    listen: str = "127.0.0.1:0",
) -> Path:
    connector = configs.talentlms_connector(
        "talentlms",
        base_url,
        SECRET,
        schedule={"every": every},
        paused=paused,
        groups=[{"from": "{{ department }}", "create_missing": True}],
        guard={"max_deactivations": "100%"},
        pull={"sink": "training", "schedule": {"every": every}},
    )
    return configs.write_config(
        tmp_path,
        state_url,
        connector,
        log={"format": "json", "level": "info"},
        server={"listen": listen},
        sinks={"training": {"type": "csv", "path": str(tmp_path / "results.csv")}},
    )


class Daemon:
    """A `syncd run` subprocess whose log lines are read as they come."""

    def __init__(self, config: Path, log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            syncd_command("run", "--config", str(config)),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )
        started = self.wait_for_event("daemon_started", timeout=60)
        self.url = f"http://{started['listen']}"

    def events(self) -> list[dict]:
        lines = self.log_path.read_text(errors="replace").splitlines()
        found = []
        for line in lines:
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
        return found

    def wait_for_event(self, name: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events():
                if event.get("event") == name:
                    return event
            if self.process.poll() is not None:
                raise AssertionError(f"syncd run exited {self.process.returncode}:\n{self.text()}")
            time.sleep(0.1)
        raise AssertionError(f"no {name} event within {timeout}s:\n{self.text()[-3000:]}")

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10)

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            self._log.close()

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")


def eventually(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout}s: {what}")


def lms_users(sandbox: Sandbox) -> list[dict]:
    users = sandbox.sim("talentlms").dump()["users"]
    return [u for u in users if u["email"].endswith("daemon.test")]


def completions(tmp_path: Path) -> list[tuple[str, str]]:
    path = tmp_path / "results.csv"
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [(r["hr_key"], r["course_id"]) for r in rows if r["status"] in ("completed", "passed")]


def status_of(daemon: Daemon, direction: str) -> dict:
    rows = daemon.get("/status").json()["connectors"]
    return next((r for r in rows if r["direction"] == direction), {})


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """``/metrics`` read as Prometheus reads it: (sample name, labels) -> value."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(found: dict, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


DAEMON_EVENTS = {"store_migrated", "schedule_ready", "daemon_started", "daemon_stopping"}
"""Lines of the daemon itself; every other line belongs to a cycle and says which."""


def assert_cycle_lines_say_their_cycle(daemon: Daemon) -> None:
    events = daemon.events()
    for event in events:
        stamp = event["timestamp"]
        assert stamp.endswith("Z") and datetime.fromisoformat(stamp).tzinfo is not None, event
        if event["event"] in DAEMON_EVENTS or event["event"].startswith("daemon_"):
            continue
        assert "logger" not in event, f"a library's chatter: {event}"
        assert event.get("connector") == "talentlms", event
        assert event.get("vendor") == "talentlms" and event.get("run_id"), event
    finished = [e for e in events if e["event"] in ("push_finished", "pull_finished")]
    assert finished and all(e["level"] == "info" for e in finished)
    for summary in finished:
        assert {"direction", "outcome", "api_calls", "duration_s", "run_id"} <= summary.keys()


def test_the_daemon_schedules_serves_and_stops_cleanly(tmp_path, db_url):
    write_hr(tmp_path / "hr.csv", 5)
    with Sandbox(vendors=["talentlms"], job_duration=0.2) as sandbox:
        config = write_config(tmp_path, db_url, sandbox.base_url("talentlms"))
        daemon = Daemon(config, tmp_path / "daemon.log")
        try:
            assert daemon.get("/healthz").json() == {"status": "ok"}
            eventually(lambda: len(lms_users(sandbox)) == 5, 60, "the first push created 5")
            eventually(
                lambda: (
                    status_of(daemon, "push").get("last_success_at") is not None
                    and status_of(daemon, "pull").get("last_success_at") is not None
                ),
                60,
                "push and pull both succeeded",
            )
            push = status_of(daemon, "push")
            assert push["next_run_at"] is not None and push["failed_ops"] == 0

            # The schedule goes on: a new hire written to HR reaches the LMS by itself.
            write_hr(tmp_path / "hr.csv", 6)
            eventually(lambda: len(lms_users(sandbox)) == 6, 60, "the new hire was created")

            # A completion reaches the HR sink through the scheduled pull, once.
            hire = next(u for u in lms_users(sandbox) if u["login"] == "E0000")
            sandbox.sim("talentlms").complete(int(hire["id"]), 101, score=88)
            eventually(lambda: completions(tmp_path) == [("E0000", "101")], 60, "completion")
            time.sleep(2.5)  # more scheduled pulls
            assert completions(tmp_path) == [("E0000", "101")]

            found = samples(daemon.get("/metrics").text)
            lms = {"connector": "talentlms"}
            push = {**lms, "direction": "push"}
            created = sample(found, "syncd_operations_total", **lms, kind="create", outcome="done")
            assert created == 6
            succeeded = sample(found, "syncd_last_success_timestamp_seconds", **push)
            assert abs(succeeded - time.time()) < 120
            assert sample(found, "syncd_cycles_total", **push, outcome="success") >= 2
            assert sample(found, "syncd_cycle_duration_seconds_count", **push) >= 2
            calls = sample(
                found, "syncd_vendor_api_calls_total", **lms, vendor="talentlms", status="200"
            )
            assert calls > 0
            assert sample(found, "syncd_pending_operations", **lms) == 0
            assert sample(found, "syncd_queue_depth", **lms) == 0
            assert sample(found, "syncd_open_errors", **lms) == 0
            assert sample(found, "syncd_quarantined", **push) == 0
            assert sample(found, "syncd_guard_tripped", **push) == 0
            assert sample(found, "syncd_build_info", version=syncd.__version__) == 1
            assert daemon.get("/readyz").json() == {"status": "ok"}
            assert daemon.get("/status").json()["status"] == "ok"
        finally:
            code = daemon.stop()
    assert code == 0, daemon.text()[-3000:]
    names = [e.get("event") for e in daemon.events()]
    assert names.index("daemon_stopping") < names.index("daemon_stopped")
    assert SECRET not in daemon.text()
    assert_cycle_lines_say_their_cycle(daemon)


def test_sigterm_mid_push_stops_between_batches_and_the_next_run_finishes(tmp_path, db_url):
    write_hr(tmp_path / "hr.csv", 150)
    with Sandbox(vendors=["talentlms"], job_duration=0.2) as sandbox:
        sandbox.sim("talentlms").set_faults({"latency": 0.05})
        config = write_config(tmp_path, db_url, sandbox.base_url("talentlms"), every="1h")
        daemon = Daemon(config, tmp_path / "daemon.log")
        try:
            eventually(lambda: len(lms_users(sandbox)) > 0, 60, "the push began creating")
            stopping = time.monotonic()
            code = daemon.stop()
            took = time.monotonic() - stopping
        finally:
            daemon.stop()
        assert code == 0, daemon.text()[-3000:]
        assert took < 20, f"stopping took {took:.1f}s"
        stopped = [e for e in daemon.events() if e.get("event") == "push_finished"]
        assert stopped and stopped[-1]["outcome"] == "stopped", daemon.text()[-3000:]

        engine = make_engine(db_url)
        try:
            with engine.connect() as conn:
                running = conn.execute(
                    select(func.count()).select_from(sync_runs).where(sync_runs.c.outcome.is_(None))
                ).scalar_one()
                states = dict(
                    conn.execute(
                        select(operations.c.state, func.count()).group_by(operations.c.state)
                    ).all()
                )
        finally:
            engine.dispose()
        assert running == 0  # the stopped run is recorded as such, not left open
        assert "failed" not in states and states.get("pending", 0) > 0, states

        sync = run_syncd(
            "sync", "talentlms", "--direction", "push", "--config", str(config), timeout=300
        )
        assert sync.returncode == 0, sync.stderr[-3000:]
        emails = [u["email"] for u in lms_users(sandbox)]
    assert len(emails) == 150 and len(set(emails)) == 150


def test_two_replicas_on_one_store_run_each_cycle_once(tmp_path, db_url):
    write_hr(tmp_path / "hr.csv", 40)
    with Sandbox(vendors=["talentlms"], job_duration=0.2) as sandbox:
        config = write_config(tmp_path, db_url, sandbox.base_url("talentlms"))
        first = Daemon(config, tmp_path / "first.log")
        second = Daemon(config, tmp_path / "second.log")
        try:
            eventually(lambda: len(lms_users(sandbox)) == 40, 90, "40 people created")
            write_hr(tmp_path / "hr.csv", 60)
            eventually(lambda: len(lms_users(sandbox)) == 60, 90, "20 more created")
            time.sleep(3)  # several more scheduled cycles on both replicas
        finally:
            codes = [first.stop(), second.stop()]
        emails = [u["email"] for u in lms_users(sandbox)]
    assert codes == [0, 0]
    assert len(emails) == len(set(emails)) == 60
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            runs = conn.execute(
                select(sync_runs.c.started_at, sync_runs.c.finished_at)
                .where(sync_runs.c.direction == "push")
                .order_by(sync_runs.c.started_at)
            ).all()
    finally:
        engine.dispose()
    assert len(runs) >= 3
    for earlier, later in itertools.pairwise(runs):
        assert earlier.finished_at <= later.started_at, "two push cycles overlapped"
    # Both replicas really competed for the cycles: each started pushes or found one running.
    for daemon in (first, second):
        tried = {e.get("event") for e in daemon.events()} & {"push_started", "push_busy"}
        assert tried, f"{daemon.log_path.name} never tried a push"


def test_a_paused_connector_is_shown_paused_and_not_run(tmp_path, db_url):
    write_hr(tmp_path / "hr.csv", 3)
    with Sandbox(vendors=["talentlms"]) as sandbox:
        config = write_config(tmp_path, db_url, sandbox.base_url("talentlms"), paused=True)
        daemon = Daemon(config, tmp_path / "daemon.log")
        try:
            assert status_of(daemon, "push")["state"] == "paused"
            time.sleep(2)
            assert lms_users(sandbox) == []
        finally:
            assert daemon.stop() == 0


def test_a_listen_address_in_use_is_a_clear_error(tmp_path, db_url):
    import socket

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    write_hr(tmp_path / "hr.csv", 1)
    config = write_config(tmp_path, db_url, "http://127.0.0.1:9", listen=f"127.0.0.1:{port}")
    try:
        done = run_syncd("run", "--config", str(config), timeout=60)
    finally:
        holder.close()
    assert done.returncode == 2
    assert f"cannot serve on 127.0.0.1:{port}" in done.stderr


def test_a_revoked_key_is_loud_at_once_quarantined_and_shown_degraded(tmp_path, db_url):
    write_hr(tmp_path / "hr.csv", 3)
    with Sandbox(vendors=["talentlms"]) as sandbox:
        config = write_config(tmp_path, db_url, sandbox.base_url("talentlms"))
        config.write_text(config.read_text().replace(SECRET, "revoked-key"))
        daemon = Daemon(config, tmp_path / "daemon.log")
        try:
            failed = daemon.wait_for_event("push_failed", timeout=60)
            quarantined = daemon.wait_for_event("cycle_quarantined", timeout=30)
            eventually(lambda: status_of(daemon, "push").get("state") == "failed", 60, "failed")
            ready = daemon.get("/readyz")
            alive = daemon.get("/healthz")
            status = daemon.get("/status").json()
            found = samples(daemon.get("/metrics").text)
            time.sleep(4)  # four more ticks of the 1 s schedule
            push = status_of(daemon, "push")
            held = [e for e in daemon.events() if e.get("event") == "cycle_held_back"]
            started = [e for e in daemon.events() if e.get("event") == "push_started"]
        finally:
            assert daemon.stop() == 0
    # The first failure says why, at error: the vendor, its status and its own words.
    assert failed["level"] == "error" and failed["status"] == 401
    assert failed["vendor"] == "talentlms" and failed["connector"] == "talentlms"
    assert "Invalid API key provided." in failed["reason"] and failed["run_id"]
    summary = next(
        e for e in daemon.events() if e["event"] == "push_finished" and e["outcome"] == "failed"
    )
    assert summary["level"] == "info" and summary["run_id"] == failed["run_id"]
    # Quarantine from the first failure on, with its reason and the next attempt.
    assert quarantined["failures_in_a_row"] == 1 and quarantined["level"] == "warning"
    assert "Invalid API key provided." in quarantined["reason"]
    assert quarantined["next_attempt_at"].endswith("Z")
    # Alive (a restart would not help), but not ready, and /status says why.
    assert alive.status_code == 200
    assert ready.status_code == 503 and ready.json()["status"] == "degraded"
    for said in (ready.json(), status):
        assert said["status"] == "degraded"
        assert any(
            p.startswith("talentlms push: quarantined after 1 failed cycle") and "401" in p
            for p in said["problems"]
        ), said
    lms = {"connector": "talentlms"}
    assert sample(found, "syncd_quarantined", **lms, direction="push") == 1
    assert sample(found, "syncd_cycles_total", **lms, direction="push", outcome="failed") == 1
    refused = sample(found, "syncd_vendor_api_calls_total", **lms, vendor="talentlms", status="401")
    assert refused >= 1
    assert sample(found, "syncd_last_success_timestamp_seconds", **lms, direction="push") is None

    assert "refused" in push["last_error"] or "401" in push["last_error"], push
    assert len(started) == 1, "a refused key was tried again at every tick"
    assert held and all(e["connector"] == "talentlms" for e in held)
    assert push["next_run_at"] > push["last_finished_at"]  # about a minute later
    assert "revoked-key" not in daemon.text()


def test_a_portal_talentlms_refuses_whole_is_quarantined_with_its_operations_open(tmp_path, db_url):
    """TalentLMS's 403 ("API is not enabled ... or the domain is currently inactive") ends
    the daemon's cycle as a 401 does: quarantined, saying why, blaming no person."""
    from syncd.state.tables import sync_errors

    write_hr(tmp_path / "hr.csv", 3)
    with Sandbox(vendors=["talentlms"]) as sandbox:
        writes = ["POST", "PATCH", "PUT", "DELETE"]  # inactive after the cycle read the portal
        sandbox.sim("talentlms").set_faults({"portal_inactive": True, "methods": writes})
        config = write_config(tmp_path, db_url, sandbox.base_url("talentlms"))
        daemon = Daemon(config, tmp_path / "daemon.log")
        try:
            failed = daemon.wait_for_event("push_failed", timeout=60)
            quarantined = daemon.wait_for_event("cycle_quarantined", timeout=30)
            daemon.wait_for_event("cycle_held_back", timeout=30)
            ready = daemon.get("/readyz").json()
        finally:
            assert daemon.stop() == 0
        assert lms_users(sandbox) == []
    assert failed["status"] == 403 and "refused the whole portal" in failed["reason"]
    assert "domain is currently inactive" in failed["reason"]
    assert quarantined["failures_in_a_row"] == 1 and "403" in quarantined["reason"]
    assert any(
        p.startswith("talentlms push: quarantined after 1 failed cycle") for p in ready["problems"]
    ), ready
    started = [e for e in daemon.events() if e.get("event") == "push_started"]
    assert len(started) == 1, "a refused portal was tried again while quarantined"
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            states = {row.state for row in conn.execute(select(operations.c.state))}
            errors = conn.execute(select(sync_errors)).all()
    finally:
        engine.dispose()
    assert states and states <= {"pending", "sent"}, states  # open for the next cycle
    assert errors == []  # no person is blamed for the portal


def test_status_counts_the_outbox_while_a_sync_runs_and_calls_a_killed_one_interrupted(
    tmp_path, db_url
):
    write_hr(tmp_path / "hr.csv", 120)
    with Sandbox(vendors=["talentlms"], job_duration=0.2) as sandbox:
        sandbox.sim("talentlms").set_faults({"latency": 0.05})
        config = write_config(tmp_path, db_url, sandbox.base_url("talentlms"), every="1h")
        assert run_syncd("db", "upgrade", "--config", str(config)).returncode == 0
        sync = subprocess.Popen(
            syncd_command("sync", "talentlms", "--direction", "push", "--config", str(config)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        engine = make_engine(db_url)
        try:

            def waiting() -> int:
                with engine.connect() as conn:
                    return conn.execute(
                        select(func.count())
                        .select_from(operations)
                        .where(operations.c.state.in_(["pending", "sent", "waiting", "unknown"]))
                    ).scalar_one()

            def shown() -> dict:
                done = run_syncd("status", "--json", "--config", str(config))
                assert done.returncode == 0, done.stderr
                return next(r for r in json.loads(done.stdout) if r["direction"] == "push")

            eventually(lambda: waiting() > 100, 120, "the plan is in the outbox")
            running = shown()
            assert running["state"] == "running" and running["pending_ops"] > 100, running
            sync.send_signal(signal.SIGKILL)
            sync.wait(timeout=30)
            after = shown()
            left = waiting()
        finally:
            if sync.poll() is None:
                sync.kill()
            engine.dispose()
    assert after["state"] == "interrupted", after
    assert after["pending_ops"] == left > 0


def test_failed_operations_and_a_tripped_guard_make_the_daemon_degraded(tmp_path, db_url):
    write_hr(tmp_path / "hr.csv", 10)  # all in "Sales", a group the portal does not have
    with Sandbox(vendors=["talentlms"], job_duration=0.2) as sandbox:
        connector = configs.talentlms_connector(
            "talentlms",
            sandbox.base_url("talentlms"),
            SECRET,
            schedule={"every": "1s"},
            groups=[{"from": "{{ department }} Desk"}],
            guard={"max_deactivations": "10%"},
        )
        config = configs.write_config(
            tmp_path,
            db_url,
            connector,
            log={"format": "json", "level": "info"},
            server={"listen": "127.0.0.1:0"},
        )
        daemon = Daemon(config, tmp_path / "daemon.log")
        try:
            eventually(lambda: len(lms_users(sandbox)) == 10, 60, "10 people created")
            eventually(lambda: daemon.get("/readyz").status_code == 503, 30, "not ready")
            eventually(  # the cycle records its failures one by one: wait for the last
                lambda: "10 failed operations" in str(daemon.get("/readyz").json()), 30, "all 10"
            )
            failing = daemon.get("/readyz").json()
            found = samples(daemon.get("/metrics").text)

            write_hr(tmp_path / "hr.csv", 1)  # nine leavers: more than 10% of the linked
            eventually(lambda: status_of(daemon, "push").get("state") == "guarded", 60, "guard")
            guarded = daemon.get("/readyz").json()
            tripped = samples(daemon.get("/metrics").text)
        finally:
            assert daemon.stop() == 0
    assert failing["problems"] == [
        "talentlms: 10 failed operations (`syncd errors talentlms` says why; "
        "`syncd retry talentlms` sends them again)"
    ]
    assert sample(found, "syncd_open_errors", connector="talentlms") == 10
    assert sample(found, "syncd_guard_tripped", connector="talentlms", direction="push") == 0
    assert sample(found, "syncd_cycles_total", connector="talentlms", direction="push",
                  outcome="partial") >= 1
    # Partial cycles are no success; a later cycle with nothing left to send may be one.
    successes = sample(found, "syncd_cycles_total", connector="talentlms", direction="push",
                       outcome="success")
    last_success = sample(found, "syncd_last_success_timestamp_seconds", connector="talentlms",
                          direction="push")
    assert (last_success is None) == (not successes), (last_success, successes)
    assert any(
        p.startswith("talentlms push: stopped by its safety guard") and "syncd approve" in p
        for p in guarded["problems"]
    ), guarded
    assert sample(tripped, "syncd_guard_tripped", connector="talentlms", direction="push") == 1
    assert len([u for u in lms_users(sandbox) if u["status"] == "active"]) == 10  # none left

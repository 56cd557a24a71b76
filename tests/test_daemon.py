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
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

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


def test_the_daemon_schedules_serves_and_stops_cleanly(tmp_path, db_url):
    write_hr(tmp_path / "hr.csv", 5)
    with Sandbox(vendors=["talentlms"], job_duration=0.2) as sandbox:
        config = write_config(tmp_path, db_url, sandbox.base_url("talentlms"))
        daemon = Daemon(config, tmp_path / "daemon.log")
        try:
            assert daemon.get("/healthz").json() == {"status": "ok"}
            eventually(lambda: len(lms_users(sandbox)) == 5, 60, "the first push created 5")
            eventually(
                lambda: status_of(daemon, "push").get("last_success_at") is not None
                and status_of(daemon, "pull").get("last_success_at") is not None,
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

            metrics = daemon.get("/metrics").text
            created = 'syncd_operations_total{connector="talentlms",kind="create",outcome="done"}'
            assert f"{created} 6.0" in metrics
            assert 'syncd_last_success_timestamp_seconds{connector="talentlms",direction="push"}' \
                in metrics
            calls = '{connector="talentlms",status="200",vendor="talentlms"}'
            assert f"syncd_vendor_api_calls_total{calls}" in metrics
            assert 'syncd_queue_depth{connector="talentlms"} 0.0' in metrics
        finally:
            code = daemon.stop()
    assert code == 0, daemon.text()[-3000:]
    names = [e.get("event") for e in daemon.events()]
    assert names.index("daemon_stopping") < names.index("daemon_stopped")
    assert SECRET not in daemon.text()


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


def test_a_connector_whose_credentials_are_refused_is_quarantined(tmp_path, db_url):
    write_hr(tmp_path / "hr.csv", 3)
    with Sandbox(vendors=["talentlms"]) as sandbox:
        config = write_config(tmp_path, db_url, sandbox.base_url("talentlms"))
        config.write_text(config.read_text().replace(SECRET, "revoked-key"))
        daemon = Daemon(config, tmp_path / "daemon.log")
        try:
            eventually(lambda: status_of(daemon, "push").get("state") == "failed", 60, "failed")
            time.sleep(4)  # four more ticks of the 1 s schedule
            push = status_of(daemon, "push")
            held = [e for e in daemon.events() if e.get("event") == "cycle_held_back"]
            started = [e for e in daemon.events() if e.get("event") == "push_started"]
        finally:
            assert daemon.stop() == 0
    assert "refused" in push["last_error"] or "401" in push["last_error"], push
    assert len(started) == 1, "a refused key was tried again at every tick"
    assert held and all(e["connector"] == "talentlms" for e in held)
    assert push["next_run_at"] > push["last_finished_at"]  # about a minute later
    assert "revoked-key" not in daemon.text()

"""Results of LMS accounts syncd does not manage (the portal's administrator, external
learners): counted apart, never a failure of the pull (``pull.unlinked``).

Against the TalentLMS sandbox, whose portal has an administrator no HR person is linked
to, with the state store on SQLite and on PostgreSQL. ``syncd`` runs as a user runs it
(a real process) for the exit code, the status table and the errors; the ``/metrics``
text is rendered in-process after one more cycle.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from syncd.assemble import load_config, open_state, pull_once, push_once
from syncd.metrics import render
from syncd.sandbox import Sandbox
from syncd.state.status import error_rows
from tests.support.cli import run_syncd
from tests.support.configs import talentlms_connector, write_config
from tests.support.e2e import hr_person, read_rows, write_rows

API_KEY = "sandbox-talentlms-key"
ADMIN = 1  # the portal's administrator, in the sandbox's start-up data
COURSE = 101


def configure(tmp_path: Path, db_url: str, base_url: str, **pull: str) -> Path:
    connector = talentlms_connector(
        "lms",
        base_url,
        API_KEY,
        pull={"sink": "training", "start_date": "2020-01-01", **pull},
    )
    connector["target"]["rate_limit"] = {"per_hour": 100_000, "burst": 5_000}
    connector["users"]["fields"]["login"] = "{{ employee_id | lower }}"
    write_rows(tmp_path / "hr.csv", list(hr_person("E1")), [hr_person("E1")])
    sinks = {"training": {"type": "csv", "path": str(tmp_path / "training.csv")}}
    return write_config(tmp_path, db_url, connector, sinks=sinks)


def syncd(*args: str) -> subprocess.CompletedProcess[str]:
    """``syncd ARGS`` configured by its file only."""
    return run_syncd(*args, without=[k for k in os.environ if k.startswith("SYNCD_")])


def pull_status(path: Path) -> dict:
    shown = syncd("status", "--json", "--config", str(path))
    assert shown.returncode == 0, shown.stderr
    [row] = [r for r in json.loads(shown.stdout) if r["direction"] == "pull"]
    return row


class InProcess:
    """The connector run in this process: its push, its errors, its /metrics text."""

    def __init__(self, path: Path) -> None:
        self.config = load_config(path)
        self.engine = open_state(self.config)

    def push(self) -> None:
        assert push_once(self.config, "lms", self.engine).exit_code == 0

    def errors(self) -> list[dict]:
        return error_rows(self.engine, "lms")

    def gauge_after_one_more_pull(self) -> str:
        """The ``syncd_unlinked_results`` line of /metrics after a pull here."""
        assert pull_once(self.config, "lms", self.engine).exit_code == 0
        text = render()[0].decode()
        prefix = 'syncd_unlinked_results{connector="lms"}'
        return next(line for line in text.splitlines() if line.startswith(prefix))

    def close(self) -> None:
        self.engine.dispose()


def learn(portal) -> None:
    """E1 (linked by the push) and the administrator (linked to nobody) finish a course."""
    [e1] = [u["id"] for u in portal.dump()["users"] if u["login"] == "e1"]
    portal.complete(e1, COURSE, score=90)
    portal.complete(ADMIN, COURSE, score=100)


@pytest.fixture
def connector(tmp_path, db_url):
    """``make(**pull)``: a TalentLMS portal of its own, and the connector syncing it."""
    limits = {"hourly_limit": 1_000_000, "burst_limit": 100_000}
    made: list[InProcess] = []
    with Sandbox(vendors=["talentlms"], job_duration=0.05, talentlms=limits) as sandbox:

        def make(**pull: str) -> tuple[Path, InProcess, Any]:
            path = configure(tmp_path, db_url, sandbox.base_url("talentlms"), **pull)
            made.append(InProcess(path))
            return path, made[-1], sandbox.sim("talentlms")

        yield make
        for lms in made:
            lms.close()


def test_an_administrators_completion_fails_no_pull_and_is_counted_apart(tmp_path, connector):
    path, lms, portal = connector()
    lms.push()
    learn(portal)

    pulled = syncd("sync", "lms", "--direction", "pull", "--config", str(path))
    assert pulled.returncode == 0, pulled.stderr  # not partial: an unmanaged account
    status = pull_status(path)
    assert (status["unlinked_results"], status["failed_ops"], status["state"]) == (1, 0, "idle")
    assert status["last_error"] is None and lms.errors() == []
    rows = read_rows(tmp_path / "training.csv")
    assert [(r["hr_key"], r["course_id"]) for r in rows] == [("E1", "101")]

    gauge = lms.gauge_after_one_more_pull()
    assert gauge == 'syncd_unlinked_results{connector="lms"} 1.0'  # kept once, counted once


def test_with_unlinked_ignore_nothing_is_reported(connector):
    path, lms, portal = connector(unlinked="ignore")
    lms.push()
    learn(portal)

    pulled = syncd("sync", "lms", "--direction", "pull", "--config", str(path))
    assert pulled.returncode == 0, pulled.stderr
    status = pull_status(path)
    assert (status["unlinked_results"], status["failed_ops"]) == (0, 0)
    assert lms.errors() == []
    assert lms.gauge_after_one_more_pull() == 'syncd_unlinked_results{connector="lms"} 0.0'

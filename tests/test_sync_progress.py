"""``syncd sync`` says where a long push is: a live line on a terminal, a log line otherwise.

The connector's rate limit is set low (4 calls every 2 s) so that a small push waits for
it, as a first sync of thousands waits for an hourly limit.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
from pathlib import Path

import pytest

from syncd.sandbox import Sandbox
from tests.support.cli import run_syncd, syncd_command
from tests.support.configs import talentlms_connector, write_config

pytestmark = pytest.mark.slow

API_KEY = "sandbox-talentlms-key"
PEOPLE = 8


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(vendors=["talentlms"], job_duration=0.1) as running:
        yield running


def _config(tmp_path: Path, state_url: str, base_url: str, log_format: str) -> Path:
    rows = "".join(
        f"P{i},First{i},Last{i},p{i}@progress.test,Engineering\n" for i in range(PEOPLE)
    )
    (tmp_path / "hr.csv").write_text("employee_id,first_name,last_name,email,department\n" + rows)
    connector = talentlms_connector(
        "lms",
        base_url,
        API_KEY,
        groups=[{"from": "{{ department }}", "map": {"Engineering": "Engineering Team"}}],
        target={
            "type": "talentlms",
            "base_url": base_url,
            "api_key": API_KEY,
            "rate_limit": {"burst": 4, "burst_window": "2s", "margin": 1},
        },
    )
    return write_config(tmp_path, state_url, connector, log={"format": log_format})


def test_without_a_terminal_progress_is_logged_with_the_wait_and_the_eta(
    tmp_path, db_url, sandbox
):
    config = _config(tmp_path, db_url, sandbox.base_url("talentlms"), "json")
    result = run_syncd(
        "sync", "lms", "--direction", "push", "--progress-every", "1s", "--config", str(config)
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    shown = [e for e in events if e["event"] == "progress"]
    assert shown, result.stderr[-2000:]
    planned = 2 * PEOPLE  # a create and a group add each
    assert all(e["connector"] == "lms" and e["planned"] == planned for e in shown)
    assert all(0 <= e["done"] <= planned and e["calls"] > 0 and "eta" in e for e in shown)
    assert any("rate_limit_wait_until" in e for e in shown)
    assert [e["done"] for e in shown] == sorted(e["done"] for e in shown)


def test_on_a_terminal_a_live_line_shows_operations_calls_and_eta(tmp_path, db_url, sandbox):
    config = _config(tmp_path, db_url, sandbox.base_url("talentlms"), "console")
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        syncd_command("sync", "lms", "--direction", "push", "--config", str(config)),
        stdin=secondary, stdout=secondary, stderr=secondary,
        env={**os.environ, "COLUMNS": "160", "TERM": "xterm"},
    )
    os.close(secondary)
    screen = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        screen += chunk
    os.close(primary)
    assert process.wait(timeout=120) == 0
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.decode(errors="replace"))
    lines = re.findall(rf"lms push: \d+/{2 * PEOPLE} operations, \d+ calls[^\r\n]*", text)
    assert lines, text[-3000:]
    assert any("ETA" in line for line in lines)
    assert any("waiting for the rate limit until" in line for line in lines)
    assert "push: success" in text

"""Killing `syncd sync` at chosen moments and letting it finish: what the crash test and the
reliability benchmark share.

A cycle's progress is read where syncd leaves it (its runs and its outbox in the state
store) or where the vendor saw it (the sandbox's request log), never from timings of this
machine: a kill timed that way lands where it means to however fast the machine is.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from syncd.state import store
from syncd.state.db import connected, make_engine
from syncd.state.tables import operations, sync_runs
from tests.support.cli import syncd_command

OPEN_STATES = [state.value for state in store.OPEN_STATES]
"""Operations still to be seen through (not done, failed or cancelled)."""


def start_sync(config: Path, connector: str, direction: str = "push") -> subprocess.Popen:
    """``syncd sync CONNECTOR --direction DIRECTION`` running in the background."""
    return subprocess.Popen(
        syncd_command("sync", connector, "--direction", direction, "--config", str(config)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    )


def kill(process: subprocess.Popen) -> bool:
    """SIGKILL ``process``; whether it was still running (the kill landed mid-cycle)."""
    running = process.poll() is None
    if running:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    if process.stderr is not None:
        process.stderr.close()
    return running


def sync_until_settled(
    config: Path, connector: str, db_url: str, direction: str = "push", attempts: int = 6
) -> tuple[int, str]:
    """Run the cycle to the end until it succeeds with nothing left open; the last exit code
    and the end of its error output."""
    code, stderr = -1, ""
    for _attempt in range(attempts):
        process = start_sync(config, connector, direction)
        _, err = process.communicate(timeout=600)
        code, stderr = process.returncode, err.decode(errors="replace")[-2000:]
        if code == 0 and open_operations(db_url) == 0:
            break
    return code, stderr


def scalar(db_url: str, query: Any) -> int:
    """The one number ``query`` reads from the store at ``db_url``."""
    with connected(db_url) as conn:
        return conn.execute(query).scalar_one()


def run_count(db_url: str) -> int:
    return scalar(db_url, select(func.count()).select_from(sync_runs))


def open_operations(db_url: str) -> int:
    return scalar(
        db_url,
        select(func.count()).select_from(operations).where(operations.c.state.in_(OPEN_STATES)),
    )


def _poll(done: Any, process: subprocess.Popen, timeout: float = 20, pause: float = 0.02) -> None:
    """Until ``done()`` holds, the process ended, or ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if done():
            return
        time.sleep(pause)


def wait_for_run_start(db_url: str, runs_before: int, process: subprocess.Popen) -> None:
    """Until the process has opened its run (or ended)."""
    _poll(lambda: run_count(db_url) > runs_before, process, pause=0.05)


def wait_for_recorded_operations(db_url: str, process: subprocess.Popen) -> None:
    """Until the newest run has written operations to the outbox (or the process ended)."""
    latest = select(func.max(sync_runs.c.id)).scalar_subquery()
    query = select(func.count()).select_from(operations).where(operations.c.run_id == latest)
    engine = make_engine(db_url)
    try:

        def recorded() -> bool:
            with engine.connect() as conn:
                return bool(conn.execute(query).scalar_one())

        _poll(recorded, process)
    finally:
        engine.dispose()


def wait_for_first_call(sim: Any, calls_before: int, process: subprocess.Popen) -> None:
    """Until the vendor has answered a request beyond its ``calls_before`` (the first vendor
    call of this process), or the process ended."""
    _poll(lambda: sim.count() > calls_before, process, timeout=60, pause=0.005)

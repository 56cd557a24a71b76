"""The reliability benchmark at a small count: kill -9 and a lost-answer fault on every vendor.

`bench/reliability.py` writes docs/reliability.md from the full matrix; CI runs it small, so
a change that loses or duplicates something under a kill or a fault fails here first.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(1500)
def test_kills_and_lost_answers_lose_nothing_and_duplicate_nothing():
    done = subprocess.run(
        [sys.executable, "bench/reliability.py", "--trials", "2", "--faults", "lost answers",
         "--json", "--no-write"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    cells = {**figures["kills"], **figures["faults"]}
    assert set(figures["kills"]) == {"talentlms", "hownow", "ilms", "learningpool"}
    assert len(figures["faults"]) == 4
    for name, cell in cells.items():
        assert (cell["lost"], cell["duplicated"]) == (0, 0), (name, cell["notes"])
        assert cell["operations"] > 0, name
    assert sum(cell["killed"] for cell in figures["kills"].values()) >= 4  # kills landed mid-run

"""The reliability benchmark at a small count: kill -9, as shipped and in chunks of one, and a
lost-answer fault on every vendor.

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
VENDORS = {"talentlms", "hownow", "ilms", "learningpool"}


@pytest.mark.timeout(1500)
def test_kills_and_lost_answers_lose_nothing_and_duplicate_nothing():
    done = subprocess.run(
        [sys.executable, "bench/reliability.py", "--trials", "2", "--chunked-trials", "2",
         "--faults", "lost answers", "--json", "--no-write"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    chunked = {f"{vendor} in chunks": cell for vendor, cell in figures["chunked"].items()}
    cells = {**figures["kills"], **chunked, **figures["faults"]}
    assert set(figures["kills"]) == set(figures["chunked"]) == VENDORS
    assert len(figures["faults"]) == 4
    for name, cell in cells.items():
        assert (cell["lost"], cell["duplicated"]) == (0, 0), (name, cell["notes"])
        assert cell["operations"] > 0, name
    for kills in (figures["kills"], figures["chunked"]):
        assert sum(cell["killed"] for cell in kills.values()) >= 4  # kills landed mid-run
    # The chunk sizes took effect: forty people stream only in chunks of one (HowNow's
    # plan is whole, as it orders managers before their reports).
    assert all(cell["streamed"] == 0 for cell in figures["kills"].values())
    streamed = {vendor: cell["streamed"] for vendor, cell in figures["chunked"].items()}
    assert streamed["hownow"] == 0
    assert all(streamed[vendor] >= 1 for vendor in VENDORS - {"hownow"}), streamed

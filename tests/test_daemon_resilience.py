"""No error inside one cycle ends `syncd run`, and replicas starting together both live.

Real daemons against the TalentLMS simulator: one connector works, the others fail in
every cycle (a vendor that answers garbage, an HR file that is gone). The daemon logs each
failure with its reason, keeps its schedule for the working connector, and stops cleanly.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from syncd.sandbox import Sandbox
from syncd.state.migrate import upgrade
from tests.support import configs
from tests.test_daemon import SECRET, Daemon, eventually, lms_users, write_hr

pytestmark = pytest.mark.slow


def _config(tmp_path: Path, state_url: str, good_url: str, garbled_url: str) -> Path:
    every = {"every": "1s"}
    good = configs.talentlms_connector("good", good_url, SECRET, schedule=every)
    garbled = configs.talentlms_connector("garbled", garbled_url, SECRET, schedule=every)
    orphan = configs.talentlms_connector("orphan", good_url, SECRET, schedule=every)
    orphan["source"] = "gone"
    return configs.write_config(
        tmp_path,
        state_url,
        good,
        garbled,
        orphan,
        log={"format": "json", "level": "info"},
        server={"listen": "127.0.0.1:0"},
        sources={
            "hr": {"type": "csv", "path": str(tmp_path / "hr.csv"), "key": "employee_id"},
            "gone": {"type": "csv", "path": str(tmp_path / "gone.csv"), "key": "employee_id"},
        },
    )


def test_failing_cycles_never_end_the_daemon_and_replicas_start_together(tmp_path, db_url):
    upgrade(db_url)  # a migrated store: both replicas create their status rows at once
    write_hr(tmp_path / "hr.csv", 3)
    with (
        Sandbox(vendors=["talentlms"], job_duration=0.2) as good,
        Sandbox(vendors=["talentlms"], job_duration=0.2) as garbled,
    ):
        # Every answer of the second portal is JSON nested past any real answer.
        garbled.sim("talentlms").set_faults({"answer_next": 10_000, "answer_body": "[" * 50_000})
        config = _config(
            tmp_path, db_url, good.base_url("talentlms"), garbled.base_url("talentlms")
        )
        first = Daemon(config, tmp_path / "first.log")
        second = Daemon(config, tmp_path / "second.log")
        try:
            eventually(lambda: len(lms_users(good)) == 3, 90, "the good connector pushed")
            write_hr(tmp_path / "hr.csv", 5)
            eventually(lambda: len(lms_users(good)) == 5, 90, "and goes on with new hires")
            time.sleep(2)
            rows = first.get("/status").json()["connectors"]
            statuses = {(r["connector"], r["direction"]): r for r in rows}
            alive = [d.process.poll() is None for d in (first, second)]
            health = [d.get("/healthz").status_code for d in (first, second)]
        finally:
            codes = [first.stop(), second.stop()]
    assert alive == [True, True] and health == [200, 200]
    assert codes == [0, 0], first.text()[-2000:] + second.text()[-2000:]
    assert statuses[("garbled", "push")]["state"] == "failed"
    assert "nested too deeply" in statuses[("garbled", "push")]["last_error"]
    assert statuses[("orphan", "push")]["state"] == "failed"
    assert "gone.csv" in statuses[("orphan", "push")]["last_error"]
    events = first.events() + second.events()
    finished = [e for e in events if e.get("event") == "push_finished"]
    assert {e["connector"] for e in finished if e.get("outcome") == "failed"} == {
        "garbled",
        "orphan",
    }
    assert "Traceback" not in first.text() + second.text()

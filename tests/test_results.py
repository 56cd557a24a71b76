"""Certifications in view: ``syncd results`` lists what HR was given per person, and the
``syncd_certifications_expiring`` gauge counts certifications running out, end to end
against the iLMS sandbox, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time

import pytest
from prometheus_client import REGISTRY

from syncd.engine.cycle import CycleOutcome
from syncd.sandbox import Sandbox
from tests.support.cli import run_syncd
from tests.support.configs import save_config
from tests.support.e2e import connector_factory
from tests.support.ilms import DATA_SECURITY, ROOMY, SECURITY, Connector, acme, person
from tests.test_daemon import Daemon

CERTIFICATION = "x56QjLXI"  # the sandbox's course that certifies
DAY = 86400


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(vendors=["ilms"], ilms=ROOMY) as server:
        yield server


@pytest.fixture
def certified(tmp_path, db_url, sandbox):
    """Three people certified: E1 until in 10 days, E2 in 60 days, E3's ran out yesterday;
    E3 has passed Data Security too. Nothing pulled yet."""
    portal = acme(sandbox)
    with connector_factory(Connector, tmp_path, db_url, sandbox.base_url("ilms")) as make:
        lms = make(pull={"expiring_within": ["30d", "90d"]}, target={"results_recheck_every": "0s"})
        lms.hr = [person("E1"), person("E2"), person("E3", dept="Sales")]
        lms.push()
        ids = {key: int(remote) for key, remote in lms.remote_ids().items()}
        now = time.time()
        for key, days in (("E1", 10), ("E2", 60), ("E3", -1)):
            portal.complete(ids[key], CERTIFICATION, score=90, certified_until=now + days * DAY)
        portal.complete(ids["E3"], DATA_SECURITY, score=70)
        lms.ids, lms.portal = ids, portal
        yield lms


def expiring(within: str) -> float | None:
    labels = {"connector": "ilms", "within": within}
    return REGISTRY.get_sample_value("syncd_certifications_expiring", labels)


def results(lms: Connector, *args: str) -> dict:
    done = run_syncd("results", "ilms", "--json", *args, "--config", str(lms.path))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_each_pull_cycle_sets_the_gauge_of_certifications_expiring(certified):
    assert certified.pull().outcome == CycleOutcome.SUCCESS
    assert (expiring("30d"), expiring("90d")) == (1.0, 2.0)  # E1; E1 and E2 (E3's is past)

    # E1 is certified again, for a year: out of both windows once pulled.
    certified.portal.complete(certified.ids["E1"], CERTIFICATION, score=99, certified_until=None)
    assert certified.pull().outcome == CycleOutcome.SUCCESS
    assert (expiring("30d"), expiring("90d")) == (0.0, 1.0)


def test_results_lists_each_persons_results_and_marks_certifications(certified):
    assert certified.pull().outcome == CycleOutcome.SUCCESS
    listing = results(certified)
    assert (listing["connector"], listing["sink"], listing["expiring_within"]) == (
        "ilms",
        "training",
        "30d",  # the connector's first window
    )
    people = {p["hr_key"]: p["results"] for p in listing["people"]}
    assert list(people) == ["E1", "E2", "E3"]
    courses = {
        key: {(r["course_id"], r["status"], r["certification"]) for r in found}
        for key, found in people.items()
    }
    assert courses == {
        "E1": {(SECURITY, "not_started", None), (CERTIFICATION, "passed", "expiring")},
        "E2": {(SECURITY, "not_started", None), (CERTIFICATION, "passed", "valid")},
        "E3": {
            (SECURITY, "not_started", None),
            (DATA_SECURITY, "passed", None),
            (CERTIFICATION, "passed", "expired"),
        },
    }
    data = next(r for r in people["E3"] if r["course_id"] == DATA_SECURITY)
    assert (data["score"], data["credits"], data["hours"]) == (70.0, 2.0, 1.0)
    e3 = next(r for r in people["E3"] if r["course_id"] == CERTIFICATION)
    assert e3["certification_status"] == "Expired" and e3["certificate_expires_at"]
    assert listing["expiring"] == 1 and listing["not_kept"] == 0


def test_expiring_within_lists_only_the_certifications_running_out(certified):
    assert certified.pull().outcome == CycleOutcome.SUCCESS
    soon = results(certified, "--expiring-within", "30d")
    assert [(p["hr_key"], [r["course_id"] for r in p["results"]]) for p in soon["people"]] == [
        ("E1", [CERTIFICATION])
    ]
    later = results(certified, "--expiring-within", "90d")
    assert [p["hr_key"] for p in later["people"]] == ["E1", "E2"]

    table = run_syncd("results", "ilms", "--config", str(certified.path))
    assert table.returncode == 0, table.stderr
    assert "Certified (expires soon)" in table.stdout and "Expired (ran out)" in table.stdout
    assert "1 certification(s) expire within 30d." in table.stdout
    wrong = run_syncd(
        "results", "ilms", "--expiring-within", "soon", "--config", str(certified.path)
    )
    assert wrong.returncode == 2 and "'soon' is not a duration" in wrong.stderr


@pytest.mark.slow
def test_the_daemon_shows_the_gauge_as_it_starts(certified, tmp_path):
    assert certified.pull().outcome == CycleOutcome.SUCCESS
    document = certified.document
    document["connectors"][0]["paused"] = True  # no cycle runs: the figures come from start
    document["server"] = {"listen": "127.0.0.1:0"}
    document["log"] = {"format": "json", "level": "info"}
    save_config(certified.path, document)
    daemon = Daemon(certified.path, tmp_path / "daemon.log")
    try:
        metrics = daemon.get("/metrics").text
    finally:
        assert daemon.stop() == 0
    assert 'syncd_certifications_expiring{connector="ilms",within="30d"} 1.0' in metrics
    assert 'syncd_certifications_expiring{connector="ilms",within="90d"} 2.0' in metrics

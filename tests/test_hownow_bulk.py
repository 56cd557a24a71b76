"""HowNow upserts confirmed in bulk, end to end: YAML configuration, CSV HR file, the state
store (SQLite and PostgreSQL), the push engine and the HowNow sandbox over real HTTP.

Polling a job costs a call per person; the users listing shows a hundred people a call.
A first sync reads the listing and takes as done only the people it shows holding
exactly what was sent; everyone else's job is polled, as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from syncd.engine.cycle import CycleOutcome
from syncd.engine.push.settings import JobPolling
from syncd.http import TOKENS
from syncd.model import LinkStatus
from syncd.sandbox import ManualClock, Sandbox
from syncd.state import store
from tests.support.e2e import E2EConnector, calls, connector_factory, error_reasons

UPSERT = "POST /external/v1/users/upsert"
JOB_STATUS = "GET /external/v1/jobs/{job_id}/status"
LISTING = "GET /external/v1/users"
ROOMY = {"per_minute": 60_000, "per_hour": 3_600_000}
CLIENT = {"client_id": "sandbox-hownow-client", "client_secret": "sandbox-hownow-secret"}
FIELDS = {
    "external_user_id": "{{ employee_id }}",
    "name": "{{ first_name }} {{ last_name }}",
    "email": "{{ email }}",
    "user_type": "{{ user_type }}",
    "manager_id": "{{ manager }}",
    "job_role": {"name": "{{ job_title }}"},
}


class Connector(E2EConnector):
    """One HowNow connector mapping only fields the users listing shows (unless told)."""

    name = "hownow"
    columns = ["employee_id", "first_name", "last_name", "email", "user_type", "manager",
               "job_title", "location"]
    polling = JobPolling(first_delay=0.3, max_delay=1.0, timeout=30)

    def __init__(self, tmp_path: Path, db_url: str, base_url: str, **fields: Any) -> None:
        super().__init__(
            tmp_path,
            db_url,
            {
                "name": "hownow",
                "source": "hr",
                "schedule": {"every": "30m"},
                "target": {
                    "type": "hownow",
                    "base_url": base_url,
                    **CLIENT,
                    "rate_limit": {"per_minute": 60_000, "per_hour": 3_600_000},
                    "deactivate_assign_to": "EXT-svc_admin",
                },
                "users": {"fields": {**FIELDS, **fields}},
            },
        )

    def links(self) -> dict[str, tuple[LinkStatus, str | None]]:
        with self.engine.connect() as conn:
            return {
                link.hr_key: (link.status, link.remote_id)
                for link in store.iter_links(conn, self.name, LinkStatus)
            }


def team(people: int) -> list[dict[str, str]]:
    """``people`` new hires; one in ten manages the next nine."""
    rows = []
    for i in range(people):
        manager = "" if i % 10 == 0 else f"E{i - i % 10:04d}"
        rows.append(
            {
                "employee_id": f"E{i:04d}",
                "first_name": "Person",
                "last_name": str(i),
                "email": f"p{i}@acme.test",
                "user_type": "ReadOnly" if manager else "Manager",
                "manager": manager,
                "job_title": "Engineer" if manager else "Team Lead",
                "location": "NYC",
            }
        )
    return rows


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(vendors=["hownow"], job_duration=0.05, hownow=ROOMY) as box:
        yield box


@pytest.fixture
def sim(sandbox):
    sim = sandbox.sim("hownow")
    sim.reset()
    TOKENS.clear()
    return sim


@pytest.fixture
def connector(tmp_path, db_url, sandbox, sim):
    with connector_factory(Connector, tmp_path, db_url, sandbox.base_url("hownow")) as build:
        yield build


def test_a_first_sync_is_confirmed_by_the_listing_at_little_over_a_call_a_person(
    connector, sim
):
    hownow = connector()
    hownow.hr = team(250)
    result = hownow.push()
    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    assert result.counts["created"] == 250 and result.counts["failed"] == 0
    assert sim.count() <= 275  # at most 1.1 calls a person, token included
    assert result.counts["api_calls"] == sim.count()
    # Everyone is confirmed: linked, and HowNow holds them as sent, managers included.
    assert hownow.links() == {f"E{i:04d}": (LinkStatus.LINKED, f"E{i:04d}") for i in range(250)}
    made = {u["external_user_id"]: u for u in sim.dump()["users"]}
    assert made["E0013"]["manager"] == "EXT-E0010" and made["E0013"]["job_role"] == "Engineer"
    assert hownow.error_rows() == []
    # The listing replaced the polls: a few pages where there would have been 250 polls.
    assert calls(sim)[JOB_STATUS] + calls(sim)[LISTING] <= 24


@pytest.fixture
def instant(tmp_path, db_url) -> Iterator[tuple[Any, Any]]:
    """A connector factory and its simulator, on a sandbox whose jobs end as they start: a
    count of calls then depends on what the listing shows, not on how loaded the machine is
    (with jobs of 0.05 s, a loaded run read the listing again while the last ones ran)."""
    TOKENS.clear()
    with (
        Sandbox(vendors=["hownow"], job_duration=0, hownow=ROOMY) as box,
        connector_factory(Connector, tmp_path, db_url, box.base_url("hownow")) as build,
    ):
        yield build, box.sim("hownow")


def test_people_the_listing_shows_otherwise_or_not_at_all_are_polled_not_taken_as_done(
    instant,
):
    connector, sim = instant
    # E0005 exists with other values and is adopted; its update then fails in HowNow, as
    # does E0007's create: both asked for an email another account holds.
    sim.seed(
        {
            "users": [
                {"external_user_id": "E0005", "name": "Old Name", "email": "old5@acme.test",
                 "user_type": "ReadOnly", "status": "Active"},
                {"external_user_id": "X5", "name": "Someone", "email": "p5@acme.test",
                 "user_type": "ReadOnly", "status": "Active"},
                {"external_user_id": "X7", "name": "Another", "email": "p7@acme.test",
                 "user_type": "ReadOnly", "status": "Active"},
            ]
        }
    )
    hownow = connector()
    hownow.hr = team(120)
    result = hownow.push()
    assert result.outcome == CycleOutcome.PARTIAL
    assert result.counts["created"] == 118 and result.counts["failed"] == 2
    errors = error_reasons(hownow.engine, "hownow")
    assert errors[("E0005", "update")].endswith("failed: Email has already been taken")
    assert errors[("E0007", "create")].endswith("failed: Email has already been taken")
    assert set(errors) == {("E0005", "update"), ("E0007", "create")}
    # Their jobs were asked (the listing cannot show a failure); the listing settled the rest.
    assert 2 <= calls(sim)[JOB_STATUS] <= 6
    links = hownow.links()
    assert links["E0007"][0] is LinkStatus.FAILED and links["E0005"][0] is LinkStatus.LINKED
    assert sim.count() <= 120 + 12


def test_fields_the_listing_does_not_show_are_confirmed_by_their_jobs(connector, sim):
    hownow = connector(custom_fields={"location": "{{ location }}"})
    hownow.hr = team(30)
    result = hownow.push()
    assert result.outcome == CycleOutcome.SUCCESS and result.counts["created"] == 30
    # Custom fields are shown one user at a time only: every job is polled, and the
    # listing is read once, to find existing accounts, never to confirm.
    assert calls(sim)[JOB_STATUS] >= 30 and calls(sim)[LISTING] == 1
    assert {u["custom_fields"]["location"] for u in sim.dump()["users"] if u["custom_fields"]} == {
        "NYC"
    }


def test_jobs_left_by_an_earlier_cycle_are_confirmed_by_the_listing_when_resumed(
    tmp_path, db_url
):
    clock = ManualClock()  # the sandbox's jobs end only when the test moves its clock
    TOKENS.clear()
    rows = [{**row, "manager": "", "user_type": "Manager"} for row in team(30)]
    with (
        Sandbox(vendors=["hownow"], clock=clock, job_duration=60, hownow=ROOMY) as box,
        connector_factory(Connector, tmp_path, db_url, box.base_url("hownow")) as build,
    ):
        sim = box.sim("hownow")
        hownow = build()
        hownow.hr = rows
        hownow.polling = JobPolling(first_delay=0.05, max_delay=0.05, timeout=0.2)
        first = hownow.push()
        assert first.counts["created"] == 0  # every job still running: they wait
        assert {status for status, _ in hownow.links().values()} == {LinkStatus.PENDING}
        clock.advance(61)  # the jobs end while no syncd runs
        before = calls(sim)
        hownow.polling = Connector.polling
        second = hownow.push()  # a new adapter: it knows the jobs only from the outbox
        assert second.outcome == CycleOutcome.SUCCESS and second.counts["created"] == 30
        spent = calls(sim) - before
        assert spent == {LISTING: 1}  # one page confirmed all 30: no poll, nothing re-sent
        assert {status for status, _ in hownow.links().values()} == {LinkStatus.LINKED}

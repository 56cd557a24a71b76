"""Reconciliation end to end: ``syncd reconcile`` against the sandbox of every vendor that
lists its users, on SQLite and PostgreSQL.

An LMS administrator changes the portal behind syncd's back (renames someone,
deactivates someone, deletes an account, creates accounts HR never knew of); each
test checks the situation reconciliation finds, what each policy does with ``--apply``
and that nothing changes without it, and what it leaves in ``sync_runs`` and
``sync_status``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from sqlalchemy import select

from syncd.assemble import adapter_class, adapter_context, load_config, open_state, push_settings
from syncd.assemble.reconcile import reconcile_settings
from syncd.engine.cycle import CycleOutcome
from syncd.engine.push.run import run_push
from syncd.engine.push.settings import JobPolling
from syncd.engine.reconcile import ReconcileResult, run_reconcile
from syncd.model import LinkState, LinkStatus
from syncd.sandbox import Sandbox
from syncd.sandbox.learningpool.endpoints import SANDBOX_ENDPOINTS, SANDBOX_TARGET
from syncd.state import store
from syncd.state.status import status_rows
from syncd.state.tables import sync_runs
from tests.support.cli import run_syncd
from tests.support.configs import config_document, save_config
from tests.support.e2e import quick_retry, write_rows

FAST = JobPolling(first_delay=0.02, max_delay=0.2, timeout=30)
COLUMNS = ["employee_id", "first_name", "last_name", "email", "status"]


def person(key: str, status: str = "active") -> dict[str, str]:
    return {
        "employee_id": key,
        "first_name": f"First{key}",
        "last_name": f"Last{key}",
        "email": f"{key.lower()}@acme.test",
        "status": status,
    }


# --- one admin per vendor: what a person does by hand in the LMS ---------------------------


class Portal:
    """A vendor's sandbox as its administrator sees it, and the connector syncd runs on it."""

    vendor: ClassVar[str]
    options: ClassVar[dict[str, Any]] = {}
    fields: ClassVar[dict[str, str]]
    match: ClassVar[str | None]
    name_field: ClassVar[str] = "name"  # the mapped field an admin renames
    connector: ClassVar[dict[str, Any]] = {}  # more of the connector (groups ...)
    lists_groups: ClassVar[bool] = False

    def __init__(self, sim: Any) -> None:
        self.sim = sim

    def target(self, base_url: str) -> dict[str, Any]:
        raise NotImplementedError

    def users(self) -> dict[str, Any]:
        raise NotImplementedError

    def rename(self, remote_id: str, name: str) -> None:
        raise NotImplementedError

    def deactivate(self, remote_id: str) -> None:
        raise NotImplementedError

    def delete(self, remote_id: str) -> None:
        raise NotImplementedError

    def create(self, key: str, email: str) -> str:
        """An account made by hand for ``key`` (its match value); its remote id."""
        raise NotImplementedError

    def account(self, remote_id: str) -> Any | None:
        raise NotImplementedError

    def name_of(self, remote_id: str) -> str:
        raise NotImplementedError

    def is_active(self, remote_id: str) -> bool:
        raise NotImplementedError

    def groups_of(self, remote_id: str) -> set[str]:
        raise NotImplementedError

    def add_to_group(self, remote_id: str, group: str) -> None:
        raise NotImplementedError

    def remove_from_group(self, remote_id: str, group: str) -> None:
        raise NotImplementedError


class TalentLMSPortal(Portal):
    vendor = "talentlms"
    options: ClassVar[dict[str, Any]] = {
        "talentlms": {"hourly_limit": 1_000_000, "burst_limit": 100_000}
    }
    fields: ClassVar[dict[str, str]] = {
        "login": "{{ employee_id | lower }}",
        "name": "{{ first_name }}",
        "surname": "{{ last_name }}",
        "email": "{{ email }}",
    }
    match = "email"

    def target(self, base_url: str) -> dict[str, Any]:
        return {
            "type": "talentlms",
            "base_url": base_url,
            "api_key": "sandbox-talentlms-key",
            "rate_limit": {"per_hour": 100_000, "burst": 5_000, "burst_window": "5s"},
        }

    def _user(self, remote_id: str):
        return self.sim.store.users.get(int(remote_id))

    def rename(self, remote_id: str, name: str) -> None:
        with self.sim.lock:
            self._user(remote_id).name = name

    def deactivate(self, remote_id: str) -> None:
        with self.sim.lock:
            self._user(remote_id).status = "inactive"

    def delete(self, remote_id: str) -> None:
        with self.sim.lock:
            del self.sim.store.users[int(remote_id)]

    def create(self, key: str, email: str) -> str:
        seeded = self.sim.seed(
            {"users": [{"login": key.lower(), "email": email, "name": "Hand", "surname": "Made"}]}
        )
        return str(seeded["users"][0])

    def account(self, remote_id: str):
        return self._user(remote_id)

    def name_of(self, remote_id: str) -> str:
        return self._user(remote_id).name

    def is_active(self, remote_id: str) -> bool:
        return self._user(remote_id).status == "active"


class HowNowPortal(Portal):
    vendor = "hownow"
    options: ClassVar[dict[str, Any]] = {"hownow": {"per_minute": 6000, "per_hour": 360_000}}
    fields: ClassVar[dict[str, str]] = {
        "external_user_id": "{{ employee_id }}",
        "name": "{{ first_name }} {{ last_name }}",
        "email": "{{ email }}",
        "user_type": "ReadOnly",
    }
    match = None

    def target(self, base_url: str) -> dict[str, Any]:
        return {
            "type": "hownow",
            "base_url": base_url,
            "client_id": "sandbox-hownow-client",
            "client_secret": "sandbox-hownow-secret",
            "rate_limit": {"per_minute": 6000, "per_hour": 360_000},
            "deactivate_assign_to": "EXT-svc_admin",
        }

    def _user(self, remote_id: str):
        return self.sim.store.user_by_external(remote_id)

    def rename(self, remote_id: str, name: str) -> None:
        with self.sim.lock:
            self._user(remote_id).name = name

    def deactivate(self, remote_id: str) -> None:
        with self.sim.lock:
            self._user(remote_id).deactivated_at = self.sim.store.users[
                self._user(remote_id).id
            ].created_at

    def delete(self, remote_id: str) -> None:
        with self.sim.lock:
            del self.sim.store.users[self._user(remote_id).id]

    def create(self, key: str, email: str) -> str:
        self.sim.seed({"users": [{"external_user_id": key, "name": "Hand Made", "email": email}]})
        return key

    def account(self, remote_id: str):
        return self._user(remote_id)

    def name_of(self, remote_id: str) -> str:
        return self._user(remote_id).name

    def is_active(self, remote_id: str) -> bool:
        return self._user(remote_id).active


class GroupStorePortal(Portal):
    """A simulator whose store keeps groups by id, each with its members' user ids."""

    def _group(self, name: str):
        return next(g for g in self.sim.store.groups.values() if g.name == name)

    def groups_of(self, remote_id: str) -> set[str]:
        user_id = int(remote_id)
        return {g.name for g in self.sim.store.groups.values() if user_id in g.members}


class ILMSPortal(GroupStorePortal):
    vendor = "ilms"
    options: ClassVar[dict[str, Any]] = {"ilms": {"per_minute": 6000}}
    fields: ClassVar[dict[str, str]] = {
        "F001": "{{ first_name }}",
        "F003": "{{ last_name }}",
        "F004": "{{ employee_id }}",
        "email": "{{ email }}",
        "region": "Demo Region",
        "division": "Demo Division",
        "department": "Demo Department",
    }
    match = "F004"
    name_field = "F001"
    connector: ClassVar[dict[str, Any]] = {
        "groups": [{"from": "{{ 'Sales' if employee_id == 'E3' else 'Engineering' }}"}],
        "enrollments": [{"courses": ["p1gyJg4a"]}],
    }
    lists_groups = True

    def target(self, base_url: str) -> dict[str, Any]:
        return {
            "type": "ilms",
            "base_url": base_url,
            "org_id": "1001",
            "api_login_id": "sandbox-ilms-login",
            "transaction_key": "sandbox-ilms-key",
            "rate_limit": {"per_minute": 6000},
        }

    def _user(self, remote_id: str):
        user = self.sim.store.users.get(int(remote_id))
        return None if user is None or user.status == "Deleted" else user

    def rename(self, remote_id: str, name: str) -> None:
        with self.sim.lock:
            self._user(remote_id).profile["F001"] = name

    def deactivate(self, remote_id: str) -> None:
        with self.sim.lock:
            self._user(remote_id).status = "Inactive"

    def delete(self, remote_id: str) -> None:
        with self.sim.lock:
            self._user(remote_id).status = "Deleted"

    def create(self, key: str, email: str) -> str:
        profile = {
            "F001": "Hand",
            "F003": "Made",
            "F004": key,
            "F015": email,
            "F019": "Demo Region",
            "F020": "Demo Division",
            "F021": "Demo Department",
        }
        return str(self.sim.seed({"users": [{"profile": profile}]})["users"][0])

    def account(self, remote_id: str):
        return self._user(remote_id)

    def name_of(self, remote_id: str) -> str:
        return self._user(remote_id).profile["F001"]

    def is_active(self, remote_id: str) -> bool:
        return self._user(remote_id).status == "Active"

    def add_to_group(self, remote_id: str, group: str) -> None:
        with self.sim.lock:
            self._group(group).members.add(int(remote_id))

    def remove_from_group(self, remote_id: str, group: str) -> None:
        with self.sim.lock:
            self._group(group).members.discard(int(remote_id))


class LearningPoolPortal(GroupStorePortal):
    vendor = "learningpool"
    options: ClassVar[dict[str, Any]] = {"learningpool": {"per_minute": 100_000}}
    fields: ClassVar[dict[str, str]] = {
        "username": "{{ employee_id | lower }}",
        "external_id": "{{ employee_id }}",
        "email": "{{ email }}",
        "first_name": "{{ first_name }}",
        "last_name": "{{ last_name }}",
    }
    match = None  # the username
    name_field = "first_name"
    connector: ClassVar[dict[str, Any]] = {
        "groups": [{"from": "{{ 'Sales' if employee_id == 'E3' else 'Engineering' }}"}],
    }
    lists_groups = True  # through target.endpoints.group_members_list

    def __init__(self, sim: Any) -> None:
        super().__init__(sim)
        sim.seed({"groups": [{"name": "Manager", "external_ref": "MGR"}]})

    def target(self, base_url: str) -> dict[str, Any]:
        return {
            "type": "learningpool",
            "base_url": base_url,
            **SANDBOX_TARGET,
            "rate_limit": {"per_minute": 100_000},
        }

    def _user(self, remote_id: str):
        return self.sim.store.users.get(int(remote_id))

    def rename(self, remote_id: str, name: str) -> None:
        with self.sim.lock:
            self._user(remote_id).first_name = name

    def deactivate(self, remote_id: str) -> None:
        with self.sim.lock:
            self._user(remote_id).expires_at = self.sim.now() - 60

    def delete(self, remote_id: str) -> None:
        with self.sim.lock:
            del self.sim.store.users[int(remote_id)]
            for group in self.sim.store.groups.values():  # a deleted user is in no group
                group.members.pop(int(remote_id), None)

    def create(self, key: str, email: str) -> str:
        user = {"username": key.lower(), "email": email, "first_name": "Hand", "last_name": "Made"}
        return str(self.sim.seed({"users": [user]})["users"][0])

    def account(self, remote_id: str):
        return self._user(remote_id)

    def name_of(self, remote_id: str) -> str:
        return self._user(remote_id).first_name

    def is_active(self, remote_id: str) -> bool:
        return not self._user(remote_id).expired(self.sim.now())

    def add_to_group(self, remote_id: str, group: str) -> None:
        with self.sim.lock:
            self._group(group).members[int(remote_id)] = self.sim.now()

    def remove_from_group(self, remote_id: str, group: str) -> None:
        with self.sim.lock:
            self._group(group).members.pop(int(remote_id), None)


PORTALS = [TalentLMSPortal, HowNowPortal, ILMSPortal, LearningPoolPortal]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    options: dict[str, Any] = {}
    for portal in PORTALS:
        options.update(portal.options)
    with Sandbox(vendors=[p.vendor for p in PORTALS], job_duration=0.05, **options) as server:
        yield server


@pytest.fixture(params=PORTALS, ids=[p.vendor for p in PORTALS])
def portal(request, sandbox) -> Portal:
    cls = request.param
    sim = sandbox.sim(cls.vendor)
    sim.reset()
    return cls(sim)


class World:
    """One connector on ``portal``, its HR file and state store; push and reconcile it."""

    name = "lms"

    def __init__(
        self, tmp_path: Path, db_url: str, sandbox: Sandbox, portal: Portal, **connector: Any
    ) -> None:
        self.portal = portal
        self.tmp_path = tmp_path
        self.hr: list[dict[str, str]] = []
        users: dict[str, Any] = {"fields": dict(portal.fields)}
        if portal.match:
            users["match"] = portal.match
        users["active"] = "{{ status == 'active' }}"
        document = config_document(
            tmp_path,
            db_url,
            {
                "name": self.name,
                "source": "hr",
                "schedule": {"every": "15m"},
                "target": portal.target(sandbox.base_url(portal.vendor)),
                "users": users,
                "guard": {"max_deactivations": "100%"},
                **portal.connector,
                **connector,
            },
        )
        self.path = save_config(tmp_path / "syncd.yaml", document)
        self.config = load_config(self.path)
        self.engine = open_state(self.config)

    def adapter(self):
        connector = self.config.connector(self.name)
        context = adapter_context(connector, self.engine, retry=quick_retry())
        return adapter_class(connector.target.type)(connector.target, context)

    def write_hr(self) -> None:
        write_rows(self.tmp_path / "hr.csv", COLUMNS, self.hr)

    def push(self):
        self.write_hr()
        settings = push_settings(self.config, self.name, self.engine, adapter=self.adapter())
        settings.polling = FAST
        try:
            return run_push(settings)
        finally:
            settings.adapter.close()

    def reconcile(self, apply: bool = False) -> ReconcileResult:
        self.write_hr()
        settings = reconcile_settings(
            self.config, self.name, self.engine, apply=apply, adapter=self.adapter()
        )
        settings.push.polling = FAST
        try:
            return run_reconcile(settings)
        finally:
            settings.push.adapter.close()

    def links(self) -> dict[str, LinkState]:
        with self.engine.connect() as conn:
            return {link.hr_key: link for link in store.iter_links(conn, self.name, LinkStatus)}

    def remote_id(self, hr_key: str) -> str:
        remote_id = self.links()[hr_key].remote_id
        assert remote_id is not None
        return remote_id

    def close(self) -> None:
        self.engine.dispose()


@pytest.fixture
def make_world(tmp_path, db_url, sandbox, portal):
    made: list[World] = []

    def make(**connector: Any) -> World:
        world = World(tmp_path, db_url, sandbox, portal, **connector)
        made.append(world)
        return world

    yield make
    for world in made:
        world.close()


def situations(result: ReconcileResult) -> dict[str | None, str]:
    """HR key (or LMS id of an orphan) -> situation."""
    return {(f.hr_key or f"lms:{f.lms_user_id}"): f.situation.value for f in result.findings}


def finding(result: ReconcileResult, key: str):
    return next(f for f in result.findings if (f.hr_key or f"lms:{f.lms_user_id}") == key)


def pushed(world: World, *keys: str) -> None:
    world.hr = [person(key) for key in keys]
    result = world.push()
    assert result.outcome == CycleOutcome.SUCCESS, result.errors


# --- drifted ---------------------------------------------------------------------------------


def test_drift_is_reported_without_apply_and_corrected_with_it(make_world, portal):
    world = make_world()
    pushed(world, "E1", "E2", "E3")
    e1, e2 = world.remote_id("E1"), world.remote_id("E2")
    portal.rename(e1, "Renamed")
    portal.deactivate(e2)

    report = world.reconcile()

    assert report.outcome == CycleOutcome.SUCCESS and not report.applied
    assert situations(report) == {"E1": "drifted", "E2": "drifted", "E3": "in_sync"} | {
        key: value for key, value in situations(report).items() if key.startswith("lms:")
    }
    renamed = finding(report, "E1").as_json()
    assert renamed["lms_user_id"] == e1
    assert renamed["fields"] == {
        portal.name_field: {"lms": "Renamed", "hr": world_name(portal, "E1")}
    }
    assert finding(report, "E2").as_json()["fields"] == {"active": {"lms": False, "hr": True}}
    assert portal.name_of(e1) == "Renamed" and not portal.is_active(e2)  # report only

    corrected = world.reconcile(apply=True)

    assert corrected.outcome == CycleOutcome.SUCCESS and corrected.applied
    assert portal.name_of(e1) == world_name(portal, "E1") and portal.is_active(e2)
    assert {finding(corrected, k).action for k in ("E1", "E2")} == {"correct"}
    again = world.reconcile()
    assert {situations(again)[k] for k in ("E1", "E2", "E3")} == {"in_sync"}
    assert world.push().counts["updated"] == 0  # the push agrees: nothing left to do


def world_name(portal: Portal, key: str) -> str:
    return f"First{key} Last{key}" if portal.vendor == "hownow" else f"First{key}"


def test_on_drift_report_leaves_the_drift_alone_even_with_apply(make_world, portal):
    world = make_world(reconcile={"on_drift": "report"})
    pushed(world, "E1")
    portal.rename(world.remote_id("E1"), "Renamed")

    result = world.reconcile(apply=True)

    assert situations(result)["E1"] == "drifted" and finding(result, "E1").action == "report"
    assert portal.name_of(world.remote_id("E1")) == "Renamed"


# --- missing_remote --------------------------------------------------------------------------


def test_a_deleted_linked_account_is_missing_remote_and_recreated(make_world, portal):
    world = make_world()
    pushed(world, "E1", "E2")
    gone = world.remote_id("E1")
    portal.delete(gone)

    report = world.reconcile()
    assert situations(report)["E1"] == "missing_remote"
    assert finding(report, "E1").lms_user_id == gone
    assert world.links()["E1"].remote_id == gone  # nothing changed

    result = world.reconcile(apply=True)

    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    assert result.counts["created"] == 1
    link = world.links()["E1"]
    assert link.status is LinkStatus.LINKED and link.remote_id
    assert portal.account(link.remote_id) is not None and portal.is_active(link.remote_id)
    assert situations(world.reconcile())["E1"] == "in_sync"


def test_on_missing_remote_report_recreates_nothing(make_world, portal):
    world = make_world(reconcile={"on_missing_remote": "report"})
    pushed(world, "E1")
    gone = world.remote_id("E1")
    portal.delete(gone)

    result = world.reconcile(apply=True)

    assert situations(result)["E1"] == "missing_remote"
    assert finding(result, "E1").action == "report" and result.counts["created"] == 0
    assert world.links()["E1"].remote_id == gone


# --- unlinked_match and orphan ---------------------------------------------------------------


def test_an_account_made_by_hand_for_an_hr_person_is_linked(make_world, portal):
    world = make_world()
    pushed(world, "E1")
    made = portal.create("E2", "e2@acme.test")
    world.hr = [person("E1"), person("E2")]

    report = world.reconcile()
    assert situations(report)["E2"] == "unlinked_match"
    assert finding(report, "E2").lms_user_id == made and "E2" not in world.links()

    result = world.reconcile(apply=True)

    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    assert finding(result, "E2").action == "link"
    assert world.links()["E2"].remote_id == made
    assert portal.name_of(made) == world_name(portal, "E2")  # then made what HR wants
    assert situations(world.reconcile())["E2"] == "in_sync"


def test_on_unlinked_match_report_links_nobody(make_world, portal):
    world = make_world(reconcile={"on_unlinked_match": "report"})
    pushed(world, "E1")
    portal.create("E2", "e2@acme.test")
    world.hr = [person("E1"), person("E2")]

    result = world.reconcile(apply=True)

    assert situations(result)["E2"] == "unlinked_match" and "E2" not in world.links()


def test_an_orphan_is_reported_by_default(make_world, portal):
    world = make_world()
    pushed(world, "E1")
    ghost = portal.create("GHOST", "ghost@acme.test")

    result = world.reconcile(apply=True)

    assert situations(result)[f"lms:{ghost}"] == "orphan"
    assert finding(result, f"lms:{ghost}").hr_key is None
    assert portal.is_active(ghost)


def test_orphans_are_deactivated_by_policy_within_the_guard(make_world, portal):
    world = make_world(reconcile={"on_orphan": "deactivate"})
    pushed(world, "E1")
    ghost = portal.create("GHOST", "ghost@acme.test")

    result = world.reconcile(apply=True)

    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    assert finding(result, f"lms:{ghost}").action == "deactivate"
    assert result.counts["deactivated"] == 1 and not portal.is_active(ghost)
    assert portal.is_active(world.remote_id("E1"))
    protected = [f for f in result.findings if f.account is not None and f.account.protected]
    assert all(portal.is_active(f.lms_user_id) for f in protected)  # the portal's admins


def test_an_orphan_deactivation_counts_against_the_guard(make_world, portal):
    world = make_world(reconcile={"on_orphan": "deactivate"}, guard={"max_deactivations": 0})
    pushed(world, "E1")
    ghost = portal.create("GHOST", "ghost@acme.test")

    result = world.reconcile(apply=True)

    assert result.outcome == CycleOutcome.GUARDED and result.exit_code == 3
    assert "deactivates or deletes 1" in result.message
    assert portal.is_active(ghost)
    status = {(r["connector"], r["direction"]): r for r in status_rows(world.engine)}
    assert status[("lms", "reconcile")]["state"] == "guarded"


# --- the run's records and the command -------------------------------------------------------


def test_each_run_is_a_reconcile_row_in_sync_runs_and_sync_status(make_world, portal):
    world = make_world()
    pushed(world, "E1", "E2")
    portal.rename(world.remote_id("E1"), "Renamed")

    result = world.reconcile(apply=True)

    with world.engine.connect() as conn:
        rows = conn.execute(select(sync_runs).where(sync_runs.c.direction == "reconcile")).all()
    assert len(rows) == 1
    run = rows[0]
    assert run.id == result.run_id and run.outcome == "success" and run.finished_at
    assert run.updated == 1 and run.records_seen >= 2 and run.api_calls > 0
    status = {(r["connector"], r["direction"]): r for r in status_rows(world.engine)}
    row = status[("lms", "reconcile")]
    assert row["state"] == "idle" and row["last_success_at"] is not None


def test_the_command_prints_counts_and_json_per_account(make_world, portal):
    world = make_world()
    pushed(world, "E1", "E2")
    portal.rename(world.remote_id("E1"), "Renamed")
    world.write_hr()

    text = run_syncd("reconcile", "lms", "--config", str(world.path))
    assert text.returncode == 0, text.stderr
    assert "report only" in text.stdout
    assert "drifted" in text.stdout and "Renamed" in text.stdout

    listed = run_syncd("reconcile", "lms", "--json", "--config", str(world.path))
    assert listed.returncode == 0, listed.stderr
    objects = [json.loads(line) for line in listed.stdout.splitlines()]
    by_key = {o["hr_key"]: o for o in objects if o["hr_key"]}
    assert set(by_key) == {"E1", "E2"}
    assert set(by_key["E1"]) >= {"situation", "hr_key", "lms_user_id", "fields"}
    assert by_key["E1"]["situation"] == "drifted"
    assert by_key["E1"]["fields"][portal.name_field] == {
        "lms": "Renamed",
        "hr": world_name(portal, "E1"),
    }
    assert by_key["E2"] == {**by_key["E2"], "situation": "in_sync", "fields": {}}
    assert portal.name_of(world.remote_id("E1")) == "Renamed"

    applied = run_syncd("reconcile", "lms", "--apply", "--config", str(world.path))
    assert applied.returncode == 0, applied.stderr
    assert portal.name_of(world.remote_id("E1")) == world_name(portal, "E1")


def test_syncd_run_reconciles_on_the_sections_schedule_and_acts_on_its_policies(make_world, portal):
    import threading
    from datetime import timedelta

    from syncd.daemon.cycles import CycleRunner
    from syncd.daemon.schedule import build_scheduler

    world = make_world(reconcile={"schedule": {"every": "1d"}})
    pushed(world, "E1")
    portal.rename(world.remote_id("E1"), "Renamed")
    runner = CycleRunner(world.config, world.engine, threading.Event())

    scheduler = build_scheduler(world.config, runner)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"lms:push", "lms:reconcile"}
    assert jobs["lms:reconcile"].trigger.interval == timedelta(days=1)
    assert hasattr(jobs["lms:push"], "next_run_time")  # the push starts at once
    assert not hasattr(jobs["lms:reconcile"], "next_run_time")  # reconcile waits its turn

    runner.reconcile("lms", lambda: None)

    assert portal.name_of(world.remote_id("E1")) == world_name(portal, "E1")
    status = {(r["connector"], r["direction"]): r for r in status_rows(world.engine)}
    assert status[("lms", "reconcile")]["state"] == "idle"
    without = make_world(reconcile={"on_drift": "report"})
    assert {job.id for job in build_scheduler(without.config, runner).get_jobs()} == {"lms:push"}


# --- users.on_leave: a leaver's groups (TalentLMS: groups and enrollments) --------------------


@pytest.fixture
def make_talentlms_world(tmp_path, db_url, sandbox):
    sim = sandbox.sim("talentlms")
    sim.reset()
    portal = TalentLMSPortal(sim)
    made: list[World] = []

    def make(on_leave: str | None = None) -> World:
        world = World(
            tmp_path,
            db_url,
            sandbox,
            portal,
            groups=[{"from": "Engineering Team"}],
            enrollments=[{"courses": [101]}],
        )
        if on_leave is not None:
            text = world.path.read_text().replace(
                "  users:\n", f"  users:\n    on_leave: {{groups: {on_leave}}}\n", 1
            )
            world.path.write_text(text)
            world.config = load_config(world.path)
        made.append(world)
        return world

    yield make, portal
    for world in made:
        world.close()


def memberships(portal: TalentLMSPortal, remote_id: str) -> tuple[set[int], list[int]]:
    user = portal.account(remote_id)
    return set(user.groups), portal.sim.store.courses_of(user.id)


@pytest.mark.parametrize("on_leave", [None, "keep", "remove"])
def test_a_leavers_groups_follow_on_leave_and_enrollments_are_never_removed(
    make_talentlms_world, on_leave
):
    make, portal = make_talentlms_world
    world = make(on_leave)
    pushed(world, "E1", "E2")
    leaver = world.remote_id("E1")
    assert memberships(portal, leaver) == ({1}, [101])

    world.hr = [person("E1", status="terminated"), person("E2")]
    result = world.push()

    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    assert not portal.is_active(leaver)
    groups, courses = memberships(portal, leaver)
    assert groups == (set() if on_leave == "remove" else {1})
    assert courses == [101]  # progress is never discarded
    assert world.links()["E1"].groups == (
        frozenset() if on_leave == "remove" else {"Engineering Team"}
    )
    assert memberships(portal, world.remote_id("E2")) == ({1}, [101])

    world.hr = [person("E1"), person("E2")]  # rehired: the groups come back
    assert world.push().outcome == CycleOutcome.SUCCESS
    assert memberships(portal, leaver) == ({1}, [101]) and portal.is_active(leaver)


# --- memberships, where the vendor lists them ------------------------------------------------


GROUP_LISTERS = [p for p in PORTALS if p.lists_groups]
"""The vendors whose memberships can be listed; the others say why in their capabilities."""
listing_groups = pytest.mark.parametrize(
    "portal", GROUP_LISTERS, ids=[p.vendor for p in GROUP_LISTERS], indirect=True
)


@listing_groups
def test_a_mapped_group_added_or_removed_by_hand_is_drift_and_put_back(make_world, portal):
    world = make_world()
    pushed(world, "E1", "E2", "E3")
    e1, e2 = world.remote_id("E1"), world.remote_id("E2")
    portal.add_to_group(e1, "Sales")
    portal.remove_from_group(e2, "Engineering")
    portal.add_to_group(e2, "Manager")  # a group the mapping never gives: not syncd's

    report = world.reconcile()

    assert situations(report)["E1"] == "drifted" and situations(report)["E2"] == "drifted"
    assert finding(report, "E1").as_json()["groups"] == {"missing": [], "extra": ["Sales"]}
    assert finding(report, "E2").as_json()["groups"] == {"missing": ["Engineering"], "extra": []}
    assert situations(report)["E3"] == "in_sync"
    assert portal.groups_of(e1) == {"Engineering", "Sales"}  # report only

    result = world.reconcile(apply=True)

    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    assert result.counts["memberships"] == 2
    assert portal.groups_of(e1) == {"Engineering"}
    assert portal.groups_of(e2) == {"Engineering", "Manager"}
    assert {situations(world.reconcile())[k] for k in ("E1", "E2", "E3")} == {"in_sync"}


@listing_groups
@pytest.mark.parametrize("on_leave", ["keep", "remove"])
def test_reconciliation_judges_a_leavers_groups_by_on_leave(make_world, portal, on_leave):
    world = make_world()
    users = world.path.read_text().replace(
        "  users:\n", f"  users:\n    on_leave: {{groups: {on_leave}}}\n", 1
    )
    world.path.write_text(users)
    world.config = load_config(world.path)
    pushed(world, "E1", "E2")
    leaver = world.remote_id("E1")
    world.hr = [person("E1", status="terminated"), person("E2")]
    assert world.push().outcome == CycleOutcome.SUCCESS

    kept = portal.groups_of(leaver)
    assert kept == ({"Engineering"} if on_leave == "keep" else set())
    assert situations(world.reconcile())["E1"] == "in_sync"  # as on_leave left them

    if on_leave == "keep":
        portal.remove_from_group(leaver, "Engineering")
    else:
        portal.add_to_group(leaver, "Engineering")
    again = world.reconcile(apply=True)

    if on_leave == "keep":  # a leaver's groups are not "missing": nothing is added back
        assert situations(again)["E1"] == "in_sync" and portal.groups_of(leaver) == set()
    else:  # expected absent: taken out again
        assert finding(again, "E1").as_json()["groups"]["extra"] == ["Engineering"]
        assert portal.groups_of(leaver) == set()
    assert not portal.is_active(leaver)


def test_a_person_whose_hr_record_is_held_back_is_left_alone(make_world, portal):
    world = make_world()
    pushed(world, "E1", "E2")
    world.hr = [person("E1"), person("E1"), person("E2")]  # E1 twice: neither record is used

    result = world.reconcile(apply=True)

    assert "E1" not in situations(result) and situations(result)["E2"] == "in_sync"
    assert portal.is_active(world.remote_id("E1"))
    assert any("appears more than once" in error for error in result.errors)


def test_a_connector_whose_vendor_cannot_list_its_users_fails_saying_why(tmp_path, db_url, sandbox):
    sim = sandbox.sim("learningpool")
    sim.reset()
    portal = LearningPoolPortal(sim)
    world = World(tmp_path, db_url, sandbox, portal)
    endpoints = {k: v for k, v in SANDBOX_ENDPOINTS.items() if k != "users_list"}
    document = yaml.safe_load(world.path.read_text())
    document["connectors"][0]["target"]["endpoints"] = endpoints
    world.path.write_text(yaml.safe_dump(document))
    world.config = load_config(world.path)
    try:
        result = world.reconcile()
    finally:
        world.close()

    assert result.outcome == CycleOutcome.FAILED and result.exit_code == 4
    assert result.message == (
        "learningpool cannot list its users (target.endpoints lacks users_list)"
    )

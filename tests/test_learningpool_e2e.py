"""Learning Pool end to end: real push and pull cycles against the sandbox over loopback HTTP.

Each test writes a YAML configuration (its ``endpoints:`` block pointing at the
sandbox's paths, as a customer's would point at theirs) and an HR file in tmp_path,
loads them with ``load_config`` and runs cycles through the runtime and the engines,
with the state store on SQLite and on PostgreSQL. What is asserted is what an
integration engineer would check on the platform, in the state store, in the HR sink
and in the exit code.
"""

from __future__ import annotations

import os
import re
import subprocess
import textwrap
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from syncd.config import ConfigError
from syncd.engine.cycle import CycleOutcome
from syncd.engine.push import stream
from syncd.http import TOKENS
from syncd.model import DesiredUser, OpState
from syncd.sandbox import Sandbox
from syncd.sandbox.learningpool.endpoints import SANDBOX_ENDPOINTS, SANDBOX_TARGET
from syncd.state.tables import operations
from tests.support.cli import run_syncd
from tests.support.e2e import (
    E2EConnector,
    calls,
    connector_factory,
    hr_person,
    last_request,
    reads_before_writing,
)

HR_COLUMNS = ["employee_id", "first_name", "last_name", "email", "department", "tz", "status"]
USERS = "POST /simple/v1/users"
TOKEN_SHAPE = re.compile(r"lp_[0-9a-f]{48}")  # the sandbox's access tokens
TOKEN = "POST /oauth/token"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """One Learning Pool simulator for the module, on the wall clock, with a roomy limit."""
    with Sandbox(vendors=["learningpool"], learningpool={"per_minute": 100_000}) as server:
        yield server


@pytest.fixture
def platform(sandbox):
    """The simulator back to its start-up data (courses 501-503, groups ENG, SALES, ALL)."""
    sim = sandbox.sim("learningpool")
    sim.reset()
    TOKENS.clear()
    return sim


def person(key: str, dept: str = "Engineering", **extra: Any) -> dict[str, Any]:
    return {**hr_person(key, dept), "tz": "Europe/London", **extra}


class Connector(E2EConnector):
    """One Learning Pool connector configured from YAML, and the HR file it reads."""

    name = "lp"
    columns = HR_COLUMNS

    def __init__(self, tmp_path: Path, db_url: str, base_url: str, **changes: Any) -> None:
        endpoints = {k: v for k, v in SANDBOX_ENDPOINTS.items() if k not in changes.get("drop", ())}
        endpoints.update(changes.get("endpoints", {}))
        super().__init__(
            tmp_path,
            db_url,
            {
                "name": "lp",
                "source": "hr",
                "scope": "status != 'contractor'",
                "schedule": {"every": "15m"},
                "target": {
                    "type": "learningpool",
                    "base_url": base_url,
                    **SANDBOX_TARGET,
                    "rate_limit": {"per_minute": 100_000},
                    "endpoints": endpoints,
                    **changes.get("target", {}),
                },
                "users": {
                    "match": "email",
                    "fields": {
                        "external_id": "{{ employee_id }}",
                        "username": "{{ employee_id | lower }}",
                        "email": "{{ email | lower }}",
                        "first_name": "{{ first_name }}",
                        "last_name": "{{ last_name }}",
                        "timezone": "{{ tz }}",
                    },
                    "active": "{{ status in ['active', 'leave'] }}",
                },
                "groups": [
                    {
                        "from": "{{ department }}",
                        "map": {"Engineering": "ENG", "Sales": "SALES"},
                    },
                    {"from": "All Staff"},
                ],
                "enrollments": [
                    {"courses": ["LX-SEC-101"]},
                    {"when": "{{ department == 'Sales' }}", "courses": ["LX-SAL-301"]},
                ],
                "guard": {"max_deactivations": "100%"},
                "pull": {"sink": "training"},
            },
        )

    def errors(self) -> list[dict]:
        return self.error_rows()

    def op_states(self) -> Counter:
        with self.engine.connect() as conn:
            return Counter(row.state for row in conn.execute(select(operations.c.state)))


@pytest.fixture
def make_connector(tmp_path, db_url, sandbox, platform):
    with connector_factory(Connector, tmp_path, db_url, sandbox.base_url("learningpool")) as make:
        yield make


def accounts(platform) -> dict[str, dict]:
    """Platform users by HR id, with their group names and enrolled course ids."""
    state = platform.dump()
    groups: dict[int, list[str]] = {}
    for group in state["groups"]:
        for member in group["members"]:
            groups.setdefault(member, []).append(group["name"])
    courses: dict[int, list[int]] = {}
    for enrolment in state["enrolments"]:
        courses.setdefault(enrolment["user_id"], []).append(enrolment["course_id"])
    return {
        u["external_id"]: {
            **u,
            "groups": sorted(groups.get(u["id"], [])),
            "courses": sorted(courses.get(u["id"], [])),
        }
        for u in state["users"]
    }


# ---------------------------------------------------------------------------------------------


def test_first_sync_creates_exactly_the_desired_accounts_and_a_second_costs_nothing(
    make_connector, platform
):
    lp = make_connector()
    lp.hr = [person("E1"), person("E2", dept="Sales"), person("E3", status="contractor")]
    result = lp.push()
    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    found = accounts(platform)
    assert set(found) == {"E1", "E2"}
    assert found["E1"]["groups"] == ["All Staff", "Engineering"]
    assert found["E2"]["groups"] == ["All Staff", "Sales"]
    assert found["E1"]["courses"] == [501] and found["E2"]["courses"] == [501, 503]
    assert (found["E2"]["username"], found["E2"]["email"]) == ("e2", "e2@acme.test")
    assert all(a["status"] == "active" for a in found.values())
    used = calls(platform)
    assert used[USERS] == 2 and used[TOKEN] == 1 and used["GET /simple/v1/groups"] == 1
    assert result.counts["created"] == 2 and result.counts["api_calls"] == sum(used.values())

    before = sum(calls(platform).values())
    again = lp.push()
    assert again.outcome == CycleOutcome.SUCCESS and again.plan == []
    assert again.counts["api_calls"] == 0 and sum(calls(platform).values()) == before


def test_leaver_is_deactivated_and_rehire_reactivated_not_created_twice(make_connector, platform):
    lp = make_connector()
    lp.hr = [person("E1"), person("E2")]
    lp.push()
    leaver = lp.hr.pop()
    result = lp.push()
    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    assert result.counts["deactivated"] == 1
    found = accounts(platform)
    assert found["E2"]["status"] == "expired" and found["E2"]["expires_at"]
    assert found["E2"]["courses"] == [501]  # expiry keeps enrolments, as Learning Pool says
    assert found["E1"]["status"] == "active"

    leaver["last_name"] = "Returned"
    lp.hr.append(leaver)
    result = lp.push()
    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    assert result.counts["reactivated"] == 1 and result.counts["created"] == 0
    found = accounts(platform)
    assert len(found) == 2
    assert found["E2"]["status"] == "active" and found["E2"]["last_name"] == "Returned"
    assert calls(platform)[USERS] == 2


def test_first_sync_adopts_existing_accounts_instead_of_creating(make_connector, platform):
    platform.seed(
        {
            "users": [
                {
                    "id": 10050,
                    "username": "legacy.e1",
                    "email": "E1@ACME.TEST",
                    "first_name": "Old",
                    "last_name": "One",
                },
                {
                    "id": 10051,
                    "username": "e2",
                    "email": "e2@acme.test",
                    "first_name": "Gone",
                    "last_name": "Two",
                    "expires_at": "2025-01-01T00:00:00Z",
                },
            ],
            "groups": [{"id": 210, "name": "Ops", "external_ref": "OPS", "members": [10050]}],
        }
    )
    lp = make_connector()
    lp.hr = [person("E1"), person("E2"), person("E3")]
    result = lp.push()
    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    assert result.counts["created"] == 1 and result.counts["reactivated"] == 1
    found = accounts(platform)
    assert set(found) == {"E1", "E2", "E3"}
    assert found["E1"]["id"] == 10050 and found["E1"]["first_name"] == "FirstE1"
    assert found["E1"]["username"] == "e1"  # the adopted account now follows HR
    assert found["E2"]["id"] == 10051 and found["E2"]["status"] == "active"
    assert found["E1"]["groups"] == ["All Staff", "Engineering", "Ops"]  # Ops is not syncd's
    assert lp.errors() == []
    assert calls(platform)[USERS] == 1


def test_an_invalid_record_is_reported_and_never_sent(make_connector, platform):
    lp = make_connector()
    lp.hr = [
        person("E1"),
        person("E2", tz="Europe/Atlantis"),
        person("E3", email="not-an-address"),
    ]
    result = lp.push()
    assert result.outcome == CycleOutcome.PARTIAL and result.exit_code == 1
    assert set(accounts(platform)) == {"E1"}
    assert calls(platform)[USERS] == 1  # the invalid ones never left syncd
    reasons = {e["hr_key"]: (e["operation"], e["reason"]) for e in lp.errors()}
    assert reasons == {
        "E2": ("validate", "timezone: 'Europe/Atlantis' is not a time zone such as Europe/London"),
        "E3": ("validate", "email: 'not-an-address' is not an email address"),
    }

    lp.hr[1]["tz"] = "Europe/Paris"  # fixed in HR: goes through and its error is resolved
    result = lp.push()
    assert result.counts["created"] == 1
    assert set(accounts(platform)) == {"E1", "E2"}
    assert {e["hr_key"] for e in lp.errors()} == {"E3"}


def test_a_token_expiring_mid_run_fails_nothing(make_connector, platform):
    lp = make_connector()
    lp.hr = [person(f"E{i}", dept="Sales" if i % 2 else "Engineering") for i in range(6)]
    adapter = lp.adapter()
    execute = adapter.execute
    batches = 0

    def expire_after_two_batches(ops):
        nonlocal batches
        batches += 1
        if batches == 3:
            platform.expire_tokens()  # the hour is up in the middle of the run
        return execute(ops)

    adapter.execute = expire_after_two_batches
    result = lp.push(adapter)
    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    assert result.counts["failed"] == 0 and result.counts["created"] == 6
    assert platform.count(status=401) == 1 and platform.count(TOKEN) == 2
    found = accounts(platform)
    assert len(found) == 6 and all(a["courses"] and a["groups"] for a in found.values())
    assert lp.op_states() == {OpState.DONE.value: sum(lp.op_states().values())}


def test_a_429_storm_mid_run_fails_nothing(make_connector, platform):
    lp = make_connector()
    lp.hr = [person(f"E{i}", dept="Sales" if i % 2 else "Engineering") for i in range(6)]
    platform.set_faults(
        {"storm_requests": 3, "storm_retry_after": 1, "paths": ["/simple/v1/courses"]}
    )
    result = lp.push()
    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    assert result.counts["failed"] == 0
    assert platform.count(status=429) == 3
    found = accounts(platform)
    assert len(found) == 6 and all(a["courses"] for a in found.values())
    assert set(lp.op_states()) == {OpState.DONE.value}


def test_a_lost_create_answer_is_found_not_sent_twice(make_connector, platform):
    lp = make_connector()
    lp.hr = [person("E1"), person("E2")]
    adapter = lp.adapter()
    execute = adapter.execute

    def lose_the_first_create_answer(ops):
        if ops[0].hr_key == "E1" and ops[0].kind.value == "create":
            # The platform creates the account, then the connection drops.
            platform.set_faults(
                {"drop_next": 1, "drop_after_processing": True, "paths": ["/simple/v1/users"]}
            )
        return execute(ops)

    adapter.execute = lose_the_first_create_answer
    first = lp.push(adapter)
    assert first.counts["created"] == 1
    with lp.engine.connect() as conn:
        lost = conn.execute(
            select(operations.c.hr_key).where(operations.c.state == OpState.UNKNOWN.value)
        ).all()
    assert [row.hr_key for row in lost] == ["E1"]
    second = lp.push()
    assert second.outcome == CycleOutcome.SUCCESS, second.errors
    assert second.counts["created"] == 1
    found = accounts(platform)
    assert set(found) == {"E1", "E2"}  # found by email, not created again
    assert found["E1"]["groups"] == ["All Staff", "Engineering"] and found["E1"]["courses"]
    assert calls(platform)[USERS] == 2


POSTED = {
    "group_member_add": {"method": "POST", "path": "/simple/v1/groups/{group_id}/members"},
    "enrolment_create": {"method": "POST", "path": "/simple/v1/enrolments"},
}
"""A platform whose adds are POSTs, which it refuses to repeat (the sandbox's strict shape)."""
ENG_MEMBERS = "/simple/v1/groups/201/members"


def lost_answers(platform, count: int, *paths: str) -> None:
    """The next ``count`` requests to ``paths`` take effect, then their connection drops."""
    faults = {"drop_next": count, "drop_after_processing": True, "paths": list(paths)}
    platform.set_faults(faults)


def test_a_membership_and_an_enrolment_sent_again_after_a_lost_answer_leave_one_each(
    make_connector, platform
):
    lp = make_connector(endpoints=POSTED)
    lp.hr = [person("E1")]
    lost_answers(platform, 2, ENG_MEMBERS, "/simple/v1/enrolments")
    first = lp.push()
    assert first.outcome == CycleOutcome.PARTIAL  # two writes whose answer never came
    assert platform.count("POST /simple/v1/enrolments", "dropped") == 1
    assert lp.op_states()[OpState.UNKNOWN.value] == 2

    second = lp.push()
    assert second.outcome == CycleOutcome.SUCCESS, second.errors
    found = accounts(platform)["E1"]
    assert found["groups"] == ["All Staff", "Engineering"] and found["courses"] == [501]
    assert calls(platform)["POST /simple/v1/groups/{group_id}/members"] == 2  # not re-sent:
    assert calls(platform)["POST /simple/v1/enrolments"] == 1  # the state was read first
    assert platform.count(status=422) == 0
    assert lp.errors() == [] and set(lp.op_states()) == {OpState.DONE.value}


def test_a_deactivation_sent_again_after_a_lost_answer_is_read_not_sent(make_connector, platform):
    lp = make_connector()
    lp.hr = [person("E1"), person("E2")]
    lp.push()
    leaver = accounts(platform)["E2"]["id"]
    lp.hr.pop()
    lost_answers(platform, 1, f"/simple/v1/users/{leaver}/deactivate")
    first = lp.push()
    assert first.outcome == CycleOutcome.PARTIAL and first.counts["deactivated"] == 0
    assert accounts(platform)["E2"]["status"] == "expired"  # it took effect all the same

    second = lp.push()
    assert second.outcome == CycleOutcome.SUCCESS, second.errors
    assert second.counts["deactivated"] == 1
    assert platform.count("POST /simple/v1/users/{user_id}/deactivate") == 1  # read, not re-sent
    assert lp.errors() == [] and set(lp.op_states()) == {OpState.DONE.value}


def test_an_add_refused_as_already_done_by_hand_is_settled_by_reading(make_connector, platform):
    lp = make_connector(endpoints=POSTED)
    lp.hr = [person("E1")]
    lp.push()
    platform.reset()
    TOKENS.clear()
    platform.seed(
        {
            "users": [
                {
                    "id": 10001,
                    "external_id": "E1",
                    "username": "e1",
                    "email": "e1@acme.test",
                    "first_name": "FirstE1",
                    "last_name": "LastE1",
                }
            ]
        }
    )
    with platform.lock:  # an administrator adds E1 to Sales by hand
        platform.store.groups[202].members[10001] = platform.now()
    lp.hr = [person("E1", dept="Sales")]
    result = lp.push()
    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    assert platform.count("POST /simple/v1/groups/{group_id}/members", 422) == 1
    assert accounts(platform)["E1"]["groups"] == ["Sales"]
    assert lp.errors() == []


def test_a_completion_reaches_the_hr_sink_exactly_once(make_connector, platform):
    lp = make_connector()
    lp.hr = [person("E1"), person("E2", dept="Sales")]
    lp.push()
    ids = {key: a["id"] for key, a in accounts(platform).items()}
    platform.complete(ids["E1"], "LX-SEC-101", score=88)

    for _ in range(2):
        pulled = lp.pull()
        assert pulled.outcome == CycleOutcome.SUCCESS, pulled.errors
    platform.complete(ids["E2"], "LX-SAL-301", score=70)
    platform.complete(ids["E2"], "LX-SEC-101", progress=30)  # started, not complete
    for _ in range(2):
        pulled = lp.pull()
        assert pulled.outcome == CycleOutcome.SUCCESS, pulled.errors
    rows = lp.sink_rows()
    assert [(r["hr_key"], r["course_id"], r["status"], r["score"]) for r in rows] == [
        ("E1", "501", "completed", "88"),
        ("E2", "501", "in_progress", ""),  # from the in-progress feed
        ("E2", "503", "completed", "70"),
    ]
    assert rows[0]["vendor"] == "learningpool" and rows[0]["completed_at"].endswith("Z")
    assert rows[0]["course_name"] == "Information Security Basics"
    assert (rows[1]["progress"], rows[1]["completed_at"]) == ("30", "")


def test_an_unconfigured_endpoint_is_a_configuration_error_naming_the_key(
    tmp_path, db_url, sandbox, platform
):
    with pytest.raises(ConfigError) as raised:
        Connector(tmp_path, db_url, sandbox.base_url("learningpool"), drop=["user_deactivate"])
    [problem] = raised.value.problems
    assert problem.path == "connectors[lp].target.endpoints"
    assert problem.message == (
        "learningpool cannot deactivate users (target.endpoints lacks user_deactivate); "
        "configure what it lacks"
    )
    check = syncd_cli("config", "check", "--config", str(tmp_path / "syncd.yaml"))
    assert check.returncode == 2
    assert "target.endpoints lacks user_deactivate" in check.stdout + check.stderr


def test_a_listing_that_ignores_its_page_parameter_fails_the_cycle_naming_the_endpoint(
    make_connector, platform
):
    paging = {**SANDBOX_TARGET["paging"], "page_param": "pg", "page_size": 1}  # pg: unknown
    lp = make_connector(target={"paging": paging})
    lp.hr = [person("E1"), person("E2")]
    pushed = lp.push()  # the groups listing (three groups) is read first
    assert pushed.outcome == CycleOutcome.FAILED and pushed.exit_code == 4
    assert "GET /simple/v1/groups: page 2 repeats page 1" in pushed.message
    assert "ignores pg=2; check target.paging" in pushed.message
    assert platform.count("GET /simple/v1/groups") == 2  # no loop

    for account in accounts(platform).values():
        platform.complete(account["id"], "LX-SEC-101")
    pulled = lp.pull()
    assert pulled.outcome == CycleOutcome.FAILED and pulled.exit_code == 4
    assert "GET /simple/v1/completions: page 2 repeats page 1" in pulled.message
    assert len(lp.sink_rows()) <= 1  # page 1 at most, never twice
    # page 1, page 1 again from the newest time read (keyset), then page 2: the repeat
    assert platform.count("GET /simple/v1/completions") == 3


def test_config_check_names_every_key_the_mapping_needs(tmp_path):
    config = tmp_path / "syncd.yaml"
    config.write_text(
        textwrap.dedent(
            """
            sources: {hr: {type: csv, path: hr.csv, key: employee_id}}
            sinks: {training: {type: csv, path: training.csv}}
            connectors:
              - name: lp
                source: hr
                schedule: {every: 1h}
                target:
                  type: learningpool
                  base_url: https://learning.acme.example
                  client_id: id
                  client_secret: not-shown
                  endpoints:
                    users_list: {method: GET, path: /api/users}
                    user_create: {method: POST, path: /api/users}
                    user_update: {method: PATCH, path: "/api/users/{user_id}"}
                    user_deactivate: {method: PATCH, path: "/api/users/{user_id}"}
                    user_reactivate: {method: PATCH, path: "/api/users/{user_id}"}
                    completions_list: {method: GET, path: /api/completions}
                users:
                  match: email
                  fields: {username: "{{ email }}", email: "{{ email }}",
                           first_name: "{{ first_name }}", last_name: "{{ last_name }}"}
                pull: {sink: training}
            """
        )
    )
    check = syncd_cli("config", "check", "--config", str(config))
    output = check.stdout + check.stderr
    assert check.returncode == 2, output
    for needed in (
        "connectors[lp].target.token_path: required: Learning Pool documents no token path",
        "connectors[lp].target.token_encoding: required: Learning Pool documents no token",
        "cannot read learning results (target lacks paging)",
        "cannot deactivate users (target lacks deactivation)",
        "cannot reactivate users (target lacks deactivation)",
        "cannot find existing accounts by email (target lacks paging)",
    ):
        assert needed in output, output
    assert "not-shown" not in output


def test_credentials_refused_even_when_fresh_stop_the_cycle_with_exit_code_4(
    make_connector, platform
):
    lp = make_connector()
    lp.hr = [person("E1")]
    lp.write_hr()
    platform.set_faults({"token_lifetime": 0.000001})  # every token is dead on arrival
    result = syncd_cli("sync", "lp", "--direction", "push", "--config", str(lp.path))
    assert result.returncode == 4, result.stdout + result.stderr
    assert "refused the credentials" in result.stdout + result.stderr
    assert accounts(platform) == {}
    assert platform.count(TOKEN) == 2 and platform.count(status=401) == 2

    pulled = lp.pull()
    assert pulled.outcome == CycleOutcome.FAILED and pulled.exit_code == 4
    assert "freshly issued token" in pulled.message
    assert_no_secret_in_database(lp)


def assert_no_secret_in_database(lp: Connector) -> None:
    """Neither the client secret nor any token the sandbox issued is in the state store."""
    secret = SANDBOX_TARGET["client_secret"]
    with lp.engine.connect() as conn:
        tables = [
            row[0]
            for row in conn.execute(
                text(
                    "select table_name from information_schema.tables "
                    "where table_schema = current_schema()"
                )
                if lp.engine.dialect.name == "postgresql"
                else text("select name from sqlite_master where type = 'table'")
            )
        ]
        for table in tables:
            for row in conn.execute(text(f'select * from "{table}"')):
                dumped = " ".join(str(value) for value in row)
                assert secret not in dumped and not TOKEN_SHAPE.search(dumped), table


def syncd_cli(*args: str) -> subprocess.CompletedProcess:
    """``syncd ARGS`` without this run's ``SYNCD_`` variables: only the file configures it."""
    return run_syncd(*args, without=[k for k in os.environ if k.startswith("SYNCD_")])


# --- a streamed first sync adopts from one listing read -----------------------------------------

LISTING = "GET /simple/v1/users"


def hand_made(user_id: int, key: str) -> dict:
    """An account an admin made on the platform, for HR person ``key`` (same e-mail)."""
    return {
        "id": user_id,
        "username": f"hand.{key.lower()}",
        "email": f"{key.lower()}@acme.test",
        "external_id": f"hand-{key}",
        "first_name": "Hand",
        "last_name": key,
    }


def test_a_streamed_first_sync_reads_the_listing_once_to_adopt_and_never_past_its_cycle(
    make_connector, platform, monkeypatch
):
    monkeypatch.setattr(stream, "CHUNK", 3)  # ten new people: four chunks, each adopting
    strangers = [hand_made(20000 + i, f"X{i}") for i in range(120)]
    platform.seed({"users": [*strangers, hand_made(10052, "E2"), hand_made(10059, "E9")]})
    pages = 2  # 122 accounts, 100 a page
    lp = make_connector()
    lp.hr = [person(f"E{n}") for n in range(1, 11)]
    adapter = lp.adapter()
    try:
        since = last_request(platform)
        result = lp.push_keeping(adapter)
        assert result.outcome == CycleOutcome.SUCCESS, result.errors
        assert reads_before_writing(platform, since, LISTING, USERS) == pages
        found = accounts(platform)
        assert found["E2"]["id"] == 10052 and found["E9"]["id"] == 10059  # adopted, updated
        assert result.counts["created"] == 8 and len(found) == 120 + 10  # none created twice

        # An admin makes accounts by hand; the adapter lives on into the next cycle.
        platform.seed({"users": [hand_made(10061, "E11"), hand_made(10070, "E20")]})
        # A lost create's lookup reads the platform now, not the first cycle's listing.
        lost = [
            DesiredUser(hr_key=k, fields={"email": f"{k.lower()}@acme.test"})
            for k in ("E20", "E21", "E22")
        ]
        found_now = adapter.match_existing(lost, None)
        assert {k: a.remote_id for k, a in found_now.items()} == {"E20": "10070"}
        lp.hr += [person(f"E{n}") for n in range(11, 15)]
        since = last_request(platform)
        again = lp.push_keeping(adapter)
        assert again.outcome == CycleOutcome.SUCCESS, again.errors
        assert again.counts["created"] == 3 and lp.errors() == []
        found = accounts(platform)
        assert found["E11"]["id"] == 10061 and len(found) == 120 + 10 + 2 + 3
        assert reads_before_writing(platform, since, LISTING, USERS) == pages
    finally:
        adapter.close()


def test_a_streamed_first_sync_chooses_lookups_or_the_listing_once_for_all_its_new_people(
    make_connector, platform, monkeypatch
):
    """Four chunks of three new people each, on a platform of five pages: three people a
    chunk would be three filtered lookups a chunk (a page read besides), but twelve people
    in all cost more in lookups than the five pages of one listing, read once for all."""
    monkeypatch.setattr(stream, "CHUNK", 3)
    strangers = [hand_made(20000 + i, f"X{i}") for i in range(440)]
    # Accounts an admin made for two of the people, past the listing's first page.
    platform.seed({"users": [*strangers, hand_made(10055, "E5"), hand_made(10061, "E11")]})
    pages = 5  # 442 accounts, 100 a page
    lp = make_connector()
    lp.hr = [person(f"E{n}") for n in range(1, 13)]
    adapter = lp.adapter()
    try:
        since = last_request(platform)
        result = lp.push_keeping(adapter)
        assert result.outcome == CycleOutcome.SUCCESS, result.errors
        # Before the first create: the listing's pages, once, and no lookup (same endpoint).
        assert reads_before_writing(platform, since, LISTING, USERS) == pages
        found = accounts(platform)
        assert found["E5"]["id"] == 10055 and found["E11"]["id"] == 10061  # adopted, updated
        assert "hand-E5" not in found and "hand-E11" not in found
        assert result.counts["created"] == 10 and len(found) == 440 + 12  # none created twice
        assert lp.errors() == []
    finally:
        adapter.close()

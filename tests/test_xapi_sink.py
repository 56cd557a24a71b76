"""The ``xapi`` sink against a real learning record store (Ralph, on loopback).

What an LRS administrator would check: the LRS holds one statement per change of a
result, never two copies of one, even when a ``syncd sync --direction pull`` process is
killed between sending and recording; each statement is valid by the xAPI models the
LRS itself ships; a re-send of a statement the LRS stamped itself is taken as the same
statement, a different statement under the same id is refused. OAuth2, the version
header and 429s are checked against a scripted server (Ralph speaks neither OAuth2
client credentials nor 429).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError
from ralph.models.xapi.base.statements import BaseXapiStatement
from ralph.models.xapi.concepts.activity_types.scorm_profile import CourseActivity
from ralph.models.xapi.concepts.verbs.scorm_profile import CompletedVerb
from sqlalchemy import func, select
from support_http import LoopbackServer, Received, Reply

from syncd.assemble import open_sink
from syncd.config.schema.sinks import SinkConfig
from syncd.engine.cycle import CycleOutcome
from syncd.engine.pull.run import PullSettings, run_pull
from syncd.http import RetryPolicy
from syncd.model import LinkState, ResultStatus
from syncd.sandbox import Sandbox
from syncd.sink_protocol import SinkError
from syncd.state import store
from syncd.state.db import make_engine
from syncd.state.tables import delivered_results
from tests.fake_results import START, learned, standard_lms
from tests.support.cli import syncd_command
from tests.support.configs import talentlms_connector, write_config
from tests.support.e2e import write_rows
from tests.support.ralph import PASSWORD, USERNAME, Ralph

HR_HOME = "https://hr.example.com"
BASE = "https://lms.example.com/courses"
ADL = "http://adlnet.gov/expapi/verbs/"
EXPIRES = f"{BASE}/extensions/certificate-expires-at"
PROGRESS = "https://w3id.org/xapi/cmi5/result/extensions/progress"


def sink_config(endpoint: str, **changes: Any) -> dict[str, Any]:
    return {
        "type": "xapi",
        "endpoint": endpoint,
        "auth": {"type": "basic", "username": USERNAME, "password": PASSWORD},
        "actor": {"account": {"home_page": HR_HOME}},
        "activity_base": BASE,
        **changes,
    }


def open_xapi(config: dict[str, Any]):
    validated = TypeAdapter(SinkConfig).validate_python(config)
    return open_sink("lrs", validated, retry=RetryPolicy(attempts=2, backoff_initial=0.0))


def valid(statement: dict[str, Any]) -> BaseXapiStatement:
    """The statement as Ralph's xAPI models read it (ValidationError if it is not xAPI)."""
    parsed = BaseXapiStatement.model_validate(statement)
    CourseActivity.model_validate(statement["object"])
    return parsed


def by_person_course(stored: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    return Counter((s["actor"]["account"]["name"], s["object"]["id"]) for s in stored)


@pytest.fixture
def lrs(start_ralph) -> Ralph:
    return start_ralph()


def test_each_change_of_a_result_is_one_valid_statement(lrs, migrated_db_url):
    engine = make_engine(migrated_db_url)
    lms = standard_lms()  # u1..u4, courses c1 and c2, all in progress
    with engine.begin() as conn:
        for number in range(1, 5):
            store.save_link(conn, "lms", LinkState(f"E{number}", f"u{number}", {}, True))

    def pull() -> None:
        with open_xapi(sink_config(lrs.endpoint)) as sink:
            result = run_pull(PullSettings("lms", engine, lms, sink, "lrs"))
        assert result.outcome == CycleOutcome.SUCCESS, result.errors

    pull()
    pull()
    first = lrs.stored()
    assert len(first) == 8
    assert set(by_person_course(first).values()) == {1}
    for statement in first:
        valid(statement)
        assert statement["verb"]["id"] == ADL + "progressed"
        assert statement["result"] == {"completion": False, "extensions": {PROGRESS: 50}}
        assert statement["object"]["id"].startswith(f"{BASE}/fakelms/c")
        assert statement["timestamp"].endswith("Z")  # the LMS's time, not the LRS's

    lms.complete("u1", "c1", score=90.0)
    lms.set("u1", "c1", certificate_expires_at=datetime(2027, 5, 1, tzinfo=UTC))
    pull()
    pull()
    stored = lrs.stored()
    assert len(stored) == 9  # one new statement for the one change; nothing else again
    latest = stored[-1]
    parsed = valid(latest)
    CompletedVerb.model_validate(latest["verb"])
    assert parsed.actor.account.name == "E1"
    assert latest["object"]["id"] == f"{BASE}/fakelms/c1"
    assert latest["result"]["completion"] is True and "success" not in latest["result"]
    assert latest["result"]["score"] == {"scaled": 0.9, "raw": 90.0, "min": 0, "max": 100}
    assert latest["timestamp"] == "2024-05-02T09:00:00Z"  # the LMS's completion time
    assert latest["context"]["extensions"] == {EXPIRES: "2027-05-01T00:00:00Z"}
    earlier = [s for s in stored[:-1] if s["actor"]["account"]["name"] == "E1"]
    assert latest["context"]["registration"] in {s["context"]["registration"] for s in earlier}
    assert len({s["id"] for s in stored}) == 9
    engine.dispose()


def test_a_resend_is_the_same_statement_and_a_different_one_is_refused(lrs):
    undated = learned("E7", "101", ResultStatus.NOT_STARTED)  # no LMS time: the LRS stamps one
    with open_xapi(sink_config(lrs.endpoint)) as sink:
        sink.write([undated])
        sink.write([undated])  # a re-send, as after a crash: Ralph answers 409, read back
    [statement] = lrs.stored()
    valid(statement)
    assert statement["verb"]["id"] == ADL + "registered"

    other = learned("E8", "101", ResultStatus.PASSED, completed_at=START)
    with open_xapi(sink_config(lrs.endpoint)) as sink:
        planted = {**sink.builder.statement(other), "verb": {"id": ADL + "failed"}}
        assert lrs.put(planted).status_code == 204
        with pytest.raises(SinkError) as refused:
            sink.write([other])
    message = str(refused.value)
    assert f"statement {planted['id']} of E8 in course 101" in message
    assert "holds a different statement" in message
    assert [s["verb"]["id"] for s in lrs.stored()] == [ADL + "registered", ADL + "failed"]


def test_mbox_actor_and_refused_credentials(lrs):
    result = learned("jdoe", "SAFE 1", ResultStatus.FAILED, "ilms", score=40.0, completed_at=START)
    config = sink_config(lrs.endpoint, actor={"mbox": "mailto:{hr_key}@corp.example"})
    with open_xapi(config) as sink:
        sink.write([result])
    [statement] = lrs.stored()
    valid(statement)
    assert statement["actor"] == {"objectType": "Agent", "mbox": "mailto:jdoe@corp.example"}
    assert statement["object"]["id"] == f"{BASE}/ilms/SAFE%201"
    assert statement["result"]["success"] is False and "completion" not in statement["result"]

    with open_xapi(config) as sink, pytest.raises(SinkError) as caught:
        sink.write([learned("j doe", "X", ResultStatus.FAILED)])
    assert "hr_key 'j doe' cannot fill the mbox template" in str(caught.value)

    wrong = {**config, "auth": {"type": "basic", "username": USERNAME, "password": "not-it-9"}}
    with open_xapi(wrong) as sink, pytest.raises(SinkError) as caught:
        sink.write([result])
    assert "401" in str(caught.value) and "not-it-9" not in str(caught.value)


def test_oauth2_version_header_and_429_are_honoured():
    answers = iter([Reply(429, {"error": "slow down"}, {"Retry-After": "0"}), Reply(204)])

    def lrs(request: Received) -> Reply:
        if request.path == "/token":
            return Reply(200, {"access_token": "lrs-token", "expires_in": 600})
        if request.headers.get("authorization") != "Bearer lrs-token":
            return Reply(401)
        return next(answers)

    result = learned("E9", "C9", ResultStatus.COMPLETED, "hownow")
    with LoopbackServer(lrs) as server:
        auth = {
            "type": "oauth2",
            "token_url": server.url + "/token",
            "client_id": "syncd",
            "client_secret": "lrs-oauth-secret",
        }
        with open_xapi(sink_config(server.url + "/data/xAPI", auth=auth)) as sink:
            sink.write([result])
    token, limited, stored = server.requests
    assert token.path == "/token"
    assert limited.target == stored.target
    assert stored.method == "PUT" and stored.path == "/data/xAPI/statements"
    assert stored.query["statementId"] == stored.json()["id"]
    assert stored.headers["x-experience-api-version"] == "1.0.3"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"actor": {}}, "set account (home_page, name), mbox or email_field"),
        (
            {"actor": {"mbox": "mailto:{hr_key}@x.example", "account": {"home_page": HR_HOME}}},
            "set one of account, mbox and email_field",
        ),
        (
            {"actor": {"mbox": "mailto:{hr_key}@x.example", "email_field": "email"}},
            "set one of account, mbox and email_field",
        ),
        ({"actor": {"mbox": "mailto:someone@x.example"}}, "exactly one placeholder"),
        ({"activity_base": "lms courses"}, "is not an absolute http(s) IRI"),
        ({"endpoint": "http://lrs.example.com/xAPI"}, "only https:// URLs are accepted"),
    ],
)
def test_configuration_mistakes_are_named(changes, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        TypeAdapter(SinkConfig).validate_python(
            {**sink_config("https://lrs.example.com"), **changes}
        )


# -- a pull process killed between sending and recording -------------------------------------

PEOPLE = 30


def _kill_config(tmp_path: Path, db_url: str, talentlms: str, endpoint: str) -> Path:
    # At most ten statements a second: the batch of 30 takes seconds to send, so the kill
    # below lands while it is being sent, whatever the load of this machine.
    sink = sink_config(endpoint, rate_limit={"burst": 10, "burst_window": "1s"})
    connector = talentlms_connector(
        "lms",
        talentlms,
        "sandbox-talentlms-key",
        pull={"sink": "lrs", "start_date": "2020-01-01"},
    )
    return write_config(
        tmp_path, db_url, connector, sinks={"lrs": sink}, log={"format": "json", "level": "warning"}
    )


def _delivered(db_url: str) -> int:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(delivered_results)).scalar_one()
    finally:
        engine.dispose()


def _sync(config: Path, direction: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        syncd_command("sync", "lms", "--direction", direction, "--config", str(config)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    )


@pytest.mark.slow
def test_a_pull_killed_while_sending_sends_again_and_the_lrs_keeps_one_copy(
    tmp_path, migrated_db_url, lrs
):
    db_url = migrated_db_url
    people = [
        {
            "employee_id": f"E{n:02d}",
            "first_name": f"First{n}",
            "last_name": f"Last{n}",
            "email": f"e{n}@kill.test",
        }
        for n in range(PEOPLE)
    ]
    write_rows(tmp_path / "hr.csv", list(people[0]), people)
    with Sandbox(vendors=["talentlms"], job_duration=0.02) as sandbox:
        portal = sandbox.sim("talentlms")
        config = _kill_config(tmp_path, db_url, sandbox.base_url("talentlms"), lrs.endpoint)
        pushed = _sync(config, "push")
        assert pushed.wait(timeout=120) == 0, pushed.stderr.read().decode()[-2000:]
        ids = {u["email"]: u["id"] for u in portal.dump()["users"]}
        for person in people:
            portal.complete(ids[person["email"]], 101, score=80)

        killed = _sync(config, "pull")
        deadline = time.monotonic() + 120
        while not lrs.holds_any() and killed.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        sent_before_kill = len(lrs.stored())
        # Killed between sending and recording: some statements are in the LRS, and the
        # state store recorded none of them as delivered.
        assert 0 < sent_before_kill < PEOPLE
        assert _delivered(db_url) == 0

        for run in range(2):
            finished = _sync(config, "pull")
            assert finished.wait(timeout=120) == 0, finished.stderr.read().decode()[-2000:]
            stored = lrs.stored()
            assert len(stored) == PEOPLE, f"run {run}: {len(stored)} statements"
    assert by_person_course(stored) == Counter(
        {(p["employee_id"], f"{BASE}/talentlms/101"): 1 for p in people}
    )
    for statement in stored:
        valid(statement)
        assert statement["verb"]["id"] == ADL + "completed"
    assert _delivered(db_url) == PEOPLE

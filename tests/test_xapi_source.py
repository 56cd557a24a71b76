"""The ``xapi`` pull source against a real learning record store (Ralph, on loopback).

What an integration engineer would check: a connector with ``pull.from: xapi`` reads
every course result from the LRS, page after page through its ``more`` links (Ralph
pages by its own ``RALPH_RUNSERVER_MAX_SEARCH_HITS_COUNT``), and then only what was
stored since; verbs become statuses, actors become HR keys (an HR account, an mbox, or
an LMS account through the links); results of people nobody is linked to are reported
and kept; what the ``xapi`` sink wrote reads back the same; with ``from: both`` the
vendor and the LRS each go on from their own cursor, whatever ``from`` said before.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from syncd.assemble import open_sink
from syncd.assemble.checks import check, load_config
from syncd.assemble.cycles import pull_once
from syncd.config.schema.sinks import SinkConfig
from syncd.config.schema.xapi import XapiSourceConfig
from syncd.engine.cycle import CycleOutcome
from syncd.model import LearningResult, LinkState, ResultStatus
from syncd.sink_protocol import SinkError
from syncd.state import results as pulled
from syncd.state import store
from syncd.state.db import make_engine
from syncd.state.learning import listed
from syncd.state.status import error_rows
from syncd.vendors.context import AdapterContext
from syncd.vendors.xapi import LrsSource
from tests.fake_results import START, learned, standard_lms
from tests.support.configs import save_config, talentlms_connector, write_config
from tests.support.e2e import read_rows
from tests.support.ralph import PASSWORD, USERNAME, Ralph
from tests.test_xapi_sink import valid

ADL = "http://adlnet.gov/expapi/verbs/"
HR_HOME = "https://hr.example.com"
LXP_HOME = "https://acme.lxp.example"
COURSES = "https://acme.lxp.example/course/"
AUTH = {"type": "basic", "username": USERNAME, "password": PASSWORD}
PROGRESS = "https://w3id.org/xapi/cmi5/result/extensions/progress"


def statement(actor: dict[str, Any], verb: str, course: str = "C1", **parts: Any) -> dict[str, Any]:
    """A statement as an LXP would write it: no timestamp, so the LRS stamps its own."""
    return {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", **actor},
        "verb": {"id": verb if verb.startswith("http") else ADL + verb},
        "object": {
            "objectType": "Activity",
            "id": course if course.startswith("http") else COURSES + course,
            "definition": {"name": {"en-US": f"Course {course}"}},
        },
        **parts,
    }


def hr_account(key: str) -> dict[str, Any]:
    return {"account": {"homePage": HR_HOME, "name": key}}


class LrsConnector:
    """Connector "lms" pulling from ``lrs`` into a CSV sink; ``pull`` changes its ``pull``."""

    def __init__(self, tmp_path: Path, db_url: str, lrs: Ralph, **pull: Any) -> None:
        self.tmp_path = tmp_path
        self.db_url = db_url
        self.lrs = lrs
        self.sink_path = tmp_path / "training.csv"
        self.configure(**pull)
        self.engine = make_engine(db_url)

    def configure(self, *, xapi: dict[str, Any] | None = None, **pull: Any) -> None:
        source = {
            "endpoint": self.lrs.endpoint,
            "auth": AUTH,
            "actor": {"account": {"home_page": HR_HOME}},
            "activity_prefix": COURSES,
            **(xapi or {}),
        }
        connector = talentlms_connector(
            "lms",
            "http://127.0.0.1:9",  # never called unless the pull reads the vendor
            "unused-key",
            pull={"sink": "training", "from": "xapi", "xapi": source, **pull},
        )
        sink = {"type": "csv", "path": str(self.sink_path)}
        path = write_config(self.tmp_path, self.db_url, connector, sinks={"training": sink})
        self.config = load_config(path)

    def pull(self, adapter: Any = None):
        return pull_once(self.config, "lms", self.engine, adapter=adapter)

    def link(self, hr_key: str, remote_id: str, **fields: Any) -> None:
        with self.engine.begin() as conn:
            store.save_link(conn, "lms", LinkState(hr_key, remote_id, fields, True))

    def rows(self) -> list[dict[str, str]]:
        return read_rows(self.sink_path) if self.sink_path.exists() else []

    def cursor(self) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            return pulled.load_cursor(conn, "lms", pulled.cursor_name("training"))


@pytest.fixture
def connector(tmp_path, migrated_db_url, start_ralph):
    made: list[LrsConnector] = []

    def make(page_size: int = 100, **pull: Any) -> LrsConnector:
        made.append(LrsConnector(tmp_path, migrated_db_url, start_ralph(page_size), **pull))
        return made[-1]

    yield make
    for one in made:
        one.engine.dispose()


def test_pull_follows_more_links_then_reads_only_what_was_stored_since(connector):
    lms = connector(page_size=10, overlap="0s")
    lms.lrs.post([statement(hr_account(f"E{n:02d}"), "completed") for n in range(25)])

    first = lms.pull()
    assert first.outcome == CycleOutcome.SUCCESS, first.errors
    assert first.counts["api_calls"] == 3  # 10 + 10 + 5: two more links followed
    assert sorted(r["hr_key"] for r in lms.rows()) == [f"E{n:02d}" for n in range(25)]
    newest = max(s["stored"] for s in lms.lrs.stored())
    cursor = lms.cursor()
    assert cursor is not None and cursor["xapi_caught_up"] is True
    assert cursor["xapi_stored"].replace("Z", "+00:00") == newest

    lms.lrs.post([statement(hr_account(f"E{n:02d}"), "passed") for n in range(25, 28)])
    second = lms.pull()
    assert second.outcome == CycleOutcome.SUCCESS, second.errors
    assert second.counts["api_calls"] == 1 and second.counts["records_seen"] == 3
    rows = lms.rows()
    assert [(r["hr_key"], r["status"]) for r in rows[25:]] == [
        ("E25", "passed"),
        ("E26", "passed"),
        ("E27", "passed"),
    ]
    third = lms.pull()
    assert third.counts["records_seen"] == 0 and len(lms.rows()) == 28


def test_a_read_cut_short_by_the_budget_goes_on_from_where_it_stopped(connector):
    # 4 calls a minute, half of them for a pull: 2 calls a cycle, 5 statements a call.
    lms = connector(xapi={"page_size": 5, "rate_limit": {"per_minute": 4, "margin": 1}})
    lms.lrs.post([statement(hr_account(f"E{n:02d}"), "completed") for n in range(12)])

    first = lms.pull()
    assert first.outcome == CycleOutcome.SUCCESS, first.errors
    assert first.counts["api_calls"] == 2 and len(lms.rows()) == 10
    assert lms.cursor()["xapi_caught_up"] is False

    second = lms.pull()  # from the last statement read, not an hour (pull.overlap) before it
    assert second.counts["api_calls"] == 1
    assert sorted(r["hr_key"] for r in lms.rows()) == [f"E{n:02d}" for n in range(12)]
    assert lms.cursor()["xapi_caught_up"] is True


def test_verbs_and_actors_map_back_to_statuses_and_hr_keys(connector):
    expires = "https://acme.lxp.example/ext"
    lms = connector(
        xapi={
            "actor": {
                "account": {"home_page": LXP_HOME, "name": "lms_user_id"},
                "mbox": "mailto:{hr_key}@corp.example",
            },
            "extension_base": expires,
        }
    )
    lms.link("E5", "u5")
    lxp = {"account": {"homePage": LXP_HOME, "name": "u5"}}
    lms.lrs.post(
        [
            statement(lxp, "passed", result={"success": True, "score": {"scaled": 0.75}}),
            statement({"mbox": "mailto:E6@corp.example"}, "failed", "C2"),
            statement(
                {"mbox": "mailto:E7@corp.example"},
                "progressed",
                result={"extensions": {PROGRESS: 40}},
            ),
            statement(
                {"mbox": "mailto:E9@corp.example"},
                "https://w3id.org/xapi/adl/verbs/waived",
                context={
                    "extensions": {f"{expires}/certificate-expires-at": "2027-01-31T00:00:00Z"}
                },
            ),
            statement({"account": {"homePage": LXP_HOME, "name": "u8"}}, "completed"),
            statement({"mbox": "mailto:someone@else.example"}, "completed"),
            statement(lxp, "experienced"),  # not a course result
            statement(lxp, "completed", "https://elsewhere.example/quiz/3"),  # not a course
        ]
    )

    result = lms.pull()
    # Results of accounts linked to nobody are counted apart (pull.unlinked), no failure.
    assert result.outcome == CycleOutcome.SUCCESS and result.exit_code == 0
    assert result.counts["unlinked"] == 2
    got = {r["hr_key"]: r for r in lms.rows()}
    assert {k: (r["course_id"], r["status"]) for k, r in got.items()} == {
        "E5": ("C1", "passed"),
        "E6": ("C2", "failed"),
        "E7": ("C1", "in_progress"),
        "E9": ("C1", "waived"),
    }
    assert float(got["E5"]["score"]) == 75 and got["E5"]["lms_user_id"] == "u5"
    assert float(got["E7"]["progress"]) == 40
    assert got["E9"]["certificate_expires_at"] == "2027-01-31T00:00:00Z"
    assert got["E5"]["course_name"] == "Course C1" and got["E5"]["vendor"] == "xapi"
    assert error_rows(lms.engine, "lms") == []

    lms.link("E8", "u8")  # the person is linked now: the kept result goes out
    again = lms.pull()
    assert again.outcome == CycleOutcome.SUCCESS  # someone@else is still nobody's: counted apart
    assert [(r["hr_key"], r["status"]) for r in lms.rows()[4:]] == [("E8", "completed")]


def test_mbox_actors_holding_the_lms_email_map_back_through_the_links(connector):
    # An LXP names learners by their e-mail: the one syncd pushed to each LMS account.
    lms = connector(xapi={"actor": {"email_field": "email"}})
    lms.link("E1", "u1", email="Jane.Doe@Corp.example", login="jdoe")
    lms.link("E2", "u2", email="bob@corp.example")
    lms.link("E3", "u3")  # pushed no e-mail: nobody's mbox names E3
    lms.lrs.post(
        [
            statement({"mbox": "mailto:jane.doe@corp.example"}, "completed"),  # any case
            statement({"mbox": "mailto:bob@corp.example"}, "passed", "C2"),
            statement({"mbox": "mailto:stranger@corp.example"}, "completed"),
            statement(hr_account("E3"), "completed"),  # not a form this source reads
        ]
    )

    result = lms.pull()

    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    assert result.counts["unlinked"] == 2  # the stranger and the account form
    got = {r["hr_key"]: (r["lms_user_id"], r["course_id"], r["status"]) for r in lms.rows()}
    assert got == {"E1": ("u1", "C1", "completed"), "E2": ("u2", "C2", "passed")}

    lms.link("E4", "u4", email="stranger@corp.example")  # the stranger is linked now
    again = lms.pull()
    assert again.outcome == CycleOutcome.SUCCESS, again.errors
    assert [(r["hr_key"], r["lms_user_id"]) for r in lms.rows()[2:]] == [("E4", "u4")]


def test_the_sink_names_people_by_their_lms_email_and_the_source_reads_it_back(
    connector, migrated_db_url
):
    lms = connector(xapi={"actor": {"email_field": "email"}, "activity_prefix": None})
    lms.link("E1", "u1", email="Jane.Doe@Corp.example")
    lms.link("E2", "u2")  # no e-mail pushed: its result cannot be named
    base = "https://lms.example.com/courses"
    sink_config = TypeAdapter(SinkConfig).validate_python(
        {
            "type": "xapi",
            "endpoint": lms.lrs.endpoint,
            "auth": AUTH,
            "actor": {"email_field": "email"},
            "activity_base": base,
        }
    )
    passed = replace(learned("E1", "101", ResultStatus.PASSED, completed_at=START), connector="lms")
    with open_sink("lrs", sink_config, engine=lms.engine) as sink:
        sink.write([passed])
        with pytest.raises(SinkError, match=r"E2.*users\.fields\.email of its link holds none"):
            sink.write([replace(learned("E2", "101", ResultStatus.PASSED), connector="lms")])

    # The pushed address, as the LRS keeps it (Ralph lower-cases the domain).
    assert [s["actor"]["mbox"] for s in lms.lrs.stored()] == ["mailto:Jane.Doe@corp.example"]
    valid(lms.lrs.stored()[0])
    result = lms.pull()
    assert result.outcome == CycleOutcome.SUCCESS, result.errors
    assert [(r["hr_key"], r["lms_user_id"], r["status"]) for r in lms.rows()] == [
        ("E1", "u1", "passed")
    ]


def test_what_the_sink_sends_the_source_reads_back(start_ralph):
    lrs = start_ralph()
    base = "https://lms.example.com/courses"
    results = [
        learned(
            "E41",
            "101",
            ResultStatus.PASSED,
            course_name="Safety",
            progress=100.0,
            score=88.0,
            completed_at=START,
            certificate_expires_at=START.replace(year=2026),
            certificate_url="https://lms.example.com/cert/41",
        ),
        learned("E42", "a/b 102", ResultStatus.IN_PROGRESS, progress=30.0, updated_at=START),
    ]
    sink_config = {
        "type": "xapi",
        "endpoint": lrs.endpoint,
        "auth": AUTH,
        "actor": {"account": {"home_page": HR_HOME}},
        "activity_base": base,
    }
    with open_sink("lrs", TypeAdapter(SinkConfig).validate_python(sink_config)) as sink:
        sink.write(results)
    source = XapiSourceConfig.model_validate(
        {
            "endpoint": lrs.endpoint,
            "auth": AUTH,
            "actor": {"account": {"home_page": HR_HOME}},
            "activity_prefix": f"{base}/talentlms/",
            "extension_base": f"{base}/extensions",
        }
    )
    reader = LrsSource(source, AdapterContext(connector="lms"))
    try:
        read = [result for page in reader.pull(None) for result in page.results]
    finally:
        reader.close()
    def carried(result: LearningResult) -> tuple[Any, ...]:
        return (result.hr_key, result.certificate_url, listed(result))

    assert [carried(r) for r in read] == [carried(r) for r in results]
    assert read[1].updated_at == START  # the LMS's time came back as the statement's

    # A cursor whose more link the LRS no longer honours: the read asks since its time.
    expired = {"xapi_stored": "2020-01-01T00:00:00Z", "xapi_caught_up": False}
    expired["xapi_more"] = "/xAPI/statements?expired=1"  # Ralph answers 400
    reader = LrsSource(source, AdapterContext(connector="lms"))
    try:
        again = [r.hr_key for page in reader.pull(expired) for r in page.results]
        assert reader.api_calls == 2
    finally:
        reader.close()
    assert again == ["E41", "E42"]


def test_both_reads_vendor_and_lrs_each_from_its_own_cursor(connector):
    lms = connector(**{"from": "both"}, overlap="0s")
    vendor = standard_lms(users=2, courses=1)  # u1, u2 in c1
    lms.link("E1", "u1")
    lms.link("E2", "u2")
    lms.lrs.post([statement(hr_account("E3"), "completed")])

    first = lms.pull(adapter=vendor)
    assert first.outcome == CycleOutcome.SUCCESS, first.errors
    assert sorted((r["hr_key"], r["vendor"]) for r in lms.rows()) == [
        ("E1", "fakelms"),
        ("E2", "fakelms"),
        ("E3", "xapi"),
    ]
    cursor = lms.cursor()
    assert cursor is not None and cursor["vendor"] == {"seq": 2}
    assert cursor["xapi"]["xapi_caught_up"] is True

    # The LRS alone now: it goes on from its own cursor, and keeps the vendor's.
    lms.configure(**{"from": "xapi"}, overlap="0s")
    alone = lms.pull()
    assert alone.counts["records_seen"] == 0 and len(lms.rows()) == 3

    vendor.complete("u1", "c1")
    lms.configure(**{"from": "both"}, overlap="0s")
    both = lms.pull(adapter=vendor)
    assert vendor.cursors_seen[-1] == {"seq": 2}
    assert [(r["hr_key"], r["status"]) for r in lms.rows()[3:]] == [("E1", "completed")]
    assert both.outcome == CycleOutcome.SUCCESS


def test_config_check_reads_pull_from(tmp_path):
    learningpool = {
        "type": "learningpool",
        "base_url": "https://acme.learningpool.example",
        "client_id": "id",
        "client_secret": "secret",
    }
    xapi = {
        "endpoint": "https://lrs.example.com/xAPI",
        "actor": {"mbox": "mailto:{hr_key}@x.example"},
    }

    def problems(pull: dict[str, Any]) -> str:
        connector = talentlms_connector("lms", "https://unused.example", "k", pull=pull)
        connector["target"] = learningpool
        document = {
            "sources": {"hr": {"type": "csv", "path": "hr.csv", "key": "id"}},
            "sinks": {"training": {"type": "csv", "path": "t.csv"}},
            "connectors": [connector],
        }
        return check(save_config(tmp_path / "syncd.yaml", document))[1]

    lacking = "learningpool cannot read learning results"
    assert lacking in problems({"sink": "training"})
    assert "pull.from: xapi" in problems({"sink": "training"})
    assert lacking not in problems({"sink": "training", "from": "xapi", "xapi": xapi})
    assert "from: xapi needs an xapi block" in problems({"sink": "training", "from": "xapi"})
    assert "xapi is set but from is vendor" in problems({"sink": "training", "xapi": xapi})

    by_email = {**xapi, "actor": {"email_field": "mail"}}  # talentlms_connector maps "email"
    named = problems({"sink": "training", "from": "xapi", "xapi": by_email})
    assert "pull.xapi.actor.email_field: 'mail' is not one of users.fields" in named
    by_email["actor"] = {"email_field": "email"}
    assert "email_field" not in problems({"sink": "training", "from": "xapi", "xapi": by_email})

"""`syncd trace NAME HR_KEY` tells what happened to one person, from the state store."""

from __future__ import annotations

import json

from click.testing import CliRunner

from syncd.cli import cli
from syncd.engine.push.forecast import next_push_for
from syncd.engine.push.run import PushSettings, run_push
from syncd.engine.push.settings import JobPolling
from syncd.sources.base import SourceRecord
from syncd.state.db import make_engine
from syncd.state.trace import person_trace
from tests.fake_lms import FakeLMS, TinyMapper


def hr(key: str, email: str | None = None) -> SourceRecord:
    return SourceRecord(
        f"line {key}",
        {
            "employee_id": key,
            "name": f"Person {key}",
            "department": "Sales",
            "status": "active",
            "email": email or f"p{key}@acme.test",
        },
    )


def settings(engine, lms: FakeLMS, records: list[SourceRecord]) -> PushSettings:
    return PushSettings(
        connector="lms",
        engine=engine,
        adapter=lms,
        mapper=TinyMapper(),
        key="employee_id",
        records=lambda: records,
        match="email",
        polling=JobPolling(first_delay=0.0, max_delay=0.0, timeout=5),
    )


def push(engine, lms: FakeLMS, records: list[SourceRecord]):
    return run_push(settings(engine, lms, records))


def test_a_trace_shows_the_link_operations_and_errors_of_one_person(migrated_db_url, tmp_path):
    engine = make_engine(migrated_db_url)
    lms = FakeLMS()
    lms.refuse_emails = {"p2@acme.test"}
    push(engine, lms, [hr("1"), hr("2")])

    created = person_trace(engine, "lms", "1")
    assert created["link"]["status"] == "linked" and created["link"]["remote_id"]
    assert created["link"]["groups"] == ["Sales"]
    assert {(op["kind"], op["state"]) for op in created["operations"]} == {
        ("create", "done"),
        ("group_add", "done"),
        ("enroll", "done"),
    }
    assert created["errors"] == []

    refused = person_trace(engine, "lms", "2")
    assert refused["link"]["status"] == "failed" and refused["link"]["remote_id"] is None
    create = next(op for op in refused["operations"] if op["kind"] == "create")
    assert create["state"] == "failed" and "p2@acme.test is refused" in create["error"]
    assert ("create", None) in {(e["operation"], e["resolved_at"]) for e in refused["errors"]}
    assert person_trace(engine, "lms", "nobody")["link"] is None
    engine.dispose()

    config = tmp_path / "syncd.yaml"
    config.write_text(f"""
state: {{url: "{migrated_db_url}"}}
sources: {{hr: {{type: csv, path: hr.csv, key: employee_id}}}}
connectors:
  - name: lms
    source: hr
    schedule: {{every: 1h}}
    target: {{type: talentlms, base_url: "http://127.0.0.1:9", api_key: k}}
    users: {{fields: {{login: "{{{{ employee_id }}}}"}}}}
""")
    runner = CliRunner()
    shown = runner.invoke(cli, ["trace", "lms", "2", "--config", str(config)])
    assert shown.exit_code == 0, shown.output
    assert "2 in lms: LMS id (not yet known), link failed" in shown.output
    assert "p2@acme.test is refused" in shown.output
    assert "next push: cannot tell: " in shown.output  # hr.csv is not there to read
    as_json = runner.invoke(cli, ["trace", "lms", "1", "--config", str(config), "--json"])
    assert json.loads(as_json.stdout)["link"]["status"] == "linked"
    unknown = runner.invoke(cli, ["trace", "nope", "1", "--config", str(config)])
    assert unknown.exit_code == 2 and "no connector named 'nope'" in unknown.output


def test_a_trace_says_what_the_next_push_does_for_the_person_and_why(migrated_db_url):
    engine = make_engine(migrated_db_url)
    lms = FakeLMS()
    contractor = hr("3")
    contractor.data["status"] = "contractor"
    records = [hr("1"), hr("2"), contractor]
    push(engine, lms, records)
    reading = settings(engine, lms, records)
    calls = lms.api_calls

    assert next_push_for(reading, "1").startswith("nothing: unchanged since the last push")
    assert next_push_for(reading, "3") == (
        "nothing: out of this connector's scope: status is 'contractor'"
    )
    assert next_push_for(reading, "9") == "nothing: not in the source"
    records[1] = hr("2", email="moved@acme.test")
    assert next_push_for(reading, "2").startswith("changed since the last push")
    assert lms.api_calls == calls  # read from HR and the store alone
    engine.dispose()

"""The command line against the sandbox: plan, sync, status, errors, and secrets kept out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from syncd.sandbox import Sandbox
from tests.support.cli import run_syncd as syncd
from tests.support.configs import talentlms_connector, write_config
from tests.support.proxy import RecordingProxy

API_KEY = "sandbox-talentlms-key"


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(vendors=["talentlms"], job_duration=0.2) as running:
        yield running


def _config(tmp_path: Path, state_url: str, base_url: str, api_key: str = API_KEY) -> Path:
    (tmp_path / "hr.csv").write_text(
        "employee_id,first_name,last_name,email,department\n"
        "C1,Ann,Smith,ann@cli.test,Engineering\n"
        "C2,Bob,Jones,bob@cli.test,Sales\n"
        "C3,Cy,Bad,not-an-email,Sales\n"
    )
    connector = talentlms_connector(
        "lms",
        base_url,
        "${LMS_KEY}",
        groups=[
            {
                "from": "{{ department }}",
                "map": {"Engineering": "Engineering Team", "Sales": "Sales Team"},
            }
        ],
    )
    return write_config(tmp_path, state_url, connector, log={"format": "json"})


def test_plan_prints_operations_and_sends_no_write(tmp_path, db_url, sandbox):
    config = _config(tmp_path, db_url, sandbox.base_url("talentlms"))
    writes_before = _writes(sandbox)
    result = syncd("plan", "lms", "--json", "--config", str(config), env={"LMS_KEY": API_KEY})
    assert result.returncode == 0, result.stderr
    planned = [json.loads(line) for line in result.stdout.splitlines()]
    assert {(p["kind"], p["hr_key"]) for p in planned} >= {("create", "C1"), ("create", "C2")}
    assert all(p["hr_key"] != "C3" for p in planned)  # invalid: never planned
    assert _writes(sandbox) == writes_before
    assert API_KEY not in result.stdout + result.stderr


def test_sync_then_status_and_errors(tmp_path, db_url, sandbox):
    config = _config(tmp_path, db_url, sandbox.base_url("talentlms"))
    env = {"LMS_KEY": API_KEY}
    result = syncd("sync", "lms", "--direction", "push", "--config", str(config), env=env)
    assert result.returncode == 1, result.stderr  # C3 is invalid: a partial run
    status = json.loads(syncd("status", "--json", "--config", str(config), env=env).stdout)
    assert [(s["connector"], s["direction"], s["state"]) for s in status] == [
        ("lms", "push", "idle")
    ]
    errors = json.loads(syncd("errors", "lms", "--json", "--config", str(config), env=env).stdout)
    assert [(e["hr_key"], e["operation"]) for e in errors] == [("C3", "validate")]
    assert "email" in errors[0]["reason"]


def test_a_secret_never_reaches_output_logs_errors_or_the_database(tmp_path, db_url, sandbox):
    secret = "wrong-key-4f9a8b7c6d"
    config = _config(tmp_path, db_url, sandbox.base_url("talentlms"))
    result = syncd(
        "sync", "lms", "--direction", "push", "--config", str(config), env={"LMS_KEY": secret}
    )
    assert result.returncode == 4  # the vendor refused the credentials
    assert secret not in result.stdout + result.stderr
    assert "401" in result.stderr or "auth" in result.stderr.lower()
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            tables = [
                r[0]
                for r in conn.execute(
                    text(
                        "select name from sqlite_master where type='table'"
                        if db_url.startswith("sqlite")
                        else "select table_name from information_schema.tables "
                        "where table_schema = current_schema()"
                    )
                )
            ]
            dump = " ".join(
                str(row) for t in tables for row in conn.execute(text(f'select * from "{t}"'))
            )
    finally:
        engine.dispose()
    assert secret not in dump
    assert "refused" in dump or "401" in dump or "authentic" in dump.lower()


def _writes(sandbox: Sandbox) -> int:
    return sum(
        1
        for r in sandbox.sim("talentlms").requests()
        if r["method"] in ("POST", "PUT", "PATCH", "DELETE")
    )


@pytest.mark.parametrize("bypass", [False, True], ids=["through-proxy", "no-proxy"])
def test_vendor_calls_honour_the_environments_proxy(tmp_path, sqlite_url, sandbox, bypass):
    config = _config(tmp_path, sqlite_url, sandbox.base_url("talentlms"))
    with RecordingProxy() as proxy:
        env = {"LMS_KEY": API_KEY, "HTTP_PROXY": proxy.url, "NO_PROXY": ""}
        if bypass:
            env["NO_PROXY"] = "127.0.0.1"
        result = syncd("sync", "lms", "--direction", "push", "--config", str(config), env=env)
    assert result.returncode == 1, result.stderr  # C3 is invalid; C1 and C2 are pushed
    base = sandbox.base_url("talentlms")
    if bypass:
        assert proxy.seen == []
    else:
        assert proxy.seen and all(f" {base}/" in line for line in proxy.seen)
        assert any(line.startswith("POST ") for line in proxy.seen)
    created = {u["email"] for u in sandbox.sim("talentlms").dump()["users"]}
    assert {"ann@cli.test", "bob@cli.test"} <= created


def _support_desk(tmp_path: Path, db_url: str, base_url: str) -> Path:
    """Four people in a group TalentLMS does not have, and one invalid record."""
    (tmp_path / "hr.csv").write_text(
        "employee_id,first_name,last_name,email,department\n"
        + "".join(f"S{i},Sam,Desk{i},s{i}@cli.test,Support\n" for i in range(1, 5))
        + "C3,Cy,Bad,not-an-email,Sales\n"
    )
    connector = talentlms_connector(
        "lms", base_url, "${LMS_KEY}", groups=[{"from": "{{ department }} Team"}]
    )
    return write_config(tmp_path, db_url, connector, log={"format": "json"})


def test_errors_groups_one_reason_with_its_people_and_says_how_it_is_retried(
    tmp_path, db_url, sandbox
):
    config = _support_desk(tmp_path, db_url, sandbox.base_url("talentlms"))
    env = {"LMS_KEY": API_KEY}
    synced = syncd("sync", "lms", "--direction", "push", "--config", str(config), env=env)
    assert synced.returncode == 1, synced.stderr

    table = syncd("errors", "lms", "--config", str(config), env=env)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    at = lines.index("4 x push group_add [permanent, retry: after a fix]")
    assert lines[at + 1] == (
        "    group 'Support Team' does not exist in TalentLMS; create it or set "
        "create_missing: true"
    )
    assert lines[at + 2] == "    S1, S2, S3, S4"
    at = lines.index("1 x push validate [permanent, retry: after a fix]")
    assert lines[at + 2] == "    C3"

    rows = json.loads(syncd("errors", "lms", "--json", "--config", str(config), env=env).stdout)
    assert sorted(r["hr_key"] for r in rows) == ["C3", "S1", "S2", "S3", "S4"]  # one per row
    assert {(r["kind"], r["retry"]) for r in rows} == {("permanent", "after a fix")}

    unknown = syncd("errors", "nosuch", "--config", str(config), env=env)
    assert unknown.returncode == 2
    assert "nosuch" in unknown.stderr and unknown.stdout == ""


def test_quiet_and_verbose_move_the_log_level(tmp_path, db_url, sandbox):
    config = _config(tmp_path, db_url, sandbox.base_url("talentlms"))
    env = {"LMS_KEY": API_KEY}

    def events(*flags: str) -> list[dict]:
        done = syncd(*flags, "sync", "lms", "--direction", "push", "--config", str(config), env=env)
        assert done.returncode in (0, 1), done.stderr
        return [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]

    verbose = events("-v")  # before the command's name
    assert any(e["event"] == "vendor_call" and e["level"] == "debug" for e in verbose)
    plain = events()
    assert plain and {e["level"] for e in plain} <= {"info", "warning", "error"}
    assert not any(e["event"] == "vendor_call" for e in plain)
    quiet = syncd(
        "sync", "lms", "--direction", "push", "-q", "--config", str(config), env=env
    )  # after it
    levels = {json.loads(line)["level"] for line in quiet.stderr.splitlines() if line[:1] == "{"}
    assert "info" not in levels and "debug" not in levels


_LOADS_PROBE = """
import atexit, json, ssl, sys

verify_loads = []
for name in ("load_verify_locations", "load_default_certs", "set_default_verify_paths"):
    def counting(self, *args, _original=getattr(ssl.SSLContext, name), **kwargs):
        verify_loads.append(1)
        return _original(self, *args, **kwargs)
    setattr(ssl.SSLContext, name, counting)
report = sys.argv[1]
atexit.register(lambda: open(report, "w").write(
    json.dumps({"modules": sorted(sys.modules), "verify_loads": len(verify_loads)})
))
sys.argv = ["syncd", *sys.argv[2:]]
from syncd.cli import main
main()
"""
"""Runs ``syncd ARGS`` and writes, at exit, the modules it loaded and how many times an SSL
context loaded CA certificates (what building an HTTPS client costs)."""

_NOT_FOR_A_TALENTLMS_PUSH = (
    "syncd.vendors.hownow",
    "syncd.vendors.ilms",
    "syncd.vendors.learningpool",
    "syncd.vendors.xapi",
    "syncd.engine.pull",
    "syncd.sinks",
    "syncd.sources.http",
    "syncd.sources.sql",
    "alembic",
    # Nothing to send: the adapter is never built, so neither the HTTP stack nor rich
    # (structlog's pretty tracebacks, httpx's command line) is loaded.
    "syncd.vendors.talentlms.adapter",
    "syncd.vendors.client",
    "syncd.http._client",
    "httpx",
    "httpcore",
    "tenacity",
    "rich",
    "jsonpath_ng",  # only an HTTP source's paths need it
    # A one-shot command records no metrics (nothing could read them): only the daemon and
    # a process that records one load prometheus-client.
    "prometheus_client",
)


def test_a_push_with_nothing_to_do_loads_only_what_it_uses(tmp_path, db_url, sandbox):
    """Start-up is most of a small no-change cycle: it builds no adapter (no vendor is
    called) and loads neither the HTTP stack, other vendors, the pull side, sinks, rich,
    prometheus-client nor migrations."""
    config = _config(tmp_path, db_url, sandbox.base_url("talentlms"))
    (tmp_path / "hr.csv").write_text(
        "employee_id,first_name,last_name,email,department\n"
        "C1,Ann,Smith,ann@cli.test,Engineering\n"
        "C2,Bob,Jones,bob@cli.test,Sales\n"
    )
    env = {"LMS_KEY": API_KEY}
    push = ("sync", "lms", "--direction", "push", "--config", str(config))
    assert syncd(*push, env=env).returncode == 0  # everyone pushed: the next cycle has nothing
    calls_before = len(sandbox.sim("talentlms").requests())

    report = tmp_path / "loaded.json"
    done = subprocess.run(
        [sys.executable, "-c", _LOADS_PROBE, str(report), *push],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stderr
    assert len(sandbox.sim("talentlms").requests()) == calls_before  # no vendor call
    loaded = json.loads(report.read_text())
    assert "syncd.vendors.talentlms.facts" in loaded["modules"]  # the probe did see the cycle
    assert loaded["verify_loads"] == 0
    extra = [
        name
        for name in loaded["modules"]
        if any(name == part or name.startswith(f"{part}.") for part in _NOT_FOR_A_TALENTLMS_PUSH)
    ]
    assert extra == []

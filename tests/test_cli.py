"""The command line as a user runs it: a real process, its output and its exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run_syncd

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "example.yaml"
SECRETS = {
    "TALENTLMS_API_KEY": "tlms-key-7c1d9e",
    "HOWNOW_CLIENT_ID": "hownow-client-id",
    "HOWNOW_CLIENT_SECRET": "hownow-secret-55aa",
}


def syncd(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    """``syncd ARGS`` with none of the example's secrets but those a test passes."""
    return run_syncd(*args, env=env, without=SECRETS, cwd=cwd)


def test_config_check_prints_the_example_resolved_with_secrets_masked():
    result = syncd("config", "check", "--config", str(EXAMPLE), env=SECRETS)
    assert result.returncode == 0, result.stderr
    assert "configuration OK: 2 connectors" in result.stdout
    assert "api_key: '****'" in result.stdout
    for secret in ("tlms-key-7c1d9e", "hownow-secret-55aa"):
        assert secret not in result.stdout + result.stderr


def test_config_check_with_a_variable_unset_exits_2_naming_it():
    env = {k: v for k, v in SECRETS.items() if k != "TALENTLMS_API_KEY"}
    result = syncd("config", "check", "--config", str(EXAMPLE), env=env)
    assert result.returncode == 2
    assert "TALENTLMS_API_KEY" in result.stderr
    assert "connectors[talentlms].target.api_key" in result.stderr


def test_config_from_syncd_config_variable(tmp_path):
    result = syncd("config", "check", env={**SECRETS, "SYNCD_CONFIG": str(EXAMPLE)}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def _minimal_config(tmp_path: Path, state_url: str) -> Path:
    (tmp_path / "hr.csv").write_text("employee_id,email\n1,a@x.test\n")
    path = tmp_path / "syncd.yaml"
    path.write_text(f"""
state: {{url: "{state_url}"}}
sources:
  hr: {{type: csv, path: "{tmp_path / 'hr.csv'}", key: employee_id}}
connectors:
  - name: lms
    source: hr
    schedule: {{every: 15m}}
    target: {{type: talentlms, base_url: "http://127.0.0.1:9", api_key: "k-123456"}}
    users: {{fields: {{email: "{{{{ email }}}}"}}}}
""")
    return path


def test_status_works_on_an_empty_store(tmp_path, db_url):
    config = _minimal_config(tmp_path, db_url)
    result = syncd("status", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "No connector has run yet." in result.stdout
    result = syncd("status", "--json", "--config", str(config))
    assert result.returncode == 0 and json.loads(result.stdout) == []


def test_db_upgrade_then_status(tmp_path, db_url):
    config = _minimal_config(tmp_path, db_url)
    result = syncd("db", "upgrade", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "revision 0003" in result.stdout  # the head: rate limits keep a throttle
    assert syncd("db", "upgrade", "--config", str(config)).returncode == 0
    assert json.loads(syncd("status", "--json", "--config", str(config)).stdout) == []


def test_unreachable_state_store_exits_4_without_leaking_the_password(tmp_path):
    config = _minimal_config(
        tmp_path, "postgresql+psycopg://svc:pw-9f8e7d@127.0.0.1:9/nowhere")
    result = syncd("status", "--config", str(config))
    assert result.returncode == 4
    assert "cannot open the state store" in result.stderr
    assert "pw-9f8e7d" not in result.stdout + result.stderr


def test_unknown_connector_is_a_usage_error(tmp_path, sqlite_url):
    config = _minimal_config(tmp_path, sqlite_url)
    result = syncd("plan", "nope", "--config", str(config))
    assert result.returncode == 2
    assert "no connector named 'nope'" in result.stderr


@pytest.mark.parametrize("args", [["--help"], ["sync", "--help"], ["config", "check", "--help"]])
def test_help_is_available(args):
    assert syncd(*args).returncode == 0


def test_the_daemon_with_no_connector_exits_2_at_once_saying_why(tmp_path):
    path = tmp_path / "syncd.yaml"
    path.write_text(f'state: {{url: "sqlite:///{tmp_path / "state.db"}"}}\nconnectors: []\n')
    result = syncd("run", "--config", str(path))
    assert result.returncode == 2, result.stderr
    assert "no connector is configured" in result.stdout + result.stderr


def test_a_header_only_hr_file_is_a_guard_stop_naming_the_source(tmp_path):
    config = _minimal_config(tmp_path, f"sqlite:///{tmp_path / 'state.db'}")
    (tmp_path / "hr.csv").write_text("employee_id,email\n")
    result = syncd("sync", "lms", "--config", str(config))
    assert result.returncode == 3, result.stderr
    assert "source 'hr' gave no record" in result.stdout + result.stderr


def test_a_portal_talentlms_refuses_whole_ends_the_cycle_with_the_operations_pending(
    tmp_path, db_url
):
    from sqlalchemy import select
    from support_http import LoopbackServer, Reply

    from syncd.state.db import make_engine
    from syncd.state.tables import operations, sync_errors

    inactive = {"_errors": [{"title": "Domain is inactive", "status": 403}]}
    nobody = {"_data": [], "_meta": {"pagination": {"page": 1, "total_pages": 1}}}

    def answer(request):  # the portal reads fine, then refuses the first write
        return Reply(200, nobody) if request.method == "GET" else Reply(403, inactive)

    with LoopbackServer(answer) as server:
        config = _minimal_config(tmp_path, db_url)
        full = (
            'users: {fields: {login: "{{ employee_id }}", name: "A", surname: "B", '
            'email: "{{ email }}"}}'
        )
        text = config.read_text().replace("http://127.0.0.1:9", server.url)
        config.write_text(text.replace('users: {fields: {email: "{{ email }}"}}', full))
        result = syncd("sync", "lms", "--direction", "push", "--config", str(config))

    assert result.returncode == 4, result.stderr
    said = result.stdout + result.stderr
    assert "refused the whole portal (HTTP 403: Domain is inactive)" in said
    assert "the API is not enabled for this domain, or the domain is inactive" in said
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            states = [row.state for row in conn.execute(select(operations.c.state))]
            errors = conn.execute(select(sync_errors)).all()
    finally:
        engine.dispose()
    assert states and "failed" not in states  # they wait for the next cycle
    assert errors == []  # no person is blamed for the portal

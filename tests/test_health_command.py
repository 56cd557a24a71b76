"""``syncd health``: the container health check asks the daemon on the configured address."""

from __future__ import annotations

import socket

import pytest

from syncd.sandbox import Sandbox
from tests.support.cli import run_syncd
from tests.test_daemon import Daemon, write_config, write_hr

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_health_answers_0_while_the_daemon_serves_and_1_once_it_is_gone(tmp_path, db_url):
    write_hr(tmp_path / "hr.csv", 2)
    port = _free_port()
    with Sandbox(vendors=["talentlms"], job_duration=0.1) as sandbox:
        config = write_config(
            tmp_path, db_url, sandbox.base_url("talentlms"), every="1h", listen=f"0.0.0.0:{port}"
        )
        daemon = Daemon(config, tmp_path / "daemon.log")
        try:
            alive = run_syncd("health", "--config", str(config))
        finally:
            assert daemon.stop() == 0
        gone = run_syncd("health", "--config", str(config))

    assert alive.returncode == 0, alive.stderr
    assert f"http://127.0.0.1:{port}/healthz: 200" in alive.stdout
    assert gone.returncode == 1
    assert f"no answer from http://127.0.0.1:{port}/healthz" in gone.stderr


def test_health_with_a_port_chosen_at_start_is_a_configuration_error(tmp_path, sqlite_url):
    write_hr(tmp_path / "hr.csv", 1)
    config = write_config(tmp_path, sqlite_url, "http://127.0.0.1:9", listen="127.0.0.1:0")
    result = run_syncd("health", "--config", str(config))
    assert result.returncode == 2
    assert "port 0" in result.stderr

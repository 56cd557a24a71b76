"""Running the sandbox: the Python API, option checking, and ``serve`` for the CLI."""

from __future__ import annotations

import io
import threading
import time

import httpx
import pytest

from syncd.sandbox import OptionsError, Sandbox, available_vendors, serve
from syncd.sandbox.registry import UnknownVendorError


def test_available_vendors_include_talentlms_and_hownow() -> None:
    assert {"talentlms", "hownow"} <= set(available_vendors())


def test_sandbox_serves_only_the_chosen_vendors_on_a_free_port() -> None:
    with Sandbox(vendors=["hownow"]) as sandbox:
        assert sandbox.port > 0 and sandbox.url.startswith("http://127.0.0.1:")
        assert sandbox.vendors == ["hownow"]
        assert httpx.get(f"{sandbox.url}/talentlms/api/v2/users").status_code == 404
        with pytest.raises(KeyError):
            sandbox.sim("talentlms")
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{sandbox.url}/_sandbox", timeout=2)


def test_options_are_checked_and_name_the_key() -> None:
    with pytest.raises(OptionsError, match="bogus"):
        Sandbox(bogus=1)
    with pytest.raises(OptionsError, match="hourly_limit"):
        Sandbox(vendors=["talentlms"], talentlms={"hourly_limit": "lots"})
    with pytest.raises(OptionsError, match="faults"):
        Sandbox(vendors=["talentlms"], faults={"error_rate": 5})
    with pytest.raises(UnknownVendorError, match="unknown vendor"):
        Sandbox(vendors=["moodle"])


def test_shared_options_reach_every_vendor_and_vendor_options_win() -> None:
    sandbox = Sandbox(job_duration=1.5, hownow={"job_duration": 0.5})
    assert sandbox.sim("talentlms").options.job_duration == 1.5
    assert sandbox.sim("hownow").options.job_duration == 0.5


def test_serve_prints_base_urls_and_stops_on_request() -> None:
    out = io.StringIO()
    stop = threading.Event()
    thread = threading.Thread(
        target=serve,
        kwargs={
            "port": 0,
            "vendors": ["talentlms", "hownow"],
            "options": {"job_duration": 1},
            "out": out,
            "stop": stop,
        },
    )
    thread.start()
    try:
        for _ in range(500):
            if "Ctrl+C" in out.getvalue():
                break
            time.sleep(0.01)
        text = out.getvalue()
        url = next(w for w in text.split() if w.startswith("http://") and w.endswith("/talentlms"))
        response = httpx.get(
            f"{url}/api/v2/users",
            headers={"X-API-Key": "sandbox-talentlms-key", "X-API-Version": "2025-01-01"},
        )
        assert response.status_code == 200
        assert "sandbox-hownow-client" in text and "/hownow" in text
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()

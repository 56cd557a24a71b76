"""Sandbox test fixtures: real servers on loopback, driven over HTTP with httpx."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from syncd.sandbox import ManualClock, Sandbox

TALENTLMS_KEY = "sandbox-talentlms-key"
HOWNOW_CLIENT = {
    "grant_type": "client_credentials",
    "client_id": "sandbox-hownow-client",
    "client_secret": "sandbox-hownow-secret",
}

StartSandbox = Callable[..., Sandbox]


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock(start=1_780_000_000.0)  # 2026-05-28T20:26:40Z


@pytest.fixture
def start_sandbox() -> Iterator[StartSandbox]:
    """Start a sandbox with the given options; every one started is stopped afterwards."""
    started: list[Sandbox] = []

    def start(**options: Any) -> Sandbox:
        sandbox = Sandbox(**options).start()
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in started:
        sandbox.stop()


@pytest.fixture(scope="module")
def shared_sandbox(clock: ManualClock) -> Iterator[Sandbox]:
    with Sandbox(clock=clock, job_duration=10.0) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(shared_sandbox: Sandbox) -> Sandbox:
    """Both vendors on a hand-driven clock, limits on, jobs taking 10 clock seconds;
    shared by a test module and reset to its start-up state before each test."""
    for vendor in shared_sandbox.vendors:
        shared_sandbox.sim(vendor).reset()
    return shared_sandbox


class Clients:
    """httpx clients speaking to a sandbox the way each vendor's documents say to."""

    def __init__(self) -> None:
        self._open: list[httpx.Client] = []

    def _keep(self, client: httpx.Client) -> httpx.Client:
        self._open.append(client)
        return client

    def talentlms(self, sandbox: Sandbox, **headers: str) -> httpx.Client:
        default = {
            "X-API-Key": TALENTLMS_KEY,
            "X-API-Version": "2025-01-01",
            "Accept": "application/json",
        }
        return self._keep(
            httpx.Client(
                base_url=f"{sandbox.base_url('talentlms')}/api/v2",
                headers={**default, **headers},
                timeout=10,
            )
        )

    def hownow_token(self, sandbox: Sandbox) -> str:
        response = httpx.post(f"{sandbox.base_url('hownow')}/token", data=HOWNOW_CLIENT, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def hownow(self, sandbox: Sandbox, token: str | None = None) -> httpx.Client:
        token = token or self.hownow_token(sandbox)
        return self._keep(
            httpx.Client(
                base_url=f"{sandbox.base_url('hownow')}/external/v1",
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                timeout=10,
            )
        )

    def control(self, sandbox: Sandbox) -> httpx.Client:
        return self._keep(httpx.Client(base_url=f"{sandbox.url}/_sandbox", timeout=10))

    def close(self) -> None:
        for client in self._open:
            client.close()


@pytest.fixture
def clients() -> Iterator[Clients]:
    helper = Clients()
    yield helper
    helper.close()


@pytest.fixture
def tlms(sandbox: Sandbox, clients: Clients) -> httpx.Client:
    return clients.talentlms(sandbox)


@pytest.fixture
def hn(sandbox: Sandbox, clients: Clients) -> httpx.Client:
    return clients.hownow(sandbox)


@pytest.fixture
def control(sandbox: Sandbox, clients: Clients) -> httpx.Client:
    return clients.control(sandbox)

"""One HTTP stack for vendors and HR sources/sinks: what unifying it must not break.

A vendor's client and an HR source read ``Retry-After`` with the same parser, get
tokens from the same client-credentials flow, and retry through the same tenacity
core, each keeping its own rules (which statuses retry, how many attempts).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest
import tenacity
from pydantic import TypeAdapter
from support_http import LoopbackServer, Received, Reply
from test_sinks import result

import syncd.http._reading as reading
import syncd.http._retry as retry_core
from syncd.assemble import open_sink
from syncd.config.schema.sinks import SinkConfig
from syncd.config.schema.sources import SourceConfig
from syncd.http import (
    HR_API_RETRIES,
    AuthenticationError,
    ClientCredentialsAuth,
    RateLimitWaitTooLong,
    RetryPolicy,
    TokenCache,
    UnreachableError,
    VendorClient,
    build_auth,
)
from syncd.limits import MemoryBackend, RateLimiter, RateLimitTimeout
from syncd.sources import SourceError
from syncd.sources.http import HttpSource

SYNCD = Path(__file__).resolve().parent.parent / "syncd"
QUICK = RetryPolicy(attempts=2, backoff_initial=0.01, backoff_max=0.02, max_retry_after=60.0)


def vendor_client(server: LoopbackServer, **options: Any) -> VendorClient:
    limiter = RateLimiter("test-credential", (), backend=MemoryBackend(), name="hrtest")
    return VendorClient("hrtest", server.url, limiter=limiter, **options)


def source_config(server: LoopbackServer, **auth: Any) -> Any:
    config: dict[str, Any] = {"type": "http", "url": server.url + "/people", "key": "id"}
    if auth:
        config["auth"] = {
            "type": "oauth2",
            "token_url": server.url + "/token",
            "client_id": "syncd",
            "client_secret": "cs-very-secret",
            **auth,
        }
    return TypeAdapter(SourceConfig).validate_python(config)


# ---------------------------------------------------------------------------------------------
# Retry-After: one parser


def _retry_after_value(form: str) -> str:
    return "7" if form == "seconds" else formatdate(time.time() + 7, usegmt=True)


@pytest.mark.parametrize("form", ["seconds", "date"])
def test_a_source_and_a_vendor_wait_out_the_same_retry_after(form, monkeypatch):
    parsed: list[str | None] = []
    original = reading.retry_after_seconds

    def spy(value: str | None, now: float | None = None) -> float | None:
        parsed.append(value)
        return original(value, now)

    monkeypatch.setattr(reading, "retry_after_seconds", spy)
    answered: list[Received] = []

    def answer(request: Received) -> Reply:
        first = not answered
        answered.append(request)
        if first:
            return Reply(503, headers={"Retry-After": _retry_after_value(form)})
        return Reply(200, [])

    vendor_waits: list[float] = []
    source_waits: list[float] = []
    with LoopbackServer(answer) as server:
        with vendor_client(server, retry=QUICK, sleep=vendor_waits.append) as client:
            assert client.get("/items").status_code == 200
        answered.clear()
        _recording_tenacity_sleeps(monkeypatch, source_waits)
        assert list(HttpSource("hr", source_config(server), retry=QUICK).records()) == []
    assert len(vendor_waits) == len(source_waits) == 1
    for wait in (vendor_waits[0], source_waits[0]):
        assert 5.9 <= wait <= 7.0  # the header's 7 s, read as seconds or as a date
    assert len(parsed) == 2 and all(parsed)  # each 503 read once, by the one parser


def test_the_one_parser_reads_both_forms_against_the_callers_clock():
    now = 1_800_000_000.0
    assert reading.retry_after_seconds("7", now) == 7.0
    assert reading.retry_after_seconds(formatdate(now + 30, usegmt=True), now) == 30.0
    assert reading.retry_after_seconds(formatdate(now + 30, usegmt=True)) is None  # no clock


# ---------------------------------------------------------------------------------------------
# Client credentials: one flow


def token_server(expires_in: int, revoked: set[str]) -> tuple[Callable[[Received], Reply], list]:
    """Token endpoint issuing tok-1, tok-2 ...; other paths accept the live, unrevoked token."""
    issued: list[str] = []

    def answer(request: Received) -> Reply:
        if request.path == "/token":
            issued.append(f"tok-{len(issued) + 1}")
            return Reply(200, {"access_token": issued[-1], "expires_in": expires_in})
        header = request.headers.get("authorization", "")
        if not issued or header != f"Bearer {issued[-1]}" or issued[-1] in revoked:
            return Reply(401, {"error": "invalid_token"})
        return Reply(200, [] if request.path == "/people" else {"ok": True})

    return answer, issued


def call_as(kind: str, server: LoopbackServer, clock: Callable[[], float]) -> Callable[[], None]:
    """One authenticated call, as a vendor's client or as an HR source makes it."""
    if kind == "vendor":
        auth = ClientCredentialsAuth(
            server.url + "/token",
            "syncd",
            "cs-very-secret",
            name="hrtest",
            client_auth="post",
            cache=TokenCache(),
            clock=clock,
        )
        client = vendor_client(server, auth=auth, retry=QUICK)
        return lambda: client.get("/items").raise_for_status() and None
    config = source_config(server, client_auth="basic")
    source = HttpSource("hr", config, retry=QUICK, auth=build_auth(config.auth, clock=clock))
    return lambda: list(source.records()) and None


@pytest.mark.parametrize("kind", ["vendor", "source"])
def test_the_flow_renews_a_token_before_it_expires(kind):
    now = [1000.0]
    answer, issued = token_server(expires_in=100, revoked=set())
    with LoopbackServer(answer) as server:
        call = call_as(kind, server, lambda: now[0])
        call()
        now[0] += 80  # renewal is due 10 s (a tenth of its life) before expiry
        call()
        assert issued == ["tok-1"]
        now[0] += 15
        call()
    assert issued == ["tok-1", "tok-2"]
    assert sum(1 for r in server.requests if r.path != "/token") == 3  # none refused, resent


@pytest.mark.parametrize("kind", ["vendor", "source"])
def test_the_flow_renews_once_on_401_and_no_more(kind):
    revoked = {"tok-1"}
    answer, issued = token_server(expires_in=3600, revoked=revoked)
    with LoopbackServer(answer) as server:
        call = call_as(kind, server, time.monotonic)
        call()
        assert issued == ["tok-1", "tok-2"]  # refused once, renewed once, then served
        revoked.update({"tok-2", "tok-3"})
        with pytest.raises((AuthenticationError, SourceError), match="401"):
            call()
    assert issued == ["tok-1", "tok-2", "tok-3"]  # one renewal per call: no loop


# ---------------------------------------------------------------------------------------------
# Retries: one tenacity core, each caller's own rules


def _recording_tenacity_sleeps(monkeypatch, waits: list[float]) -> list[tenacity.Retrying]:
    """Route the retry core's tenacity through a recorder of waits (no real sleeping)."""
    made: list[tenacity.Retrying] = []

    class Recording(tenacity.Retrying):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["sleep"] = waits.append
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(retry_core, "Retrying", Recording)
    return made


def test_a_source_retries_5xx_through_tenacity_five_times_as_before(monkeypatch):
    waits: list[float] = []
    made = _recording_tenacity_sleeps(monkeypatch, waits)
    assert HR_API_RETRIES.attempts == 5  # the sources' default before tenacity
    with LoopbackServer(lambda r: Reply(500)) as server:
        source = HttpSource("hr", source_config(server))
        with pytest.raises(SourceError, match=r"answered 500 \(gave up after 5 attempts\)"):
            list(source.records())
    assert made and len(server.requests) == 5
    # half fixed, half random: 0.25-0.5, 0.5-1, 1-2, 2-4 seconds
    for number, wait in enumerate(waits, start=1):
        ceiling = 0.5 * 2 ** (number - 1)
        assert ceiling / 2 <= wait <= ceiling
    assert len(waits) == 4


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_a_sink_retries_the_same_statuses_as_before(status, monkeypatch):
    _recording_tenacity_sleeps(monkeypatch, [])
    answers = iter([Reply(status), Reply(200)])
    with LoopbackServer(lambda r: next(answers)) as server:
        config = TypeAdapter(SinkConfig).validate_python({"type": "http", "url": server.url})
        sink = open_sink("training", config)
        sink.write([result()])
        sink.close()
    assert [r.method for r in server.requests] == ["POST", "POST"]


def test_retry_delay_honours_retry_after_within_the_cap():
    policy = RetryPolicy(attempts=3, backoff_initial=1.0, backoff_max=10.0, max_retry_after=10.0)
    assert 0.5 <= policy.delay(1) <= 1.0
    assert 2.0 <= policy.delay(3) <= 4.0
    assert policy.delay(1, retry_after=7) == 7
    assert policy.delay(1, retry_after=600) == 10.0


def test_a_source_does_not_retry_a_4xx(monkeypatch):
    _recording_tenacity_sleeps(monkeypatch, [])
    with (
        LoopbackServer(lambda r: Reply(404)) as server,
        pytest.raises(SourceError, match="answered 404"),
    ):
        list(HttpSource("hr", source_config(server)).records())
    assert len(server.requests) == 1


def test_a_rate_limit_wait_too_long_counts_as_unreachable():
    """The limiter's own timeout, as the HTTP stack raises it: exit code 4 for the engine."""
    error = RateLimitWaitTooLong("held too long")
    assert isinstance(error, UnreachableError) and isinstance(error, RateLimitTimeout)

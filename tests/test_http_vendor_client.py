"""The vendor HTTP client against a real loopback server that enforces limits like a vendor.

The server counts what arrives; the tests judge the client by that count: no 429,
the limit used, failures retried or reported as the right error, secrets nowhere.
"""

from __future__ import annotations

import json
import logging
import math
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate
from pathlib import Path

import httpx
import pytest
import structlog
from prometheus_client import REGISTRY

from syncd.http import (
    TOKENS,
    AuthenticationError,
    ClientCredentialsAuth,
    OutcomeUnknown,
    RecordRejected,
    RetryPolicy,
    UnreachableError,
    VendorClient,
    fill_path,
    json_payload,
    vendor_message,
)
from syncd.limits import MemoryBackend, Priority, RateLimiter, RateLimitTimeout, credential_id
from syncd.state.db import make_engine
from syncd.state.limiter import SqlBackend
from syncd.vendors.hownow.api import hownow_auth
from syncd.vendors.ilms.api import ilms_auth
from syncd.vendors.learningpool.api import learningpool_auth
from syncd.vendors.talentlms.api import refused_in_body as talentlms_refused_in_body
from syncd.vendors.talentlms.api import talentlms_auth
from tests.support.limit_server import (
    LimitServer,
    OAuthSettings,
    Scripted,
    binding,
    utilization,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FAST_RETRIES = RetryPolicy(attempts=3, backoff_initial=0.01, backoff_max=0.05)


@pytest.fixture(autouse=True)
def _fresh_tokens():
    TOKENS.clear()
    yield
    TOKENS.clear()


def client_for(
    server: LimitServer,
    windows=(),
    *,
    vendor: str | None = None,
    backend=None,
    credential: str = "key",
    auth: httpx.Auth | None = None,
    retry: RetryPolicy = FAST_RETRIES,
    timeout: float = 5.0,
    deadline: float = 300.0,
    refused_in_body=None,
    **limiter_options,
) -> VendorClient:
    vendor = vendor or f"v{uuid.uuid4().hex[:8]}"
    limiter = RateLimiter(
        credential_id("test", server.url, credential),
        windows,
        backend=backend or MemoryBackend(),
        name=vendor,
        in_flight=10.0,
        **{"backoff_initial": 0.2, "backoff_max": 1.0, **limiter_options},
    )
    return VendorClient(
        vendor,
        server.url,
        auth=auth,
        limiter=limiter,
        retry=retry,
        timeout=timeout,
        deadline=deadline,
        refused_in_body=refused_in_body,
    )


# ---------------------------------------------------------------------------------------------
# Rate limits


@pytest.mark.slow
def test_a_thousand_calls_use_the_limit_without_a_single_429():
    """200 per 5 s (TalentLMS's burst) and the hourly window scaled down to 400 per 12 s."""
    limits = [(200, 5.0), (400, 12.0)]
    with LimitServer(limits) as server, client_for(server, limits) as client:
        with ThreadPoolExecutor(4) as pool:
            answers = list(
                pool.map(
                    lambda n: client.put("/api/v2/users/{id}", path_params={"id": n}, json={}),
                    range(1000),
                )
            )
        assert {answer.status_code for answer in answers} == {200}
        assert server.count(status=429) == 0
        assert server.max_in_window(5.0) <= 200
        assert server.max_in_window(12.0) <= 400
        limit, seconds = binding(limits)
        assert utilization(server.accepted_arrivals(), limit, seconds) >= 0.90
        assert client.api_calls == 1000


def _run_two_processes(server: LimitServer, state_url: str, windows, calls: int) -> list[dict]:
    return _run_processes(server, state_url, windows, calls, count=2)


def _run_processes(
    server: LimitServer, state_url: str, windows, calls: int, count: int
) -> list[dict]:
    """``count`` processes making ``calls`` calls each through limiters in ``state_url``."""
    argument = json.dumps(
        {
            "url": server.url,
            "state_url": state_url,
            "calls": calls,
            "windows": windows,
            "threads": 2,
        }
    )
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.support.limit_server", argument],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(count)
    ]
    outputs = [child.communicate(timeout=90)[0] for child in children]
    assert [child.returncode for child in children] == [0] * count
    return [json.loads(output.strip().splitlines()[-1]) for output in outputs]


def test_two_processes_on_one_state_store_never_exceed_the_limit_together(migrated_db_url):
    windows = [(20, 1.0), (30, 2.0)]
    with LimitServer(windows) as server:
        results = _run_two_processes(server, migrated_db_url, windows, calls=30)
        assert [r["failures"] for r in results] == [[], []]
        assert server.count(status=200) == 60
        assert server.count(status=429) == 0
        assert server.max_in_window(1.0) <= 20
        assert server.max_in_window(2.0) <= 30
        assert server.max_in_window(2.0) >= 25  # the limit did bind: both pushed hard


@pytest.mark.slow
def test_an_unexpected_429_storm_lowers_the_shared_limit_which_then_grows_back(migrated_db_url):
    """Someone else spends the key: a 429 our own count did not expect lowers the limit for
    every process on the store (and in their /metrics), and it grows back by 5 % of the
    limit every window (2 s here), so 10 s later it is whole again."""
    windows = [(40, 2.0)]
    engine = make_engine(migrated_db_url)
    with LimitServer(windows) as server:
        limiter = RateLimiter(
            credential_id("bench", server.url, "shared-key"),  # the children's credential
            windows,
            backend=SqlBackend(engine),
            name="bench",
            in_flight=10.0,
            backoff_initial=0.3,
            backoff_max=1.0,
        )
        with VendorClient("bench", server.url, limiter=limiter, timeout=5.0) as client:
            # A first call builds the client (its SSL context): the storm then meets a call.
            assert client.get("/items").status_code == 200
            server.storm(0.1)
            assert client.get("/items").status_code == 200  # refused once, then sent again
            lowered_at = time.monotonic()
        assert server.count(status=429) == 1
        assert limiter.snapshot().effective[0][1] == 30  # 0.75 of 40

        (other,) = _run_processes(server, migrated_db_url, windows, calls=1, count=1)
        assert other["failures"] == []
        assert 30 <= other["effective"][0] < 40  # another process runs at the lowered limit
        # /metrics holds the limit as the call met it; the limit only grows back since, so a
        # window's growth may fall between that call and the snapshot (30 shown, 31 now).
        assert set(other["metrics"]) == {"2s"}
        assert 30 <= other["metrics"]["2s"] <= other["effective"][0]

        time.sleep(max(0.0, lowered_at + 10.5 - time.monotonic()))
        (later,) = _run_processes(server, migrated_db_url, windows, calls=1, count=1)
        assert later["effective"] == [40] and later["metrics"] == {"2s": 40.0}
        assert server.count(status=429) == 1
    engine.dispose()


def test_two_clients_that_do_not_share_the_budget_trip_the_server():
    """The control for the test above: without a shared store, the server sees too much."""
    windows = [(20, 1.0)]
    with LimitServer(windows) as server:
        clients = [client_for(server, windows, backend=MemoryBackend()) for _ in range(2)]
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda c: [c.get("/items") for _ in range(20)], clients))
        assert server.count(status=429) > 0
        for client in clients:
            client.close()


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_retry_after_is_honoured_by_every_client_of_the_credential(form):
    backend = MemoryBackend()
    with LimitServer() as server:
        first, second = (client_for(server, backend=backend) for _ in range(2))
        # An HTTP-date has whole seconds only: a date two whole seconds past the
        # next second stays more than one second ahead however long the 429 takes.
        at = math.ceil(time.time()) + 2
        retry_after = "1" if form == "seconds" else formatdate(at, usegmt=True)
        server.script(Scripted(429, headers={"Retry-After": retry_after}), path="/first")
        worker = threading.Thread(target=lambda: first.get("/first"))
        worker.start()
        while server.count(status=429) == 0:
            time.sleep(0.01)
        assert second.get("/second").status_code == 200
        worker.join()
        refused, retried = (s for s in server.requests if s.path == "/first")
        other = next(s for s in server.requests if s.path == "/second")
        assert (refused.status, retried.status) == (429, 200)
        assert retried.at - refused.at >= 0.99
        assert other.at - refused.at >= 0.99
        first.close()
        second.close()


def test_a_429_storm_is_ridden_out_without_hammering_or_failing():
    with LimitServer() as server, client_for(server, vendor="stormy") as client:
        labels = {"vendor": "stormy", "connector": ""}
        before = REGISTRY.get_sample_value("syncd_vendor_rate_limited_total", labels)
        server.storm(1.5)
        with ThreadPoolExecutor(4) as pool:
            answers = list(
                pool.map(lambda n: client.get("/items/{n}", path_params={"n": n}), range(40))
            )
        assert {answer.status_code for answer in answers} == {200}
        refused = server.count(status=429)
        assert 1 <= refused <= 24  # paused between bursts: a few per pause, not hundreds
        after = REGISTRY.get_sample_value("syncd_vendor_rate_limited_total", labels)
        assert after - (before or 0) == refused


def test_a_key_shared_with_another_client_is_followed_from_the_vendor_headers():
    windows = [(20, 2.0)]
    with LimitServer(windows, rate_headers=True) as server, client_for(server, windows) as client:
        server.consume(12)  # someone else spent 12 of the 20
        for _ in range(15):
            assert client.get("/items").status_code == 200
        assert server.count(status=429) == 0
        assert client.last_rate_limit is not None and client.last_rate_limit.limit == 20


# ---------------------------------------------------------------------------------------------
# OAuth2 tokens


def oauth_client(server: LimitServer, **options) -> VendorClient:
    auth = hownow_auth(server.url, "client-id", options.pop("secret", "client-secret"))
    return client_for(server, auth=auth, vendor="hownow", **options)


def test_a_token_expiring_mid_run_is_renewed_with_no_failed_call():
    oauth = OAuthSettings(advertised_lifetime=1, actual_lifetime=1.0)
    with LimitServer(oauth=oauth) as server, oauth_client(server) as client:
        started = time.monotonic()
        while time.monotonic() - started < 2.5:
            assert client.get("/external/v1/users").status_code == 200
            time.sleep(0.02)
        assert server.tokens_issued >= 3
        assert server.count(status=401) == 0  # renewed before expiry, never after


def test_a_token_revoked_early_is_renewed_once_on_401():
    oauth = OAuthSettings(advertised_lifetime=3600, actual_lifetime=0.3)
    with LimitServer(oauth=oauth) as server, oauth_client(server) as client:
        assert client.get("/external/v1/users").status_code == 200
        time.sleep(0.4)
        assert client.get("/external/v1/users").status_code == 200
        assert server.count(status=401) == 1
        assert server.tokens_issued == 2


def test_clients_of_one_credential_share_one_token_and_token_calls_count():
    windows = [(50, 60.0)]
    with LimitServer(windows, oauth=OAuthSettings()) as server:
        backend = MemoryBackend()
        clients = [oauth_client(server, windows=windows, backend=backend) for _ in range(3)]
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(lambda c: [c.get("/external/v1/users") for _ in range(5)], clients))
        assert server.tokens_issued == 1
        assert server.count(path="/token") == 1
        assert sum(c.api_calls for c in clients) == server.count() == 16
        assert clients[0].limiter.snapshot().windows[0].used == 16
        for client in clients:
            client.close()


def test_a_second_401_raises_authentication_error_naming_the_vendor():
    oauth = OAuthSettings(reject_all=True)
    with LimitServer(oauth=oauth) as server, oauth_client(server) as client:
        with pytest.raises(AuthenticationError, match="hownow") as caught:
            client.get("/external/v1/users")
        assert "client-secret" not in str(caught.value)
        assert [s.path for s in server.requests] == ["/token", "/external/v1/users"] * 2


def test_refused_client_credentials_raise_authentication_error_without_the_secret():
    with LimitServer(oauth=OAuthSettings()) as server:
        client = oauth_client(server, secret="wrong-secret-value")
        with pytest.raises(AuthenticationError, match="hownow refused the client credentials"):
            client.get("/external/v1/users")
        assert server.count(path="/external/v1/users") == 0
        client.close()


def test_learning_pool_token_at_a_configured_path_with_a_json_body():
    oauth = OAuthSettings(token_path="/oauth/token")
    with LimitServer(oauth=oauth) as server:
        auth = learningpool_auth(server.url, "client-id", "client-secret", "/oauth/token", "json")
        with client_for(server, auth=auth) as client:
            assert client.get("/api/users").status_code == 200
        token_request = server.requests[0]
        assert token_request.path == "/oauth/token"
        assert json.loads(token_request.body)["grant_type"] == "client_credentials"


# ---------------------------------------------------------------------------------------------
# Retries and errors


def test_5xx_and_dropped_connections_are_retried():
    with LimitServer() as server, client_for(server) as client:
        server.script(Scripted(500), Scripted(502), path="/flaky")
        assert client.get("/flaky").status_code == 200
        server.script(Scripted(drop=True), path="/dropped")
        assert client.get("/dropped").status_code == 200
        assert [s.status for s in server.requests] == [500, 502, 200, None, 200]


def test_a_vendor_that_keeps_failing_is_unreachable_after_the_last_attempt():
    with LimitServer() as server, client_for(server) as client:
        server.script(*[Scripted(503)] * 3)
        with pytest.raises(UnreachableError, match=r"HTTP 503.*3 attempts"):
            client.get("/down")
        assert server.count(path="/down") == 3


def test_a_post_whose_connection_drops_after_sending_is_not_sent_again():
    with LimitServer() as server, client_for(server) as client:
        server.script(Scripted(drop=True), path="/api/v2/users")
        with pytest.raises(OutcomeUnknown, match="look the record up"):
            client.post("/api/v2/users", json={"login": "jdoe"})
        assert server.count(path="/api/v2/users") == 1


def test_a_post_that_times_out_is_not_sent_again():
    with LimitServer() as server, client_for(server, timeout=0.2) as client:
        server.script(Scripted(delay=0.6), path="/api/v2/users")
        with pytest.raises(OutcomeUnknown):
            client.post("/api/v2/users", json={"login": "jdoe"})
        time.sleep(1.0)  # the server answers late, and records the request then
        assert server.wait_for(1) == 1


def test_post_500_is_unknown_but_503_and_idempotent_posts_are_retried():
    with LimitServer() as server, client_for(server) as client:
        server.script(Scripted(500), path="/create")
        with pytest.raises(OutcomeUnknown):
            client.post("/create", json={})
        server.script(Scripted(503), path="/create")
        assert client.post("/create", json={}).status_code == 200
        server.script(Scripted(500), path="/upsert")
        assert client.post("/upsert", json={}, idempotent=True).status_code == 200
        assert [s.status for s in server.requests] == [500, 503, 200, 500, 200]


def test_a_post_that_never_connected_is_retried_then_unreachable():
    with LimitServer() as server:
        url = server.url
    client = VendorClient("gone", url, retry=FAST_RETRIES)
    with pytest.raises(UnreachableError, match="ConnectError"):
        client.post("/api/v2/users", json={})
    client.close()


def test_a_400_is_a_record_rejected_with_the_vendor_message():
    body = {"_errors": [{"id": "bad_request", "title": "Email is not valid"}]}
    with LimitServer() as server, client_for(server) as client:
        server.script(Scripted(400, body))
        with pytest.raises(RecordRejected) as caught:
            client.post("/api/v2/users", json={"email": "nope"})
        assert (caught.value.status, caught.value.message) == (400, "Email is not valid")
        assert caught.value.code == "bad_request"
        assert server.count() == 1  # never retried


def test_a_vendor_trickling_its_answer_is_stopped_at_the_whole_call_deadline():
    slow = Scripted(200, {"pad": "x" * 400}, trickle=0.02)  # each byte well within the timeout
    with LimitServer() as server, client_for(server, timeout=5, deadline=0.3) as client:
        server.script(slow, slow, slow, path="/api/v2/users")
        with pytest.raises(UnreachableError, match=r"took longer than 0\.3s in all"):
            client.get("/api/v2/users")
        assert server.count(path="/api/v2/users") == 3  # retried like a timeout, then given up


def test_a_vendor_trickling_its_status_line_and_headers_is_stopped_at_the_deadline():
    slow = Scripted(200, {"ok": True}, head_trickle=0.1)  # a head of about 10 s, byte by byte
    with LimitServer() as server, client_for(server, timeout=5, deadline=0.3) as client:
        server.script(slow, slow, slow, path="/api/v2/users")
        started = time.monotonic()
        with pytest.raises(UnreachableError, match=r"took longer than 0\.3s in all"):
            client.get("/api/v2/users")
        assert time.monotonic() - started < 6  # three tries of 0.3 s, not three slow heads
        assert server.count(path="/api/v2/users") == 3  # retried like a timeout, then given up


def test_a_post_whose_answer_trickles_past_the_deadline_is_in_doubt_not_sent_again():
    with LimitServer() as server, client_for(server, timeout=5, deadline=0.3) as client:
        server.script(Scripted(200, {"id": 7, "pad": "x" * 400}, trickle=0.02), path="/create")
        with pytest.raises(OutcomeUnknown, match=r"took longer than 0\.3s in all"):
            client.post("/create", json={"login": "jdoe"})
        assert server.count(path="/create") == 1


def test_a_token_answer_trickling_past_the_deadline_is_retried():
    oauth = OAuthSettings()
    with LimitServer(oauth=oauth) as server:
        auth = ClientCredentialsAuth(
            server.url + oauth.token_path, oauth.client_id, oauth.client_secret, client_auth="post"
        )
        with client_for(server, auth=auth, timeout=5, deadline=0.3) as client:
            slow = Scripted(200, {"access_token": "t" * 300, "expires_in": 60}, trickle=0.02)
            server.script(slow, path=oauth.token_path)
            assert client.get("/api/users").status_code == 200
        assert server.count(path=oauth.token_path) == 2


def test_a_5xx_quotes_the_vendors_words():
    down = {"_errors": [{"id": "maintenance", "title": "Down for maintenance until 02:00"}]}
    with LimitServer() as server, client_for(server) as client:
        server.script(*[Scripted(503, down)] * 3, path="/api/v2/users")
        with pytest.raises(UnreachableError, match="HTTP 503: Down for maintenance until 02:00"):
            client.get("/api/v2/users")
        server.script(Scripted(500, {"message": "Database timeout"}), path="/create")
        with pytest.raises(OutcomeUnknown, match="HTTP 500: Database timeout"):
            client.post("/create", json={})


def test_a_200_carrying_errors_is_a_refusal_with_the_vendors_words():
    said = {"_errors": [{"id": "bad_request", "title": "Email is not valid"}]}
    with (
        LimitServer() as server,
        client_for(server, refused_in_body=talentlms_refused_in_body) as client,
    ):
        server.script(Scripted(200, said), path="/api/v2/users")
        with pytest.raises(RecordRejected) as caught:
            client.post("/api/v2/users", json={"email": "nope"})
        assert (caught.value.status, caught.value.message) == (200, "Email is not valid")
        assert caught.value.code == "bad_request"
        server.script(Scripted(200, said), path="/api/v2/users")
        with pytest.raises(UnreachableError, match="HTTP 200 carrying an error: Email is not"):
            client.get("/api/v2/users")
        server.script(Scripted(200, {"_data": [], "_errors": []}), path="/api/v2/users")
        assert client.get("/api/v2/users").status_code == 200  # an empty list says nothing
        assert server.count() == 3  # never retried


def test_a_2xx_nested_past_any_real_answer_is_unreachable_not_a_crash():
    with LimitServer() as server, client_for(server) as client:
        server.script(Scripted(200, "[" * 100_000 + "]" * 100_000), path="/deep")
        with pytest.raises(UnreachableError, match="nested too deeply"):
            json_payload(client.get("/deep"), "v GET /deep")


def test_409_and_accepted_statuses_are_returned_others_raise():
    with LimitServer() as server, client_for(server) as client:
        server.script(Scripted(409, {"_errors": [{"id": "conflict", "title": "Already in"}]}))
        assert client.put("/groups/1/users/2").status_code == 409
        server.script(Scripted(404, {"error_message": "Not found"}))
        assert client.get("/users/{id}", path_params={"id": 9}, accept={404}).status_code == 404
        server.script(Scripted(404, {"error_message": "Not found"}))
        with pytest.raises(RecordRejected, match="Not found"):
            client.get("/users/{id}", path_params={"id": 9})


def test_a_static_credential_refused_raises_authentication_error_at_once():
    with LimitServer(api_key="right-key") as server:
        auth = talentlms_auth("wrong-key-1234", "2025-01-01")
        refused = pytest.raises(AuthenticationError, match="talentlms refused the credentials")
        with client_for(server, auth=auth, vendor="talentlms") as client, refused:
            client.get("/api/v2/users")
        assert server.count() == 1


@pytest.mark.parametrize(
    ("body", "expected", "code"),
    [
        (
            {"_errors": [{"id": "conflict", "title": "A"}, {"id": "x", "title": "B"}]},
            "A; B",
            "conflict",
        ),
        ({"error_message": "Job role not found"}, "Job role not found", None),
        ({"errors": "User must be active"}, "User must be active", None),
        ({"errors": ["Name taken", "Bad id"]}, "Name taken; Bad id", None),
        ({"error": "invalid_request"}, "invalid_request", "invalid_request"),
        (
            {"message": "Validation failed", "errors": {"email": ["is invalid"]}},
            "Validation failed; email: is invalid",
            None,
        ),
        ({"status_code": 404, "reason_phrase": "Not Found"}, "Not Found", None),
        ({"Message": "The field F004 is required."}, "The field F004 is required.", None),
        (["first", "second"], "first; second", None),
        ("plain   text\n reason", "plain text reason", None),
        ("<html><body>Bad gateway</body></html>", "Bad Request", None),
    ],
)
def test_vendor_messages_are_read_from_each_vendors_error_shape(body, expected, code):
    content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    response = httpx.Response(400, content=content)
    assert vendor_message(response) == (expected, code)


def test_vendor_messages_are_truncated_and_scrubbed_of_secrets():
    response = httpx.Response(400, json={"error_message": "key sk-123456 " + "x" * 500})
    message, _ = vendor_message(response, ["sk-123456"])
    assert "sk-123456" not in message
    assert len(message) == 300 and message.endswith("…")


# ---------------------------------------------------------------------------------------------
# Requests, logs, metrics, secrets


def test_static_headers_reach_the_vendor():
    with LimitServer(api_key="tlms-key-1234") as server:
        with client_for(server, auth=talentlms_auth("tlms-key-1234", "2025-01-01")) as client:
            assert client.get("/api/v2/users").status_code == 200
        talentlms = server.requests[0].headers
    with LimitServer(api_key="trans+key/", api_key_header="TransactionKey") as server:
        with client_for(server, auth=ilms_auth("login==", "trans+key/", "99999")) as client:
            client.get("/organizations/{org}/users", path_params={"org": "99999"})
        ilms = server.requests[0].headers
    assert talentlms["x-api-version"] == "2025-01-01"
    assert talentlms["accept"] == "application/json"
    assert (ilms["apiloginid"], ilms["transactionkey"], ilms["orgid"]) == (
        "login==",
        "trans+key/",
        "99999",
    )


def test_path_values_are_quoted_and_placeholders_checked():
    with LimitServer() as server, client_for(server) as client:
        client.get("/users/{id}", path_params={"id": "EXT-a/b c"})
        assert server.requests[0].path == "/users/EXT-a%2Fb%20c"
    with pytest.raises(ValueError, match="missing"):
        fill_path("/users/{id}", {})
    with pytest.raises(ValueError, match="unused"):
        fill_path("/users", {"id": 1})


def test_only_https_or_loopback_urls_are_accepted():
    with pytest.raises(ValueError, match="https"):
        VendorClient("talentlms", "http://acme.talentlms.com")


def test_each_call_is_logged_by_its_template_and_counted_in_metrics():
    with LimitServer() as server, client_for(server, vendor="logcheck") as client:
        before = REGISTRY.get_sample_value(
            "syncd_vendor_api_calls_total", {"vendor": "logcheck", "connector": "", "status": "200"}
        )
        with structlog.testing.capture_logs() as events:
            client.get(
                "/users/{email}",
                path_params={"email": "jane.doe@example.com"},
                params={"filter[email][eq]": "jane.doe@example.com"},
            )
        calls = [e for e in events if e["event"] == "vendor_call"]
        assert len(calls) == 1
        assert {k: calls[0][k] for k in ("vendor", "method", "path", "status", "attempt")} == {
            "vendor": "logcheck",
            "method": "GET",
            "path": "/users/{email}",
            "status": 200,
            "attempt": 1,
        }
        assert {"duration_ms", "wait_ms"} <= calls[0].keys()
        assert calls[0]["log_level"] == "debug"  # one line per call only when asked for
        assert "jane.doe" not in repr(events)
        after = REGISTRY.get_sample_value(
            "syncd_vendor_api_calls_total", {"vendor": "logcheck", "connector": "", "status": "200"}
        )
        assert after - (before or 0) == 1


def test_a_secret_in_a_header_never_reaches_logs_or_errors(caplog):
    secret = "tlms-live-9f8e7d6c5b4a"
    echo = {"_errors": [{"id": "bad_request", "title": f"API key {secret} lacks rights"}]}
    caplog.set_level(logging.DEBUG)
    with LimitServer(api_key=secret) as server:
        auth = talentlms_auth(secret, "2025-01-01")
        with client_for(server, auth=auth) as client, structlog.testing.capture_logs() as events:
            client.get("/api/v2/users")
            server.script(Scripted(400, echo), Scripted(500), Scripted(drop=True))
            with pytest.raises(RecordRejected) as rejected:
                client.post("/api/v2/users", json={})
            with pytest.raises(OutcomeUnknown) as unknown:
                client.post("/api/v2/users", json={})
            client.get("/api/v2/users")
            server.api_key = "rotated"
            with pytest.raises(AuthenticationError) as refused:
                client.get("/api/v2/users")
    assert server.requests[0].headers["x-api-key"] == secret  # it really was sent
    captured = repr(events) + caplog.text + str(rejected.value) + str(unknown.value)
    captured += str(refused.value)
    assert secret not in captured
    assert "lacks rights" in str(rejected.value)


def test_reads_leave_room_that_a_deactivation_can_still_use():
    impatient = RetryPolicy(attempts=1, max_rate_limit_wait=1.0)  # would rather fail than wait
    with LimitServer() as server, client_for(server, [(10, 60.0)], retry=impatient) as client:
        for _ in range(9):
            client.get("/items")  # GET defaults to READ, which stops at 90 % of the window
        with pytest.raises(RateLimitTimeout):
            client.get("/items")
        deactivated = client.put(
            "/users/{id}/deactivate", path_params={"id": 1}, priority=Priority.DEPROVISION
        )
        assert deactivated.status_code == 200
        assert client.limiter.snapshot().windows[0].used == 10
        assert server.count() == 10

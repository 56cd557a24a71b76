"""Documented limits return 429 at the documented rates (windows scaled down for tests),
per credential, with TalentLMS's X-RateLimit headers."""

from __future__ import annotations

from syncd.sandbox import ManualClock

from .conftest import HOWNOW_CLIENT


def test_talentlms_burst_window_returns_429_then_recovers(start_sandbox, clients) -> None:
    clock = ManualClock(start=1_780_000_000.0)
    sandbox = start_sandbox(
        vendors=["talentlms"], clock=clock, talentlms={"burst_limit": 5, "burst_window": 5.0}
    )
    tlms = clients.talentlms(sandbox)
    statuses = [tlms.get("/users").status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    refused = tlms.get("/users")
    assert refused.json()["_errors"][0]["title"] == "The API request rate limit has been exceeded."
    assert refused.headers["X-RateLimit-Limit"] == "2000"
    clock.advance(5.0)
    assert tlms.get("/users").status_code == 200
    sim = sandbox.sim("talentlms")
    assert sim.count("GET /api/v2/users", 429) == 2


def test_talentlms_hourly_limit_and_remaining_header(start_sandbox, clients) -> None:
    clock = ManualClock(start=1_780_000_000.0)
    sandbox = start_sandbox(
        vendors=["talentlms"],
        clock=clock,
        talentlms={"hourly_limit": 10, "hourly_window": 60.0, "burst_limit": 200},
    )
    tlms = clients.talentlms(sandbox)
    remaining = []
    for _ in range(10):
        response = tlms.get("/users")
        assert response.status_code == 200
        remaining.append(int(response.headers["X-RateLimit-Remaining"]))
        clock.advance(1)
    assert remaining == list(range(9, -1, -1))
    assert tlms.get("/users").status_code == 429
    clock.advance(50)  # the first request leaves the 60 s window
    assert tlms.get("/users").status_code == 200


def test_limits_are_per_api_key(start_sandbox, clients) -> None:
    sandbox = start_sandbox(
        vendors=["talentlms"],
        clock=ManualClock(),
        talentlms={"burst_limit": 2, "api_keys": ["key-a", "key-b"]},
    )
    first = clients.talentlms(sandbox, **{"X-API-Key": "key-a"})
    second = clients.talentlms(sandbox, **{"X-API-Key": "key-b"})
    assert [first.get("/users").status_code for _ in range(3)] == [200, 200, 429]
    assert second.get("/users").status_code == 200


def test_hownow_minute_and_hour_windows(start_sandbox, clients) -> None:
    clock = ManualClock(start=1_780_000_000.0)
    sandbox = start_sandbox(
        vendors=["hownow"],
        clock=clock,
        hownow={"per_minute": 4, "per_hour": 6, "token_lifetime": 86400},
    )
    hn = clients.hownow(sandbox)  # the token request counts too
    assert [hn.get("/users").status_code for _ in range(4)] == [200, 200, 200, 429]
    refused = hn.get("/users")
    assert refused.json() == {"error_message": "Too Many Requests"}
    assert "Retry-After" not in refused.headers  # not documented by HowNow
    clock.advance(60)
    assert [hn.get("/users").status_code for _ in range(3)] == [200, 200, 429]  # hour: 6 used
    clock.advance(3600)
    assert hn.get("/users").status_code == 200


def test_rate_limits_can_be_switched_off(start_sandbox, clients) -> None:
    sandbox = start_sandbox(vendors=["hownow"], rate_limits=False, hownow={"per_minute": 1})
    hn = clients.hownow(sandbox)
    assert {hn.get("/users").status_code for _ in range(5)} == {200}
    assert sandbox.sim("hownow").count(status=429) == 0


def test_bad_credentials_do_not_spend_the_budget(start_sandbox, clients) -> None:
    import httpx

    sandbox = start_sandbox(vendors=["hownow"], hownow={"per_minute": 2})
    url = f"{sandbox.base_url('hownow')}/token"
    for _ in range(3):
        assert httpx.post(url, data={**HOWNOW_CLIENT, "client_secret": "x"}).status_code == 401
    assert httpx.post(url, data=HOWNOW_CLIENT).status_code == 200

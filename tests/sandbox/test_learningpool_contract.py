"""Learning Pool contract: the seed's OAuth client-credentials flow (1-hour tokens, a new
token after a 401), the sandbox Simple API that the documented ``endpoints:`` block
points at, the seed's error statuses, the assumed limit answering 429, and faults."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from syncd.config.schema.targets import LearningPoolEndpoints, LearningPoolTarget
from syncd.sandbox import ManualClock, Sandbox, available_vendors
from syncd.sandbox.learningpool.endpoints import SANDBOX_TARGET
from tests.support.clock import START, RewindableClock

CLIENT = {
    "grant_type": "client_credentials",
    "client_id": "sandbox-lp-client",
    "client_secret": "sandbox-lp-secret",
}
DOCS = Path(__file__).resolve().parents[2] / "docs" / "sandbox-ilms-learningpool.md"

ANN = {
    "external_id": "E1001",
    "username": "ann.lee",
    "email": "ann.lee@example.com",
    "first_name": "Ann",
    "last_name": "Lee",
    "language": "en-GB",
    "timezone": "Europe/London",
    "country": "GBR",
    "function": "Engineer",
}


@pytest.fixture(scope="module")
def lp_clock() -> RewindableClock:
    return RewindableClock(start=START)


@pytest.fixture(scope="module")
def lp_sandbox(lp_clock: ManualClock) -> Iterator[Sandbox]:
    with Sandbox(vendors=["learningpool"], clock=lp_clock, rate_limits=False) as sandbox:
        yield sandbox


@pytest.fixture
def lp(lp_sandbox: Sandbox, lp_clock: RewindableClock) -> Sandbox:
    """Learning Pool alone on a hand-driven clock, limits off; clock and data
    back to the start before each test."""
    lp_clock.rewind()
    lp_sandbox.sim("learningpool").reset()
    return lp_sandbox


def token_for(sandbox: Sandbox, path: str = "/oauth/token", **client: str) -> str:
    response = httpx.post(f"{sandbox.base_url('learningpool')}{path}", data={**CLIENT, **client})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def api_client(sandbox: Sandbox, token: str | None = None) -> httpx.Client:
    return httpx.Client(
        base_url=f"{sandbox.base_url('learningpool')}/simple/v1",
        headers={"Authorization": f"Bearer {token or token_for(sandbox)}"},
        timeout=10,
    )


@pytest.fixture
def api(lp: Sandbox) -> Iterator[httpx.Client]:
    with api_client(lp) as client:
        yield client


def create(api: httpx.Client, **changes: Any) -> dict[str, Any]:
    response = api.post("/users", json={**ANN, **changes})
    assert response.status_code == 201, response.text
    return response.json()["data"]


def test_token_flow_as_the_seed_documents(lp: Sandbox) -> None:
    url = f"{lp.base_url('learningpool')}/oauth/token"
    issued = httpx.post(url, data=CLIENT)
    assert issued.status_code == 200
    body = issued.json()
    assert set(body) == {"token_type", "expires_in", "access_token"}
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 3600)  # "expire after 1 hour"
    assert httpx.post(url, json=CLIENT).status_code == 200  # JSON bodies work too
    basic = httpx.post(
        url,
        data={"grant_type": "client_credentials"},
        auth=("sandbox-lp-client", "sandbox-lp-secret"),
    )
    assert basic.status_code == 200
    missing = httpx.post(url, data={"grant_type": "client_credentials"})
    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_request")
    password = httpx.post(url, data={**CLIENT, "grant_type": "password"})
    assert (password.status_code, password.json()["error"]) == (400, "unsupported_grant_type")
    wrong = httpx.post(url, data={**CLIENT, "client_secret": "guess"})
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    assert "sandbox-lp-secret" not in httpx.get(f"{lp.url}/_sandbox/learningpool/dump").text


def test_learningpool_is_served_and_describes_its_credentials(lp: Sandbox) -> None:
    assert "learningpool" in available_vendors()
    line = lp.sim("learningpool").describe(lp.base_url("learningpool"))
    assert "client_id sandbox-lp-client" in line and "token /oauth/token" in line


def test_token_path_is_configurable(start_sandbox) -> None:
    sandbox = start_sandbox(vendors=["learningpool"], learningpool={"token_path": "/auth/token"})
    token = token_for(sandbox, "/auth/token")
    with api_client(sandbox, token) as client:
        assert client.get("/users").status_code == 200
    default = httpx.post(f"{sandbox.base_url('learningpool')}/oauth/token", data=CLIENT)
    assert default.status_code == 404
    assert "POST /auth/token" in sandbox.sim("learningpool").api_endpoints()


def test_expired_token_answers_401_and_a_new_token_works(
    lp: Sandbox, lp_clock: ManualClock
) -> None:
    with api_client(lp) as api:
        assert api.get("/users").status_code == 200
        lp_clock.advance(3600)
        expired = api.get("/users")
        assert (expired.status_code, expired.json()) == (401, {"message": "Unauthenticated."})
    with api_client(lp) as renewed:  # "Run the token request again when you receive a 401"
        assert renewed.get("/users").status_code == 200
    anonymous = httpx.get(f"{lp.base_url('learningpool')}/simple/v1/users")
    assert anonymous.status_code == 401
    with api_client(lp, token="lp_forged") as forged:
        assert forged.get("/users").status_code == 401


def test_short_token_lifetime_fault_and_expire_control(lp: Sandbox, lp_clock: ManualClock) -> None:
    control = f"{lp.url}/_sandbox/learningpool"
    httpx.post(f"{control}/faults", json={"token_lifetime": 5})
    short = httpx.post(f"{lp.base_url('learningpool')}/oauth/token", data=CLIENT).json()
    assert short["expires_in"] == 5
    lp_clock.advance(6)
    with api_client(lp, short["access_token"]) as api:
        assert api.get("/users").status_code == 401
    httpx.post(f"{control}/faults", json={"clear": True})
    with api_client(lp) as api:
        assert api.get("/users").status_code == 200
        assert httpx.post(f"{control}/expire-tokens").json() == {"expired": 1}
        assert api.get("/users").status_code == 401


def test_user_create_get_update_and_lookup(lp: Sandbox, api, lp_clock: ManualClock) -> None:
    created = api.post("/users", json=ANN)
    assert created.status_code == 201
    user = created.json()["data"]
    assert created.headers["Location"].endswith(f"/simple/v1/users/{user['id']}")
    assert set(user) == {
        "id", "external_id", "username", "email", "first_name", "last_name", "language",
        "timezone", "country", "function", "organisation_reference", "expires_at", "status",
        "created_at", "updated_at",
    }  # fmt: skip
    assert (user["status"], user["expires_at"]) == ("active", None)
    assert user["created_at"] == "2026-05-28T20:26:40Z"
    assert api.get(f"/users/{user['id']}").json()["data"] == user
    assert api.get("/users/external/E1001").json()["data"]["id"] == user["id"]
    assert api.get("/users/external/nobody").status_code == 404
    lp_clock.advance(60)
    updated = api.patch(f"/users/{user['id']}", json={"function": "Lead Engineer"})
    assert updated.status_code == 200
    after = updated.json()["data"]
    assert (after["function"], after["first_name"]) == ("Lead Engineer", "Ann")  # partial
    assert after["updated_at"] == "2026-05-28T20:27:40Z"
    listed = api.get("/users", params={"external_id": "E1001"}).json()
    assert [u["id"] for u in listed["data"]] == [user["id"]]
    assert api.get("/users", params={"email": "nobody@example.com"}).json()["data"] == []
    assert api.get("/users/999999").json() == {"message": "User not found."}


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({**ANN, "username": None}, "username", "The username field is required."),
        ({k: v for k, v in ANN.items() if k != "email"}, "email", "The email field is required."),
        ({**ANN, "email": "not-an-email"}, "email", "must be a valid email address"),
        ({**ANN, "username": "ann lee"}, "username", "must not contain spaces"),
        ({**ANN, "first_name": "x" * 101}, "first_name", "not be greater than 100"),
        ({**ANN, "timezone": "Mars/Olympus"}, "timezone", "must be a valid time zone"),
        ({**ANN, "country": "UK"}, "country", "3-character ISO 3166"),
        ({**ANN, "language": "English"}, "language", "language code"),
        ({**ANN, "expires_at": "2038-01-20 00:00:00"}, "expires_at", "before 2038"),
        ({**ANN, "expires_at": "soon"}, "expires_at", "must be a date"),
        ({**ANN, "shoe_size": "9"}, "shoe_size", "is not a user field"),
        ({**ANN, "status": "active"}, "status", "is read only"),
        ({**ANN, "first_name": 7}, "first_name", "must be a string"),
    ],
)
def test_invalid_users_answer_422_with_field_errors(
    lp: Sandbox, api, body: dict[str, Any], field: str, message: str
) -> None:
    response = api.post("/users", json=body)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert any(message in m for m in errors[field])
    assert message in response.json()["message"] or len(errors) > 1
    assert lp.sim("learningpool").dump()["users"] == []


def test_usernames_and_hr_ids_are_unique(lp: Sandbox, api) -> None:
    first = create(api)
    taken = api.post("/users", json={**ANN, "username": "ANN.LEE", "external_id": "E1001"})
    assert taken.status_code == 422
    assert set(taken.json()["errors"]) == {"username", "external_id"}
    other = create(api, username="bob", external_id="E1002")
    clash = api.patch(f"/users/{other['id']}", json={"username": "ann.lee"})
    assert clash.status_code == 422
    assert api.patch(f"/users/{first['id']}", json={"username": "ann.lee"}).status_code == 200
    assert api.post("/users", content=b"[1, 2]").status_code == 400
    bad_json = api.post("/users", content=b"{oops", headers={"Content-Type": "application/json"})
    assert (bad_json.status_code, bad_json.json()) == (
        400,
        {"message": "The request body is not valid JSON."},
    )


def test_deactivation_is_an_expiry_and_reactivation_clears_it(
    lp: Sandbox, api, lp_clock: ManualClock
) -> None:
    user = create(api)
    gone = api.post(f"/users/{user['id']}/deactivate")
    assert gone.status_code == 200
    expired = gone.json()["data"]
    assert (expired["status"], expired["expires_at"]) == ("expired", "2026-05-28T20:26:40Z")
    assert [u["id"] for u in api.get("/users", params={"status": "expired"}).json()["data"]] == [
        user["id"]
    ]
    lp_clock.advance(10)
    again = api.post(f"/users/{user['id']}/deactivate")  # the vendor is silent: strict
    assert (again.status_code, again.json()["message"]) == (422, "The user has already expired.")
    assert api.get(f"/users/{user['id']}").json()["data"]["expires_at"] == "2026-05-28T20:26:40Z"
    back = api.post(f"/users/{user['id']}/reactivate").json()["data"]
    assert (back["status"], back["expires_at"]) == ("active", None)
    twice = api.post(f"/users/{user['id']}/reactivate")
    assert (twice.status_code, twice.json()["message"]) == (422, "The user has no expiry date.")
    later = api.post(
        f"/users/{user['id']}/deactivate", json={"expires_at": "2030-01-01T00:00:00Z"}
    ).json()["data"]
    assert (later["status"], later["expires_at"]) == ("active", "2030-01-01T00:00:00Z")
    assert api.post("/users/424242/deactivate").status_code == 404
    assert api.get("/users", params={"status": "gone"}).status_code == 400


def test_groups_and_members(lp: Sandbox, api) -> None:
    groups = api.get("/groups").json()
    assert groups["meta"]["total"] == 3
    assert groups["data"][0] == {
        "id": 201,
        "name": "Engineering",
        "external_ref": "ENG",
        "description": "",
        "member_count": 0,
        "created_at": "2026-05-28T20:26:40Z",
    }
    assert [
        g["id"] for g in api.get("/groups", params={"external_ref": "SALES"}).json()["data"]
    ] == [202]
    user = create(api)
    added = api.put(f"/groups/201/members/{user['id']}")
    assert added.status_code == 201 and added.json()["data"]["user_id"] == user["id"]
    assert api.put(f"/groups/ENG/members/{user['id']}").status_code == 200  # already a member
    assert api.post("/groups/202/members", json={"user_id": user["id"]}).status_code == 201
    assert api.post("/groups/202/members", json={}).status_code == 400
    members = api.get("/groups/ENG/members").json()
    assert [m["id"] for m in members["data"]] == [user["id"]]
    assert api.get("/groups/201").json()["data"]["member_count"] == 1
    assert api.delete(f"/groups/201/members/{user['id']}").status_code == 204
    assert api.delete(f"/groups/201/members/{user['id']}").status_code == 404
    assert api.put("/groups/NOPE/members/1").json() == {"message": "Group not found."}


def test_enrolments_and_the_completions_feed(lp: Sandbox, api, lp_clock: ManualClock) -> None:
    sim = lp.sim("learningpool")
    ann = create(api)
    bob = create(api, username="bob", external_id="E1002", email="bob@example.com")
    new = api.put(
        f"/courses/LX-SEC-101/enrolments/{ann['id']}", json={"due_at": "2026-06-30T00:00:00Z"}
    )
    assert new.status_code == 201
    enrolment = new.json()["data"]
    assert (enrolment["course_id"], enrolment["status"], enrolment["due_at"]) == (
        501,
        "not_started",
        "2026-06-30T00:00:00Z",
    )
    assert api.put(f"/courses/501/enrolments/{ann['id']}").status_code == 200  # idempotent
    by_body = api.post("/enrolments", json={"user_id": bob["id"], "course_id": "LX-COC-201"})
    assert by_body.status_code == 201
    missing = api.post("/enrolments", json={"user_id": bob["id"]})
    assert missing.status_code == 422 and "course_id" in missing.json()["errors"]
    assert api.put(f"/courses/LX-NOPE/enrolments/{ann['id']}").status_code == 404
    assert api.get("/completions").json()["data"] == []  # nothing completed yet

    sim.complete(ann["id"], "LX-SEC-101", score=90)
    lp_clock.advance(120)
    watermark = "2026-05-28T20:27:40Z"
    sim.complete(bob["id"], 502, score=70)
    all_completions = api.get("/completions").json()
    assert [c["user_external_id"] for c in all_completions["data"]] == ["E1001", "E1002"]
    first = all_completions["data"][0]
    assert {k: first[k] for k in ("course_external_id", "status", "score", "completed_at")} == {
        "course_external_id": "LX-SEC-101",
        "status": "completed",
        "score": 90,
        "completed_at": "2026-05-28T20:26:40Z",
    }
    since = api.get("/completions", params={"since": watermark}).json()
    assert [c["user_external_id"] for c in since["data"]] == ["E1002"]
    paged = api.get("/completions", params={"per_page": 1}).json()
    assert paged["meta"]["last_page"] == 2 and paged["links"]["next"].endswith("page=2&per_page=1")
    second = httpx.get(paged["links"]["next"], headers=api.headers).json()
    assert [c["user_external_id"] for c in second["data"]] == ["E1002"]
    lp_clock.advance(60)
    sim.complete(ann["id"], 501, score=95)  # a changed score comes back after the watermark
    assert [
        c["score"] for c in api.get("/completions", params={"since": watermark}).json()["data"]
    ] == [70, 95]
    assert api.get("/completions", params={"since": "yesterday"}).status_code == 400
    httpx.post(
        f"{lp.url}/_sandbox/learningpool/complete",
        json={"user_id": ann["id"], "course_id": 503, "progress": 40},
    )
    assert len(api.get("/completions").json()["data"]) == 2  # in progress is not a completion


def test_seed_dump_and_reset_through_the_control_api(lp: Sandbox, api) -> None:
    control = f"{lp.url}/_sandbox/learningpool"
    seed = {
        "courses": [{"id": 510, "external_id": "LX-NEW", "title": "New Course"}],
        "users": [
            {
                "id": 10050,
                "external_id": "E1",
                "username": "ann",
                "email": "ann@x.com",
                "first_name": "Ann",
                "last_name": "Lee",
            }
        ],
        "groups": [{"id": 210, "name": "Ops", "external_ref": "OPS", "members": [10050]}],
        "enrolments": [
            {
                "user_id": 10050,
                "course_id": "LX-NEW",
                "progress": 100,
                "score": 80,
                "completed_at": "2026-01-02T10:00:00Z",
            }
        ],
    }
    seeded = httpx.post(f"{control}/seed", json=seed)
    assert seeded.json()["seeded"] == {
        "courses": [510],
        "users": [10050],
        "groups": [210],
        "enrolments": 1,
    }
    completion = api.get("/completions").json()["data"][0]
    assert (completion["user_external_id"], completion["score"]) == ("E1", 80)
    assert completion["completed_at"] == "2026-01-02T10:00:00Z"
    assert api.get("/groups/OPS/members").json()["meta"]["total"] == 1
    bad = httpx.post(
        f"{control}/seed",
        json={
            "users": [{"username": "bob", "email": "b@x.com"}],
            "groups": [{"name": "X", "members": [999]}],
        },
    )
    assert bad.status_code == 400 and "999" in bad.json()["error"]
    assert [u["username"] for u in httpx.get(f"{control}/dump").json()["users"]] == ["ann"]
    assert httpx.post(f"{control}/reset").status_code == 200
    assert lp.sim("learningpool").dump()["users"] == []
    assert lp.sim("learningpool").dump()["tokens"] == {"issued": 0, "valid": 0}


def test_documented_endpoints_block_configures_a_working_connector(lp: Sandbox, api) -> None:
    """The docs' ready-to-paste block is valid connector configuration and every path in it
    is served (placeholders filled with real ids)."""
    text = DOCS.read_text(encoding="utf-8")
    block = next(
        b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "type: learningpool" in b
    )
    target = yaml.safe_load(block)["target"]
    documented = LearningPoolTarget.model_validate(target)
    served = LearningPoolTarget.model_validate({**target, **SANDBOX_TARGET})
    assert documented == served  # the docs and SANDBOX_TARGET say the same
    endpoints = LearningPoolEndpoints.model_validate(target["endpoints"])
    assert endpoints.configured() == set(LearningPoolEndpoints.model_fields)
    user = create(api)
    ids = {"user_id": user["id"], "group_id": 201, "course_id": 501, "hr_key": "E1001"}
    bodies = {"user_create": {**ANN, "username": "c2", "external_id": "E9"}, "user_update": {}}
    for name in LearningPoolEndpoints.model_fields:
        endpoint = getattr(endpoints, name)
        path = endpoint.path.format(**ids)
        response = api.request(
            endpoint.method,
            path.removeprefix("/simple/v1"),
            json=bodies.get(name),
        )
        assert response.status_code in (200, 201, 204), (name, response.text)


def test_read_only_clients_get_403_and_errors_use_the_seed_statuses(start_sandbox) -> None:
    sandbox = start_sandbox(
        vendors=["learningpool"],
        learningpool={
            "clients": {"reader": "r-secret", "writer": "w-secret"},
            "read_only_clients": ["reader"],
        },
    )
    reader = token_for(sandbox, client_id="reader", client_secret="r-secret")
    with api_client(sandbox, reader) as api:
        assert api.get("/users").status_code == 200
        refused = api.post("/users", json=ANN)
        assert (refused.status_code, refused.json()) == (
            403,
            {"message": "This action is unauthorized."},
        )
        assert api.get("/no-such-thing").status_code == 404
        assert api.delete("/users").status_code == 405


def test_assumed_limit_answers_429_with_retry_after(start_sandbox) -> None:
    clock = ManualClock(start=1_780_000_000.0)
    sandbox = start_sandbox(
        vendors=["learningpool"],
        clock=clock,
        learningpool={"per_minute": 4, "clients": {"a": "sa", "b": "sb"}},
    )
    with api_client(sandbox, token_for(sandbox, client_id="a", client_secret="sa")) as first:
        remaining = []
        for _ in range(3):  # the token request used one of the four
            response = first.get("/groups")
            assert response.status_code == 200
            remaining.append(response.headers["X-RateLimit-Remaining"])
            clock.advance(1)
        assert remaining == ["2", "1", "0"]
        refused = first.get("/groups")
        assert refused.status_code == 429
        assert refused.json() == {"message": "Too Many Attempts."}
        assert refused.headers["Retry-After"] == "57"
        with api_client(sandbox, token_for(sandbox, client_id="b", client_secret="sb")) as second:
            assert second.get("/groups").status_code == 200  # a budget per client
        clock.advance(57)
        assert first.get("/groups").status_code == 200


def test_faults_errors_storms_and_dropped_answers(lp: Sandbox, api) -> None:
    sim = lp.sim("learningpool")
    sim.set_faults({"error_next": 1})
    failed = api.get("/users")
    assert (failed.status_code, failed.json()) == (500, {"message": "Server Error"})
    sim.set_faults({"storm_requests": 1, "storm_retry_after": 3})
    storm = api.get("/users")
    assert (storm.status_code, storm.headers["Retry-After"]) == (429, "3")
    sim.set_faults({"drop_next": 1, "drop_after_processing": True, "paths": ["/simple/v1/users"]})
    with pytest.raises(httpx.RemoteProtocolError):
        api.post("/users", json=ANN)
    found = api.get("/users", params={"external_id": "E1001"}).json()["data"]
    assert len(found) == 1  # the answer was lost, the user exists: look it up before retrying
    retried = api.post("/users", json=ANN)
    assert retried.status_code == 422  # a blind retry is refused, never a duplicate
    assert sim.count("POST /simple/v1/users", "dropped") == 1

"""Injected faults behave as a reliability test needs: a share of 5xx, 429 storms by
time or by count, dropped connections (before or after the request took effect),
added latency, and faults limited to some paths."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from syncd.sandbox import ManualClock, Sandbox


def test_error_share_is_reproducible_with_a_seed(start_sandbox, clients) -> None:
    def run() -> list[int]:
        sandbox = start_sandbox(
            vendors=["talentlms"],
            seed=7,
            rate_limits=False,
            faults={"error_rate": 0.3, "error_status": 503},
        )
        tlms = clients.talentlms(sandbox)
        return [tlms.get("/users").status_code for _ in range(40)]

    first, second = run(), run()
    assert first == second
    assert set(first) == {200, 503}
    assert 4 <= first.count(503) <= 20


def test_error_next_answers_the_documented_500_envelope(sandbox: Sandbox, tlms, hn) -> None:
    sandbox.sim("talentlms").set_faults({"error_next": 2})
    assert [tlms.get("/users").status_code for _ in range(3)] == [500, 500, 200]
    body = tlms.get("/users").json()
    assert "_data" in body
    sandbox.sim("hownow").set_faults({"error_next": 1})
    failed = hn.get("/users")
    assert (failed.status_code, failed.json()) == (500, {"error_message": "Something went wrong"})
    counters = sandbox.sim("talentlms").counts()
    assert counters["GET /api/v2/users"] == {"200": 2, "500": 2}


def test_storm_for_n_seconds(sandbox: Sandbox, tlms, clock: ManualClock, control) -> None:
    response = control.post(
        "/talentlms/faults", json={"storm_seconds": 30, "storm_retry_after": 30}
    )
    assert response.json()["faults"]["storm_remaining_seconds"] == 30
    storm = tlms.get("/users")
    assert storm.status_code == 429 and storm.headers["Retry-After"] == "30"
    clock.advance(10)
    assert tlms.get("/users").status_code == 429
    clock.advance(21)
    assert tlms.get("/users").status_code == 200


def test_storm_for_n_requests_without_retry_after(sandbox: Sandbox, hn) -> None:
    sandbox.sim("hownow").set_faults({"storm_requests": 3})
    statuses = [hn.get("/users") for _ in range(4)]
    assert [r.status_code for r in statuses] == [429, 429, 429, 200]
    assert "Retry-After" not in statuses[0].headers


def test_dropped_connection_gets_no_answer_and_nothing_happens(sandbox: Sandbox, tlms) -> None:
    sandbox.sim("talentlms").set_faults({"drop_next": 1})
    body = {
        "name": "A",
        "surname": "B",
        "login": "dropped",
        "email": "d@example.com",
        "password": "pw",
    }
    with pytest.raises(httpx.RemoteProtocolError):
        tlms.post("/users", json=body)
    assert tlms.get("/users", params={"filter[login][eq]": "dropped"}).json()["_data"] == []
    assert tlms.post("/users", json=body).status_code == 200  # the client reconnects
    records = sandbox.sim("talentlms").requests()
    assert [(r["status"], r["fault"]) for r in records][:2] == [("dropped", "drop"), (200, None)]


def test_lost_answer_after_the_create_took_effect(sandbox: Sandbox, tlms) -> None:
    sandbox.sim("talentlms").set_faults({"drop_next": 1, "drop_after_processing": True})
    body = {
        "name": "A",
        "surname": "B",
        "login": "lost",
        "email": "lost@example.com",
        "password": "pw",
    }
    with pytest.raises(httpx.RemoteProtocolError):
        tlms.post("/users", json=body)
    found = tlms.get("/users", params={"filter[email][eq]": "lost@example.com"}).json()["_data"]
    assert [u["login"] for u in found] == ["lost"]  # created although the answer was lost
    retry = tlms.post("/users", json=body)
    assert retry.status_code == 400  # sending it again would be a duplicate


def test_a_refusal_is_worded_as_the_vendor_words_errors_and_changes_nothing(
    sandbox: Sandbox, tlms
) -> None:
    """``refuse_next``: the vendor says "already a member" of someone who is not one."""
    user = tlms.post(
        "/users",
        json={"name": "A", "surname": "B", "login": "ab", "email": "ab@x.com", "password": "pw"},
    ).json()["_data"]["id"]
    sandbox.sim("talentlms").set_faults(
        {
            "refuse_next": 1,
            "refuse_code": "conflict.user_already_in_group",
            "refuse_message": "The user already belongs to this group",
            "paths": ["/api/v2/group-memberships"],
        }
    )
    pair = {"group_id": 1, "user_id": user}
    refused = tlms.post("/group-memberships", json=pair)
    assert refused.status_code == 409
    assert refused.json() == {
        "_errors": [
            {
                "id": "conflict.user_already_in_group",
                "title": "The user already belongs to this group",
            }
        ]
    }
    assert (
        tlms.get(f"/users/{user}", params={"resources": "groups"}).json()["_data"]["groups"] == []
    )
    assert tlms.post("/group-memberships", json=pair).status_code == 204  # one only
    [record] = [r for r in sandbox.sim("talentlms").requests() if r["fault"] == "refuse"]
    assert record["status"] == 409


def test_latency_is_added(sandbox: Sandbox, hn) -> None:
    sandbox.sim("hownow").set_faults({"latency": 0.3})
    started = time.monotonic()
    assert hn.get("/users").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_a_scripted_answer_replaces_the_vendors_and_can_echo_the_request(
    sandbox: Sandbox, tlms
) -> None:
    said = {"_errors": [{"id": "bad_request", "title": "Refused: {request_body}"}]}
    sandbox.sim("talentlms").set_faults(
        {"answer_next": 1, "answer_status": 200, "answer_body": said}
    )
    answer = tlms.post("/users", json={"login": "echoed", "password": "pw-123"})
    assert answer.status_code == 200
    assert answer.json()["_errors"][0]["title"] == 'Refused: {"login":"echoed","password":"pw-123"}'
    assert tlms.get("/users", params={"filter[login][eq]": "echoed"}).json()["_data"] == []
    sandbox.sim("talentlms").set_faults({"answer_next": 1, "answer_body": "[[[not json"})
    assert tlms.get("/users").content == b"[[[not json"


def test_a_trickled_answer_arrives_whole_a_byte_at_a_time(sandbox: Sandbox, hn) -> None:
    sandbox.sim("hownow").set_faults({"trickle": 0.001})
    with hn.stream("GET", "/users") as answer:
        chunks = list(answer.iter_raw())
    body = b"".join(chunks)
    assert len(chunks) > len(body) // 2  # bytes arrive one at a time, now and then two
    assert json.loads(body) is not None


def test_faults_can_target_some_paths(sandbox: Sandbox, tlms) -> None:
    sandbox.sim("talentlms").set_faults({"error_rate": 1.0, "paths": ["/api/v2/batch"]})
    assert tlms.get("/users").status_code == 200
    assert tlms.post("/batch/users", json={"users": [{"login": "x"}]}).status_code == 500
    sandbox.sim("talentlms").set_faults({"paths": ["/api/v2/users"], "methods": ["post"]})
    assert tlms.get("/users").status_code == 200
    assert tlms.post("/users", json={}).status_code == 500


def test_invalid_fault_settings_are_refused(control) -> None:
    bad = control.post("/talentlms/faults", json={"error_rate": 2})
    assert bad.status_code == 400 and "error_rate" in bad.json()["error"]
    unknown = control.post("/talentlms/faults", json={"explode": True})
    assert unknown.status_code == 400 and "explode" in unknown.json()["error"]


def test_start_up_faults_survive_a_reset(start_sandbox, clients) -> None:
    sandbox = start_sandbox(vendors=["talentlms"], talentlms={"faults": {"error_next": 1}})
    tlms = clients.talentlms(sandbox)
    assert tlms.get("/users").status_code == 500
    assert tlms.get("/users").status_code == 200
    sandbox.sim("talentlms").reset()
    assert tlms.get("/users").status_code == 500

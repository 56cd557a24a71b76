"""The control API every simulator has: listing, seed, dump, request log, counters, reset."""

from __future__ import annotations

import httpx

from syncd.sandbox import Sandbox


def test_index_lists_vendors_and_base_urls(sandbox: Sandbox, control) -> None:
    vendors = control.get("").json()["vendors"]
    assert set(vendors) == set(sandbox.vendors) >= {"talentlms", "hownow"}
    assert vendors["talentlms"]["base_url"] == sandbox.base_url("talentlms")
    assert vendors["hownow"]["base_url"] == f"{sandbox.url}/hownow"
    assert "POST /complete" in vendors["talentlms"]["control_endpoints"]


def test_seed_then_dump_shows_the_data(control) -> None:
    seeded = control.post(
        "/talentlms/seed",
        json={
            "users": [
                {
                    "id": 50,
                    "login": "seeded",
                    "email": "seeded@example.com",
                    "groups": [2],
                    "courses": [103],
                }
            ],
            "completions": [
                {
                    "user_id": 50,
                    "course_id": 103,
                    "score": 99,
                    "completed_at": "2026-01-02T03:04:05+00:00",
                }
            ],
        },
    )
    assert seeded.status_code == 200 and seeded.json()["seeded"]["users"] == [50]
    dump = control.get("/talentlms/dump").json()
    user = next(u for u in dump["users"] if u["id"] == 50)
    assert user["groups"] == [2] and user["courses"] == [103]
    assert "password" not in user
    assert dump["progress"] == [
        {
            "user_id": 50,
            "course_id": 103,
            "completion_status": "completed",
            "completion_percentage": 100,
            "score": 99,
            "completion_date": "2026-01-02T03:04:05+00:00",
            "certificate": None,
        }
    ]
    bad = control.post(
        "/talentlms/seed",
        json={
            "users": [{"login": "half", "email": "half@example.com"}],
            "enrollments": [{"user_id": 1, "course_id": 9}],
        },
    )
    assert bad.status_code == 400 and "unknown user or course" in bad.json()["error"]
    logins = [u["login"] for u in control.get("/talentlms/dump").json()["users"]]
    assert "half" not in logins  # a bad seed changes nothing


def test_seed_replace_starts_from_empty(control) -> None:
    control.post(
        "/hownow/seed",
        json={
            "replace": True,
            "users": [
                {
                    "external_user_id": "only",
                    "name": "Only",
                    "email": "only@example.com",
                    "user_type": "Admin",
                }
            ],
        },
    )
    dump = control.get("/hownow/dump").json()
    assert [u["external_user_id"] for u in dump["users"]] == ["only"]
    assert dump["groups"] == [] and dump["contents"] == []


def test_request_log_and_counters_hold_no_secrets(sandbox: Sandbox, tlms, hn, control) -> None:
    tlms.get("/users", params={"filter[login][eq]": "admin"})
    tlms.get("/users/999")
    log = control.get("/talentlms/requests").json()["requests"]
    assert [(r["method"], r["endpoint"], r["status"]) for r in log] == [
        ("GET", "GET /api/v2/users", 200),
        ("GET", "GET /api/v2/users/{id}", 404),
    ]
    assert log[0]["query"] == "filter[login][eq]=admin" and log[0]["path"] == "/api/v2/users"
    assert (
        control.get("/talentlms/requests", params={"since": log[0]["seq"]}).json()["requests"]
        == log[1:]
    )
    counters = control.get("/talentlms/counters").json()["counters"]
    assert counters == {"GET /api/v2/users": {"200": 1}, "GET /api/v2/users/{id}": {"404": 1}}
    everything = str(control.get("/hownow/requests").json()) + str(
        control.get("/hownow/dump").json()
    )
    for secret in ("sandbox-hownow-secret", "sandbox-talentlms-key", "Bearer"):
        assert secret not in everything
    assert str(tlms.headers["X-API-Key"]) not in str(log)


def test_reset_restores_the_start_up_state(sandbox: Sandbox, tlms, control) -> None:
    tlms.post(
        "/users",
        json={
            "name": "A",
            "surname": "B",
            "login": "temp",
            "email": "temp@example.com",
            "password": "pw",
        },
    )
    assert len(control.get("/talentlms/dump").json()["users"]) == 2
    assert control.post("/talentlms/reset").json() == {"reset": True}
    dump = control.get("/talentlms/dump").json()
    assert [u["login"] for u in dump["users"]] == ["admin"]
    assert control.get("/talentlms/requests").json()["requests"] == []


def test_unknown_vendor_and_control_calls(sandbox: Sandbox, control) -> None:
    assert control.get("/ilms-nope/dump").status_code == 404
    assert httpx.get(f"{sandbox.url}/nope/api").status_code == 404
    assert control.post("/talentlms/explode").status_code == 404
    assert (
        control.post("/talentlms/complete", json={"user_id": 999, "course_id": 101}).status_code
        == 404
    )
    unknown_route = httpx.get(f"{sandbox.base_url('talentlms')}/api/v2/nothing-here")
    assert unknown_route.status_code == 404 and "_errors" in unknown_route.json()


def test_dump_shows_tasks_and_jobs(sandbox: Sandbox, tlms, control) -> None:
    task = tlms.post(
        "/batch/users",
        json={"users": [{"login": "t1", "name": "T", "surname": "One", "email": "t1@example.com"}]},
    ).json()
    dump = control.get("/talentlms/dump").json()
    assert dump["tasks"][0]["id"] == task["_data"]["id"]
    assert dump["jobs"][0]["kind"] == "batch_users" and dump["jobs"][0]["items"] == 1

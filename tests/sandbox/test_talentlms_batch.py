"""TalentLMS batch endpoints and tasks: the documented envelopes, the 100-item limit,
items applied as the task progresses, items refused silently (no per-item result is
documented) and injected task failures."""

from __future__ import annotations

import httpx

from syncd.sandbox import ManualClock, Sandbox


def _task(tlms: httpx.Client, task_id: str) -> dict:
    response = tlms.get(f"/tasks/{task_id}")
    assert response.status_code == 200
    return response.json()["_data"]


def _people(n: int, prefix: str = "hire") -> list[dict]:
    return [
        {
            "login": f"{prefix}{i}",
            "name": "New",
            "surname": f"Hire{i}",
            "email": f"{prefix}{i}@example.com",
            "status": "active",
            "custom_field_1": f"E-{i}",
        }
        for i in range(n)
    ]


def test_batch_users_answers_a_created_task(tlms) -> None:
    response = tlms.post("/batch/users", json={"users": _people(2)})
    assert response.status_code == 200
    data = response.json()["_data"]
    assert set(data) == {"id", "status", "progress", "download_url"}
    assert data["status"] == "created" and data["progress"] == 0 and data["download_url"] is None
    assert len(data["id"]) == 8 and data["id"].isalnum()


def test_items_are_applied_as_the_task_progresses(
    tlms, sandbox: Sandbox, clock: ManualClock
) -> None:
    task_id = tlms.post("/batch/users", json={"users": _people(4)}).json()["_data"]["id"]

    def logins() -> set[str]:
        return {u["login"] for u in tlms.get("/users").json()["_data"]}

    assert logins() == {"admin"}
    clock.advance(5)  # half of the 10 s task
    halfway = _task(tlms, task_id)
    assert halfway["status"] == "processing"
    assert halfway["processed_items"] == 2 and 0 < halfway["progress"] < 100
    assert logins() == {"admin", "hire0", "hire1"}
    clock.advance(5)
    done = _task(tlms, task_id)
    assert done == {
        "id": task_id,
        "status": "completed",
        "progress": 100,
        "processed_items": 4,
        "download_url": None,
    }
    assert logins() == {"admin", "hire0", "hire1", "hire2", "hire3"}
    created = tlms.get("/users", params={"filter[login][eq]": "hire3"}).json()["_data"][0]
    detail = tlms.get(f"/users/{created['id']}").json()["_data"]
    assert detail["custom_fields"][0]["value"] == "E-3"


def test_batch_users_updates_by_id_only(tlms, clock: ManualClock) -> None:
    tlms.post("/batch/users", json={"users": _people(1)})
    clock.advance(10)
    user = tlms.get("/users", params={"filter[login][eq]": "hire0"}).json()["_data"][0]
    # Same login and email but no id: a duplicate, refused per item.
    again = tlms.post(
        "/batch/users",
        json={
            "users": [
                {**_people(1)[0], "surname": "Changed"},
                {
                    "id": user["id"],
                    "surname": "Updated",
                    "status": "inactive",
                    "custom_field_1": "E-9",
                },
            ]
        },
    ).json()["_data"]["id"]
    clock.advance(10)
    task = _task(tlms, again)
    assert task["status"] == "completed" and task["processed_items"] == 2
    assert task["download_url"] is None  # the duplicate failed silently
    detail = tlms.get(f"/users/{user['id']}").json()["_data"]
    assert detail["surname"] == "Updated" and detail["status"] == "inactive"
    assert detail["custom_fields"][0]["value"] == "E-9"
    assert len(tlms.get("/users", params={"filter[login][eq]": "hire0"}).json()["_data"]) == 1


def test_batch_limits_and_empty_bodies(tlms) -> None:
    too_many = tlms.post("/batch/users", json={"users": _people(101)})
    assert too_many.status_code == 400
    assert too_many.json()["_errors"][0]["id"] == "bad_request"
    assert "100" in too_many.json()["_errors"][0]["title"]
    empty = tlms.post("/batch/enrollments", json={})
    assert empty.status_code == 400
    assert empty.json()["_errors"] == [
        {
            "id": "bad_request",
            "title": "Request body must be a non-empty array of enrollments' data",
        }
    ]
    assert tlms.post("/batch/users", json={"users": _people(100)}).status_code == 200


def test_batch_enrollments_apply_per_pair(tlms, clock: ManualClock) -> None:
    user_id = tlms.post(
        "/users",
        json={
            "name": "A",
            "surname": "B",
            "login": "ab",
            "email": "ab@example.com",
            "password": "pw",
        },
    ).json()["_data"]["id"]
    body = {
        "enrollments": [
            {"course_id": 101, "user_id": user_id},
            {"course_id": 102, "user_id": user_id},
            {"course_id": 999, "user_id": user_id},
        ]
    }
    created = tlms.post("/batch/enrollments", json=body).json()["_data"]
    assert created["status"] == "created"
    clock.advance(10)
    task = _task(tlms, created["id"])
    assert task["status"] == "completed" and task["processed_items"] == 3
    assert task["download_url"] is None  # course 999 does not exist: refused silently
    courses = tlms.get(f"/users/{user_id}", params={"resources": "courses"}).json()["_data"]
    assert [c["id"] for c in courses["courses"]] == [101, 102]


def test_task_errors_have_documented_shapes(tlms) -> None:
    missing = tlms.get("/tasks/nOpE1234")
    assert missing.status_code == 404
    assert missing.json() == {"status_code": 404, "reason_phrase": "Not Found"}
    no_id = tlms.get("/tasks/")
    assert no_id.status_code == 400
    assert no_id.json()["_errors"][0]["title"] == "Task ID path parameter is required."


def test_fault_makes_a_task_fail_after_applying_part_of_it(
    tlms, sandbox: Sandbox, clock: ManualClock
) -> None:
    sandbox.sim("talentlms").set_faults({"job_fail_next": 1, "job_fail_applied_share": 0.5})
    failing = tlms.post("/batch/users", json={"users": _people(4, "f")}).json()["_data"]["id"]
    healthy = tlms.post("/batch/users", json={"users": _people(2, "h")}).json()["_data"]["id"]
    clock.advance(10)
    failed = _task(tlms, failing)
    assert failed["status"] == "failed" and failed["processed_items"] == 2
    assert failed["progress"] == 50 and failed["download_url"] is None
    assert _task(tlms, healthy)["status"] == "completed"
    logins = {u["login"] for u in tlms.get("/users").json()["_data"]}
    assert logins == {"admin", "f0", "f1", "h0", "h1"}


def test_a_refused_item_fails_silently_and_no_report_is_served(
    tlms, sandbox: Sandbox, clock: ManualClock
) -> None:
    """As documented: a task says it ended, never which items it applied."""
    people = _people(2)
    people[1]["email"] = "admin@example.com"  # taken by another account
    task_id = tlms.post("/batch/users", json={"users": people}).json()["_data"]["id"]
    clock.advance(10)
    assert _task(tlms, task_id) == {
        "id": task_id,
        "status": "completed",
        "progress": 100,
        "processed_items": 2,
        "download_url": None,
    }
    assert {u["login"] for u in tlms.get("/users").json()["_data"]} == {"admin", "hire0"}
    report = httpx.get(f"{sandbox.url}/_sandbox/talentlms/reports/{task_id}")
    assert report.status_code == 404


def test_a_forgotten_task_answers_404_and_still_applies_its_items(
    tlms, sandbox: Sandbox, clock: ManualClock
) -> None:
    task_id = tlms.post("/batch/users", json={"users": _people(2)}).json()["_data"]["id"]
    forget = httpx.post(f"{sandbox.url}/_sandbox/talentlms/tasks/{task_id}/forget")
    assert forget.status_code == 200
    missing = tlms.get(f"/tasks/{task_id}")
    assert missing.status_code == 404
    assert missing.json() == {"status_code": 404, "reason_phrase": "Not Found"}
    clock.advance(10)
    assert {u["login"] for u in tlms.get("/users").json()["_data"]} == {"admin", "hire0", "hire1"}

"""TalentLMS v2 contract: groups, branches, courses, enrollments, course progress and
the timeline, with the documented conflicts and error bodies."""

from __future__ import annotations

import httpx

from syncd.sandbox import ManualClock, Sandbox


def _error(response: httpx.Response) -> tuple[int, str, str]:
    first = response.json()["_errors"][0]
    return response.status_code, first["id"], first["title"]


def _new_user(tlms: httpx.Client, login: str = "jane") -> int:
    body = {
        "name": "Jane",
        "surname": "Roe",
        "login": login,
        "email": f"{login}@example.com",
        "password": "Secret!123",
    }
    return tlms.post("/users", json=body).json()["_data"]["id"]


def test_groups_list_get_create(tlms) -> None:
    groups = tlms.get("/groups").json()
    assert [g["name"] for g in groups["_data"]] == ["Engineering Team", "Sales Team"]
    assert {"id", "name", "description", "key_redemptions", "branch", "price"} <= set(
        groups["_data"][0]
    )
    created = tlms.post(
        "/groups",
        json={
            "name": "example group",
            "description": "An example.",
            "key": "key123",
            "max_key_redemptions": 28,
            "price": 12,
        },
    )
    assert created.status_code == 200
    data = created.json()["_data"]
    assert data["name"] == "example group" and data["key"] == "key123"
    assert data["price"] == {"amount": 12, "currency": "USD"}
    assert tlms.get(f"/groups/{data['id']}").json()["_data"]["max_key_redemptions"] == 28
    assert _error(tlms.post("/groups", json={"description": "x"})) == (
        400,
        "bad_request",
        "Group name is required",
    )
    assert _error(tlms.post("/groups", json={"name": "g", "key": ""})) == (
        400,
        "bad_request",
        "Group key must be a not empty string or null",
    )
    assert _error(tlms.get("/groups/77")) == (404, "not_found.group_not_found", "Group not found")
    assert _error(tlms.get("/groups/x"))[:2] == (400, "bad_request")


def test_group_membership_add_remove_and_conflicts(tlms) -> None:
    user_id = _new_user(tlms)
    body = {"group_id": 1, "user_id": user_id}
    added = tlms.post("/group-memberships/", json=body)
    assert added.status_code == 204
    again = tlms.post("/group-memberships/", json=body)
    assert again.status_code == 409
    assert again.json()["_errors"][0]["id"] == "conflict.user_already_in_group"
    groups = tlms.get(f"/users/{user_id}", params={"resources": "groups"}).json()["_data"]
    assert groups["groups"] == [{"id": 1, "name": "Engineering Team"}]
    assert tlms.request("DELETE", "/group-memberships/", json=body).status_code == 204
    assert _error(tlms.request("DELETE", "/group-memberships/", json=body)) == (
        409,
        "conflict.user_not_in_group",
        "User not in group",
    )
    assert _error(tlms.post("/group-memberships/", json={"group_id": 9, "user_id": user_id})) == (
        404,
        "not_found.group_not_found",
        "Group not found",
    )
    assert _error(tlms.post("/group-memberships/", json={"group_id": 1, "user_id": 999})) == (
        404,
        "not_found.user_not_found",
        "User not found",
    )
    assert _error(tlms.post("/group-memberships/", json={"group_id": "x", "user_id": 1})) == (
        400,
        "bad_request",
        "Group id must be a positive integer",
    )


def test_branches_and_branch_users_with_conflicts(tlms) -> None:
    branches = tlms.get("/branches").json()["_data"]
    assert branches[0]["name"] == "marketing" and branches[0]["active"] is True
    user_id = _new_user(tlms)
    body = {"branch_id": 1, "user_id": user_id}
    assert tlms.post("/branch-users", json=body).status_code == 204
    assert _error(tlms.post("/branch-users", json=body)) == (
        409,
        "conflict.user_already_in_branch",
        "The user already belongs to this branch",
    )
    members = tlms.get("/branches/1/users").json()
    assert [m["id"] for m in members["_data"]] == [user_id]
    assert members["_data"][0]["type"] == {"id": 4, "name": "Learner-Type"}
    assert "/rest-api/v2/branches/1/users" in members["_links"]["self"]
    assert tlms.request("DELETE", "/branch-users", json=body).status_code == 204
    assert _error(tlms.request("DELETE", "/branch-users", json=body)) == (
        409,
        "conflict",
        "The requested user is not a member of this branch",
    )
    assert _error(tlms.request("DELETE", "/branch-users", json={"user_id": user_id})) == (
        400,
        "bad_request",
        "Branch id is required",
    )
    assert _error(tlms.get("/branches/5/users")) == (
        404,
        "not_found.branch_not_found",
        "Branch not found",
    )
    created = tlms.post(
        "/branches", json={"name": "sales", "description": "Sales", "default_locale": "en-US"}
    )
    assert created.status_code == 200 and created.json()["_data"]["name"] == "sales"
    assert (
        tlms.put(
            f"/branches/{created.json()['_data']['id']}/status", json={"is_active": False}
        ).status_code
        == 204
    )
    assert _error(tlms.put("/branches/1/status", json={"is_active": "yes"})) == (
        400,
        "bad_request",
        "The attribute 'is_active' must be boolean",
    )


def test_courses_list_get_and_seeding(tlms, sandbox: Sandbox) -> None:
    listed = tlms.get("/courses").json()
    assert [c["id"] for c in listed["_data"]] == [101, 102, 103, 104]
    assert {"id", "name", "code", "status", "price", "creation_date"} <= set(listed["_data"][0])
    sandbox.sim("talentlms").seed(
        {"courses": [{"id": 135, "name": "Mathematics", "custom_fields": {"Level": "Hard"}}]}
    )
    hard = tlms.get("/courses", params={"filter[custom_field_value]": "Hard"}).json()
    assert [c["name"] for c in hard["_data"]] == ["Mathematics"]
    assert "filter[custom_field_value][eq]=Hard" in hard["_links"]["self"]
    assert tlms.get("/courses/135").json()["_data"]["name"] == "Mathematics"
    assert _error(tlms.get("/courses/999")) == (
        404,
        "not_found.course_not_found",
        "Course not found",
    )
    assert _error(tlms.get("/courses/0")) == (
        400,
        "bad_request",
        "Course id must be a positive integer",
    )


def test_enroll_and_unenroll(tlms) -> None:
    user_id = _new_user(tlms)
    enrolled = tlms.post("/enrollments", json={"course_id": 101, "user_id": user_id})
    assert enrolled.status_code == 200
    assert enrolled.json() == {"_data": {"role": "learner"}}
    assert _error(tlms.post("/enrollments", json={"course_id": 101, "user_id": user_id}))[0] == 409
    assert _error(tlms.post("/enrollments", json={"course_id": 999, "user_id": user_id})) == (
        404,
        "not_found.course_not_found",
        "Course not found",
    )
    assert _error(tlms.post("/enrollments", json={"course_id": 101, "user_id": 999})) == (
        404,
        "not_found.user_not_found",
        "User not found",
    )
    assert _error(tlms.post("/enrollments", json={"course_id": -1, "user_id": 2})) == (
        400,
        "bad_request",
        "Course id must be a positive integer",
    )
    body = {"course_id": 101, "user_id": user_id}
    assert tlms.request("DELETE", "/enrollments", json=body).status_code == 204
    courses = tlms.get(f"/users/{user_id}", params={"resources": "courses"}).json()["_data"]
    assert courses["courses"] == []


def test_course_progress_reports_completion_score_and_certificate(
    tlms, sandbox: Sandbox, control
) -> None:
    user_id = _new_user(tlms)
    tlms.post("/enrollments", json={"course_id": 102, "user_id": user_id})
    before = tlms.get("/course-progress", params={"user_id": user_id, "course_id": 102}).json()
    assert before["_data"]["progress"]["completion_status"] == "not_attempted"
    assert before["_data"]["enrolled"] is True and before["_data"]["role_in_course"] == "learner"
    assert (
        control.post(
            "/talentlms/progress",
            json={"user_id": user_id, "course_id": 102, "completion_percentage": 40},
        ).status_code
        == 200
    )
    halfway = tlms.get("/course-progress", params={"user_id": user_id, "course_id": 102}).json()
    assert halfway["_data"]["progress"]["completion_status"] == "incomplete"
    assert halfway["_data"]["progress"]["completion_percentage"] == 40
    done = control.post(
        "/talentlms/complete",
        json={
            "user_id": user_id,
            "course_id": 102,
            "score": 87,
            "completed_at": "2026-05-01T10:00:00+00:00",
            "certificate": {"id": 7, "name": "CoC"},
        },
    )
    assert done.status_code == 200
    progress = tlms.get("/course-progress", params={"user_id": user_id, "course_id": 102}).json()[
        "_data"
    ]
    assert set(progress) == {
        "id",
        "name",
        "category",
        "status",
        "creation_date",
        "last_updated_on",
        "progress",
        "enrolled",
        "role_in_course",
    }
    assert progress["id"] == 102 and progress["name"] == "Code of Conduct"
    assert progress["progress"] == {
        "total_time": 0,
        "score": 87.0,
        "completion_status": "completed",
        "completion_date": "2026-05-01T10:00:00+00:00",
        "completion_percentage": 100,
        "last_viewed_unit_id": None,
        "certificate": {"id": 7, "name": "CoC"},
    }
    assert _error(tlms.get("/course-progress", params={"user_id": 999, "course_id": 102})) == (
        404,
        "not_found.user_not_found",
        "User not found",
    )
    assert _error(tlms.get("/course-progress", params={"user_id": user_id, "course_id": "x"})) == (
        400,
        "bad_request",
        "Course id must be a positive integer",
    )


def test_timeline_filters_by_event_type_and_dates(
    tlms, sandbox: Sandbox, clock: ManualClock
) -> None:
    sim = sandbox.sim("talentlms")
    user_id = _new_user(tlms)
    sim.seed(
        {
            "completions": [
                {"user_id": user_id, "course_id": 101, "completed_at": "2025-05-10T09:00:00+00:00"},
                {
                    "user_id": user_id,
                    "course_id": 102,
                    "completed_at": "2025-06-20T09:00:00+00:00",
                    "score": 90,
                },
            ]
        }
    )
    sim.complete(user_id, 103, score=75)
    completions = tlms.get("/timeline", params={"filter[event_type]": "course_completion"}).json()
    rows = completions["_data"]
    assert [r["extra"]["course"]["id"] for r in rows] == [103, 102, 101]  # newest first
    assert all(r["id"].startswith("tcc_") for r in rows)
    assert rows[0]["extra"]["user"]["login"] == "jane"
    assert {"id", "user_id", "event_type", "created_at", "occurrences", "extra"} == set(rows[0])
    assert completions["_meta"]["filtered_by"] == {"event_type": {"eq": "course_completion"}}
    window = tlms.get(
        "/timeline",
        params={
            "filter[event_type][eq]": "course_completion",
            "filter[created_from][gte]": "2025-05-07T00:00:00+03:00",
            "filter[created_to][lte]": "2025-06-01T23:59:59+03:00",
        },
    ).json()
    assert [r["extra"]["course"]["id"] for r in window["_data"]] == [101]
    everything = tlms.get("/timeline", params={"page[size]": 100}).json()["_data"]
    kinds = {r["event_type"] for r in everything}
    assert {"user_create_user", "course_completion"} <= kinds
    assert all(r["id"].isdigit() for r in everything)


def test_progress_reset_is_logged(tlms, sandbox: Sandbox) -> None:
    user_id = _new_user(tlms)
    sandbox.sim("talentlms").complete(user_id, 101, score=50)
    reset = tlms.request(
        "DELETE", "/course-progress", params={"user_id": user_id, "course_id": 101}
    )
    assert reset.status_code == 204
    progress = tlms.get("/course-progress", params={"user_id": user_id, "course_id": 101}).json()
    assert progress["_data"]["progress"]["completion_status"] == "not_attempted"
    resets = tlms.get(
        "/timeline", params={"filter[event_type][eq]": "course_user_progress_reset"}
    ).json()
    assert [r["user_id"] for r in resets["_data"]] == [user_id]

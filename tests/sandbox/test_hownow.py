"""HowNow contract: client-credentials tokens, users, asynchronous upserts and their jobs,
deactivation rules, assigned contents, groups, job roles and learning records."""

from __future__ import annotations

import httpx
import pytest

from syncd.sandbox import ManualClock, Sandbox

from .conftest import HOWNOW_CLIENT

# The "Upsert User" example body of the collection (manager and job role adapted to
# objects that exist in the sandbox's default data).
DOCUMENTED_UPSERT = {
    "external_user_id": "user_123",
    "name": "John Doe",
    "email": "john@example.com",
    "user_type": "ReadOnly",
    "manager_id": "EXT-svc_admin",
    "start_date": "2025-06-12",
    "avatar_url": "https://example.com/avatars/john.jpg",
    "dob": "1990-05-15",
    "phone": "+44 123 456 7890",
    "address": "123 Main Street, London",
    "country": "UK",
    "job_role": {"id": "EXT-role_engineer", "name": "Application Developer"},
    "custom_fields": [
        {"field_name": "location", "value": "NYC"},
        {"field_name": "department", "value": "Engineering"},
    ],
}


def _job(hn: httpx.Client, job_id: str) -> dict:
    response = hn.get(f"/jobs/{job_id}/status")
    assert response.status_code == 200
    return response.json()


def _upsert(hn: httpx.Client, clock: ManualClock, body: dict) -> dict:
    """Upsert, let the job finish, and return its final status."""
    accepted = hn.post("/users/upsert", json=body)
    assert accepted.status_code == 201, accepted.text
    clock.advance(10)
    return _job(hn, accepted.json()["job_id"])


def test_token_issue_and_errors(sandbox: Sandbox) -> None:
    url = f"{sandbox.base_url('hownow')}/token"
    issued = httpx.post(url, data=HOWNOW_CLIENT)
    assert issued.status_code == 200
    body = issued.json()
    assert body["expires_in"] == 3600 and body["token_type"] == "Bearer"
    assert body["access_token"].count(".") == 2  # a JWT
    missing = httpx.post(url, data={"grant_type": "client_credentials"})
    assert (missing.status_code, missing.json()) == (400, {"error": "invalid_request"})
    as_json = httpx.post(url, json=HOWNOW_CLIENT)
    assert as_json.status_code == 400
    wrong = httpx.post(url, data={**HOWNOW_CLIENT, "client_secret": "guess"})
    assert (wrong.status_code, wrong.json()) == (401, {"error": "invalid_client"})


def test_requests_need_a_valid_bearer_token(sandbox: Sandbox, clients) -> None:
    anonymous = httpx.get(f"{sandbox.base_url('hownow')}/external/v1/users")
    assert (anonymous.status_code, anonymous.json()) == (401, {"error_message": "Not authorized"})
    forged = clients.hownow(sandbox, token="eyJ.forged.token").get("/users")
    assert forged.status_code == 401


def test_token_expires_after_its_lifetime(start_sandbox, clients) -> None:
    clock = ManualClock(start=1_780_000_000.0)
    sandbox = start_sandbox(vendors=["hownow"], clock=clock, hownow={"token_lifetime": 60})
    token = httpx.post(f"{sandbox.base_url('hownow')}/token", data=HOWNOW_CLIENT).json()
    assert token["expires_in"] == 60
    hn = clients.hownow(sandbox, token["access_token"])
    assert hn.get("/users").status_code == 200
    clock.advance(61)
    expired = hn.get("/users")
    assert (expired.status_code, expired.json()) == (401, {"error_message": "Not authorized"})


def test_short_token_lifetime_fault_and_expire_control(
    sandbox: Sandbox, clients, control, clock: ManualClock
) -> None:
    control.post("/hownow/faults", json={"token_lifetime": 5})
    token = httpx.post(f"{sandbox.base_url('hownow')}/token", data=HOWNOW_CLIENT).json()
    assert token["expires_in"] == 5
    clock.advance(6)
    assert clients.hownow(sandbox, token["access_token"]).get("/users").status_code == 401
    control.post("/hownow/faults", json={"clear": True})
    hn = clients.hownow(sandbox)
    assert hn.get("/users").status_code == 200
    assert control.post("/hownow/expire-tokens").status_code == 200
    assert hn.get("/users").status_code == 401


LISTED_FIELDS = {
    "id",
    "name",
    "external_user_id",
    "email",
    "status",
    "state",
    "user_type",
    "created_at",
    "joined_organisation_on",
    "last_signed_at",
    "last_active_at",
    "job_role",
    "manager",
    "group_count",
    "image_details",
}
"""The fields of a user in the "Get All Users" example, and no other."""


def test_list_and_get_users_have_the_documented_shapes(hn) -> None:
    listed = hn.get("/users", params={"page": 1, "per_page": 2}).json()
    assert set(listed) == {"data", "meta"}
    assert listed["meta"] == {
        "page": 1,
        "per_page": 2,
        "total_pages": 1,
        "total_count": 1,
        "filters": {},
    }
    admin = listed["data"][0]
    assert set(admin) == LISTED_FIELDS
    assert admin["status"] == "Active" and admin["state"] == "enabled"
    detail = hn.get(f"/users/ID-{admin['id']}").json()["data"]
    assert detail["external_user_id"] == "svc_admin" and detail["custom_fields"] == []
    assert hn.get("/users/EXT-svc_admin").json()["data"]["id"] == admin["id"]
    missing = hn.get("/users/EXT-nobody")
    assert (missing.status_code, missing.json()) == (404, {"error_message": "Not found"})
    assert hn.get("/users/ID-99999999999").status_code == 404  # beyond a 4-byte integer
    assert hn.get("/users/nobody").status_code == 404  # no prefix, no match


def test_the_users_listing_shows_what_its_document_shows_and_nothing_more(
    hn, clock: ManualClock
) -> None:
    assert _upsert(hn, clock, DOCUMENTED_UPSERT)["status"] == "completed"
    listed = hn.get("/users", params={"per_page": 100}).json()["data"]
    user = next(u for u in listed if u["external_user_id"] == "user_123")
    assert set(user) == LISTED_FIELDS  # no custom fields: those are shown one user at a time
    assert user["status"] == "Invited" and user["state"] == "enabled"  # not deactivated
    assert user["job_role"] == "Software Engineer"  # a name: the role's id is not shown
    manager = user["manager"]
    assert set(manager) == {"id", "name", "image_details"}  # no external id for the manager
    assert manager["id"] == hn.get("/users/EXT-svc_admin").json()["data"]["id"]
    # An uploaded avatar is HowNow's own copy, as in the examples, not the URL sent.
    assert set(user["image_details"]) == {"url", "uploaded", "backdrop_color_code"}
    assert user["image_details"]["uploaded"] is True
    assert user["image_details"]["url"] != DOCUMENTED_UPSERT["avatar_url"]
    assert user["joined_organisation_on"] == "2025-06-12"
    detail = hn.get("/users/EXT-user_123").json()["data"]
    assert set(detail) == LISTED_FIELDS | {"custom_fields"}
    assert detail["custom_fields"] == [
        {"name": "department", "values": "Engineering"},
        {"name": "location", "values": "NYC"},
    ]
    gone = hn.put("/users/EXT-user_123/deactivate", json={})
    assert gone.status_code == 200
    listed = hn.get("/users", params={"per_page": 100}).json()["data"]
    assert "user_123" not in {u["external_user_id"] for u in listed}  # active users only


def test_documented_upsert_creates_the_user_through_a_job(hn, clock: ManualClock) -> None:
    accepted = hn.post("/users/upsert", json=DOCUMENTED_UPSERT)
    assert accepted.status_code == 201
    assert set(accepted.json()) == {"job_id", "message"}
    assert accepted.json()["message"] == "Request is accepted"
    job_id = accepted.json()["job_id"]
    assert _job(hn, job_id) == {"status": "in_progress", "errors": None}
    assert hn.get("/users/EXT-user_123").status_code == 404  # not applied yet
    clock.advance(10)
    assert _job(hn, job_id) == {"status": "completed", "errors": None}
    user = hn.get("/users/EXT-user_123").json()["data"]
    assert user["name"] == "John Doe" and user["user_type"] == "ReadOnly"
    assert user["joined_organisation_on"] == "2025-06-12"
    assert user["job_role"] == "Software Engineer"
    assert user["manager"]["name"] == "Sync Service Admin"
    assert user["status"] == "Invited"  # never signed in
    assert user["custom_fields"] == [
        {"name": "department", "values": "Engineering"},
        {"name": "location", "values": "NYC"},
    ]
    # An update replaces custom fields as a whole.
    update = {**DOCUMENTED_UPSERT, "custom_fields": [{"field_name": "location", "value": "LDN"}]}
    assert _upsert(hn, clock, update)["status"] == "completed"
    after = hn.get("/users/EXT-user_123").json()["data"]
    assert after["custom_fields"] == [{"name": "location", "values": "LDN"}]


def test_missing_required_fields_are_refused_at_once(hn) -> None:
    response = hn.post("/users/upsert", json={"name": "John Doe"})
    assert (response.status_code, response.json()) == (400, {"error_message": "Invalid Parameters"})


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"external_user_id": "has space"}, "External user id is invalid"),
        ({"name": "x" * 76}, "Name is too long"),
        ({"email": "not-an-email"}, "Email is invalid"),
        ({"user_type": "Boss"}, "User type is not included in the list"),
        ({"manager_id": "EXT-nobody"}, "Manager not found"),
        ({"start_date": "2999-01-01"}, "Start date cannot be a future date"),
        ({"job_role": {"id": "EXT-nope"}}, "Job role not found"),
        ({"custom_fields": [{"field_name": "shoe_size", "value": "9"}]}, "Custom field not found"),
        ({"email": "svc-admin@example.com"}, "Email has already been taken"),
    ],
)
def test_invalid_users_make_the_job_fail(hn, clock: ManualClock, change: dict, reason: str) -> None:
    status = _upsert(hn, clock, {**DOCUMENTED_UPSERT, **change})
    assert status["status"] == "failed"
    assert reason in status["errors"]
    assert hn.get("/users/EXT-user_123").status_code == 404


def test_deactivated_user_cannot_be_upserted_until_reactivated(hn, clock: ManualClock) -> None:
    assert _upsert(hn, clock, DOCUMENTED_UPSERT)["status"] == "completed"
    gone = hn.put("/users/EXT-user_123/deactivate", json={})
    assert gone.json() == {"message": "User deactivated successfully"}
    assert hn.get("/users/EXT-user_123").json()["data"]["status"] == "Deactivated"
    assert all(u["external_user_id"] != "user_123" for u in hn.get("/users").json()["data"])
    refused = _upsert(hn, clock, {**DOCUMENTED_UPSERT, "name": "John Again"})
    assert refused["status"] == "failed" and "reactivate first" in refused["errors"]
    back = hn.put("/users/EXT-user_123/reactivate")
    assert back.json() == {"message": "User reactivated successfully"}
    assert _upsert(hn, clock, {**DOCUMENTED_UPSERT, "name": "John Again"})["status"] == "completed"
    assert hn.get("/users/EXT-user_123").json()["data"]["name"] == "John Again"
    assert hn.put("/users/EXT-user_123/reactivate").status_code == 422  # not deactivated


def test_deactivation_requires_a_valid_assignee_for_owners(
    hn, clock: ManualClock, sandbox: Sandbox
) -> None:
    sandbox.sim("hownow").seed(
        {
            "users": [
                {
                    "external_user_id": "owner",
                    "name": "Owner",
                    "email": "owner@example.com",
                    "user_type": "Manager",
                    "responsibilities": True,
                },
                {
                    "external_user_id": "reader",
                    "name": "Reader",
                    "email": "reader@example.com",
                    "user_type": "ReadOnly",
                },
            ]
        }
    )
    needed = hn.put("/users/EXT-owner/deactivate", json={})
    assert needed.status_code == 422 and "Assigned User" in needed.json()["errors"]
    read_only = hn.put("/users/EXT-owner/deactivate", json={"assigned_user_id": "EXT-reader"})
    assert (read_only.status_code, read_only.json()) == (
        422,
        {"errors": "Assigned User cannot be a 'Read Only' user"},
    )
    itself = hn.put("/users/EXT-owner/deactivate", json={"assigned_user_id": "EXT-owner"})
    assert itself.status_code == 422
    done = hn.put(
        "/users/EXT-owner/deactivate", json={"assigned_external_user_id": "EXT-svc_admin"}
    )
    assert done.status_code == 200
    assert hn.put("/users/EXT-owner/deactivate", json={}).status_code == 422  # already
    assert hn.put("/users/EXT-nobody/deactivate", json={}).json() == {"error_message": "Not found"}


def test_delete_is_permanent_and_transfers_ownership(hn, sandbox: Sandbox) -> None:
    sandbox.sim("hownow").seed(
        {
            "users": [
                {
                    "external_user_id": "author",
                    "name": "Author",
                    "email": "author@example.com",
                    "user_type": "Contributor",
                }
            ],
            "contents": [{"external_id": "c9", "title": "Written", "author": "EXT-author"}],
        }
    )
    assert hn.request("DELETE", "/users/EXT-author/delete", json={}).status_code == 422
    deleted = hn.request(
        "DELETE", "/users/EXT-author/delete", json={"assigned_external_user_id": "svc_admin"}
    )
    assert deleted.json() == {"message": "User deleted successfully"}
    assert hn.get("/users/EXT-author").status_code == 404
    contents = sandbox.sim("hownow").dump()["contents"]
    assert next(c for c in contents if c["external_id"] == "c9")["author"] == "EXT-svc_admin"


def test_assigned_contents_show_seeded_and_controlled_progress(
    hn, sandbox: Sandbox, control
) -> None:
    sandbox.sim("hownow").seed(
        {
            "assignments": [
                {"user": "EXT-svc_admin", "content": "course_1", "progress": 30},
            ]
        }
    )
    page = hn.get("/users/EXT-svc_admin/assigned_contents").json()
    item = page["data"][0]
    assert {
        "id",
        "hownow_id",
        "title",
        "content_type",
        "author",
        "assigned_at",
        "status",
        "progress",
        "renewal_due_date",
        "deadline_date",
        "completed_at",
        "is_overdue",
        "metadata",
    } == set(item)
    assert (item["hownow_id"], item["status"], item["progress"]) == (
        "course_184341",
        "In Progress",
        30,
    )
    assert (
        control.post(
            "/hownow/progress",
            json={"user": "EXT-svc_admin", "content": "course_184341", "progress": 100},
        ).status_code
        == 200
    )
    done = hn.get("/users/EXT-svc_admin/assigned_contents").json()["data"][0]
    assert done["status"] == "Completed" and done["progress"] == 100 and done["completed_at"]
    assert hn.get("/users/EXT-nobody/assigned_contents").status_code == 404


def test_groups_and_job_roles_are_readable(hn) -> None:
    groups = hn.get("/groups").json()
    first = groups["data"][0]
    assert {
        "id",
        "team_name",
        "created_at",
        "updated_at",
        "user_count",
        "owner",
        "channels_count",
    } == set(first)
    assert first["owner"]["name"] == "Sync Service Admin"
    assert groups["data"][1]["owner"] == {}
    assert [
        g["team_name"] for g in hn.get("/groups", params={"search": "sales"}).json()["data"]
    ] == ["Sales Team"]
    detail = hn.get(f"/groups/{first['id']}").json()["data"]
    assert "channels" in detail and "channels_count" not in detail
    assert hn.get(f"/groups/{first['id']}/users").json()["data"] == []
    assert hn.get("/groups/424242").json() == {"error_message": "Not found"}
    roles = hn.get("/job_roles", params={"q": "engineer"}).json()["data"]
    assert [r["external_id"] for r in roles] == ["role_engineer"]
    assert hn.get("/job_roles/EXT-role_sales").json()["data"]["name"] == "Account Executive"
    assert hn.get("/job_roles/EXT-nope").json() == {"error_message": "Job role not found"}


def test_learning_record_upsert_is_an_async_job(hn, sandbox: Sandbox, clock: ManualClock) -> None:
    documented = {
        "external_user_id": "user_1",
        "external_content_id": "course_1",
        "provider": "Civil Service Learning",
        "completion_percentage": 20,
        "enrollment_date": "2025-06-15",
        "completion_date": None,
        "time_spent": 100,
    }
    unknown_user = hn.post("/contents/engagement/upsert", json=documented)
    assert unknown_user.status_code == 201
    clock.advance(10)
    assert _job(hn, unknown_user.json()["job_id"]) == {
        "status": "failed",
        "errors": "User not found with external_user_id: user_1",
    }
    ok = hn.post(
        "/contents/engagement/upsert", json={**documented, "external_user_id": "svc_admin"}
    )
    clock.advance(10)
    assert _job(hn, ok.json()["job_id"])["status"] == "completed"
    records = sandbox.sim("hownow").dump()["learning_records"]
    assert records[0]["completion_percentage"] == 20 and records[0]["provider"]
    bad = hn.post("/contents/engagement/upsert", json={"external_user_id": "svc_admin"})
    assert (bad.status_code, bad.json()) == (400, {"error_message": "Invalid Parameters"})


def test_faults_force_failed_and_warned_jobs(hn, sandbox: Sandbox, clock: ManualClock) -> None:
    sandbox.sim("hownow").set_faults({"job_fail_next": 1, "job_warn_next": 1})
    failed = _upsert(hn, clock, DOCUMENTED_UPSERT)
    assert failed["status"] == "failed" and failed["errors"]
    assert hn.get("/users/EXT-user_123").status_code == 404  # nothing applied
    warned = _upsert(hn, clock, DOCUMENTED_UPSERT)
    assert warned["status"] == "completed_with_warnings" and warned["errors"]
    assert hn.get("/users/EXT-user_123").status_code == 200  # applied despite the warning
    assert _upsert(hn, clock, DOCUMENTED_UPSERT)["status"] == "completed"


def test_unknown_job_and_acting_user(hn, sandbox: Sandbox, clients) -> None:
    assert hn.get("/jobs/job_unknown/status").status_code == 404
    token = clients.hownow_token(sandbox)
    acting = clients.hownow(sandbox, token)
    assert acting.get("/users", headers={"X-User-Id": "EXT-svc_admin"}).status_code == 200
    assert (
        acting.get("/users", headers={"X-User-Id": "EMAIL-svc-admin@example.com"}).status_code
        == 200
    )
    assert acting.get("/users", headers={"X-User-Id": "EXT-ghost"}).status_code == 401


def test_reactivated_user_who_never_signed_in_is_invited(hn, clock: ManualClock, control) -> None:
    assert _upsert(hn, clock, DOCUMENTED_UPSERT)["status"] == "completed"
    hn.put("/users/EXT-user_123/deactivate", json={})
    hn.put("/users/EXT-user_123/reactivate")
    assert hn.get("/users/EXT-user_123").json()["data"]["status"] == "Invited"
    assert hn.put("/users/EXT-user_123/reactivate").status_code == 422  # invited: refused
    control.post("/hownow/sign-in", json={"user": "EXT-user_123"})
    assert hn.get("/users/EXT-user_123").json()["data"]["status"] == "Active"


def test_seat_limit_blocks_new_users_and_reactivation(
    hn, sandbox: Sandbox, clock: ManualClock
) -> None:
    sandbox.sim("hownow").seed({"seat_limit": 2})
    assert _upsert(hn, clock, DOCUMENTED_UPSERT)["status"] == "completed"
    second = _upsert(
        hn,
        clock,
        {**DOCUMENTED_UPSERT, "external_user_id": "user_456", "email": "other@example.com"},
    )
    assert second["status"] == "failed" and "Seat limit reached" in second["errors"]
    hn.put("/users/EXT-user_123/deactivate", json={})
    assert (
        _upsert(
            hn,
            clock,
            {**DOCUMENTED_UPSERT, "external_user_id": "user_456", "email": "other@example.com"},
        )["status"]
        == "completed"
    )
    full = hn.put("/users/EXT-user_123/reactivate")
    assert (full.status_code, full.json()) == (422, {"errors": "Seat limit reached"})


def test_paging_caps_per_page_at_100(hn, sandbox: Sandbox) -> None:
    sandbox.sim("hownow").seed(
        {
            "users": [
                {
                    "external_user_id": f"p{i}",
                    "name": f"P {i}",
                    "email": f"p{i}@example.com",
                    "user_type": "ReadOnly",
                }
                for i in range(130)
            ]
        }
    )
    first = hn.get("/users", params={"per_page": 500}).json()
    assert first["meta"]["per_page"] == 100 and len(first["data"]) == 100
    assert first["meta"]["total_pages"] == 2 and first["meta"]["total_count"] == 131
    second = hn.get("/users", params={"page": 2, "per_page": 100}).json()
    assert len(second["data"]) == 31
    assert hn.get("/users", params={"page": 0}).status_code == 400
    found = hn.get("/users", params={"q": "p12"}).json()
    assert {u["external_user_id"] for u in found["data"]} == {"p12"} | {
        f"p12{i}" for i in range(10)
    }

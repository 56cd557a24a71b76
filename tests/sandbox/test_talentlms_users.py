"""TalentLMS v2 contract: authentication, envelopes, paging, filters and user writes,
checked against the example requests and responses of the vendor's collection."""

from __future__ import annotations

import httpx
import pytest

from syncd.sandbox import Sandbox

# The successful "Create a user" request of the collection, placeholders included.
DOCUMENTED_CREATE = {
    "name": "John",
    "surname": "Doe",
    "login": "johndoe11",
    "email": "johndoe11@example.com",
    "timezone": "Europe/Athens",
    "locale": "en-US",
    "email_notifications": True,
    "user_type_id": 4,
    "status": "active",
    "password": "JohnDoe!1234",
    "description": "<null|string>",
    "credits": "<null|float>",
    "deactivation_date": "<null|date>",
}


def _errors(response: httpx.Response) -> list[tuple[str, str]]:
    return [(e["id"], e["title"]) for e in response.json()["_errors"]]


def test_missing_or_wrong_api_key_gets_401(sandbox: Sandbox, clients) -> None:
    wrong = clients.talentlms(sandbox, **{"X-API-Key": "not-the-key"})
    assert wrong.get("/users").status_code == 401
    bare = httpx.get(
        f"{sandbox.base_url('talentlms')}/api/v2/users", headers={"X-API-Version": "2025-01-01"}
    )
    assert bare.status_code == 401
    assert bare.json()["_errors"][0]["id"] == "unauthorized"


def test_version_header_is_required(sandbox: Sandbox) -> None:
    url = f"{sandbox.base_url('talentlms')}/api/v2/users"
    missing = httpx.get(url, headers={"X-API-Key": "sandbox-talentlms-key"})
    assert missing.status_code == 400
    assert _errors(missing)[0][0] == "bad_request"
    bad = httpx.get(url, headers={"X-API-Key": "sandbox-talentlms-key", "X-API-Version": "v2"})
    assert bad.status_code == 400


def test_list_users_has_the_documented_envelope_and_rate_limit_headers(tlms) -> None:
    response = tlms.get("/users")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"_data", "_links", "_meta"}
    admin = body["_data"][0]
    assert {
        "id",
        "login",
        "name",
        "surname",
        "email",
        "avatar",
        "type",
        "registration",
        "last_login",
        "status",
    } <= set(admin)
    assert admin["type"] == "SuperAdmin" and admin["status"] == "active"
    assert body["_meta"]["pagination"] == {
        "page": 1,
        "page_size": 10,
        "total_items": 1,
        "total_pages": 1,
        "total_results": 1,
    }
    # On a single page, next and prev point back at page 1 (as in the examples).
    assert body["_links"]["next"] == body["_links"]["self"] == body["_links"]["prev"]
    assert response.headers["X-RateLimit-Limit"] == "2000"
    assert int(response.headers["X-RateLimit-Remaining"]) == 1999


def test_paging_splits_results_and_caps_page_size(tlms, sandbox: Sandbox) -> None:
    sandbox.sim("talentlms").seed(
        {"users": [{"login": f"u{i}", "email": f"u{i}@example.com"} for i in range(120)]}
    )
    first = tlms.get("/users", params={"page[number]": 1, "page[size]": 50}).json()
    assert len(first["_data"]) == 50
    assert first["_meta"]["pagination"]["total_pages"] == 3
    assert first["_meta"]["pagination"]["total_results"] == 121
    assert "page[number]=2" in first["_links"]["next"]
    last = tlms.get("/users", params={"page[number]": 3, "page[size]": 50}).json()
    assert len(last["_data"]) == 21
    assert last["_meta"]["pagination"]["total_items"] == 21
    capped = tlms.get("/users", params={"page[size]": 500}).json()
    assert capped["_meta"]["pagination"]["page_size"] == 100
    assert len(capped["_data"]) == 100


def test_filter_by_email_and_login_echoes_filtered_by(tlms) -> None:
    created = tlms.post("/users", json=DOCUMENTED_CREATE).json()["_data"]["id"]
    by_email = tlms.get("/users", params={"filter[email][eq]": "JohnDoe11@example.com"}).json()
    assert [u["id"] for u in by_email["_data"]] == [created]
    assert by_email["_meta"]["filtered_by"] == {"email": {"eq": "JohnDoe11@example.com"}}
    by_login = tlms.get("/users", params={"filter[login][eq]": "admin"}).json()
    assert [u["login"] for u in by_login["_data"]] == ["admin"]
    assert "filter[login][eq]=admin" in by_login["_links"]["self"]
    nobody = tlms.get("/users", params={"filter[email][eq]": "nobody@example.com"}).json()
    assert nobody["_data"] == []


def test_documented_create_returns_200_with_only_the_id(tlms) -> None:
    response = tlms.post("/users", json=DOCUMENTED_CREATE)
    assert response.status_code == 200
    assert set(response.json()["_data"]) == {"id"}
    user = tlms.get(f"/users/{response.json()['_data']['id']}").json()["_data"]
    assert user["login"] == "johndoe11"
    assert user["user_type"] == {"id": 4, "name": "Learner-Type"}
    assert user["custom_fields"] == [] and user["deactivation_date"] is None
    assert user["available_types"][0] == {"id": 1, "name": "SuperAdmin"}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"email": "not-an-email"}, ("bad_request", "Email is not valid")),
        ({"email": "admin@example.com"}, ("bad_request", "Email already exists")),
        ({"login": ""}, ("bad_request", "User login is required")),
        ({"login": "ADMIN"}, ("bad_request", "Login already exists")),
        ({"password": None}, ("bad_request", "Password is required")),
        ({"name": "x" * 192}, ("bad_request", "Name must not exceed 191 characters")),
    ],
)
def test_create_validation_errors(tlms, change: dict, expected: tuple[str, str]) -> None:
    body = {**DOCUMENTED_CREATE, **change}
    body = {k: v for k, v in body.items() if v is not None}
    response = tlms.post("/users", json=body)
    assert response.status_code == 400
    assert expected in _errors(response)


def test_get_user_errors_have_documented_shapes(tlms) -> None:
    missing = tlms.get("/users/999")
    assert missing.status_code == 404
    assert _errors(missing) == [("not_found.user_not_found", "User not found")]
    invalid = tlms.get("/users/abc")
    assert invalid.status_code == 400
    assert _errors(invalid) == [("bad_request", "User id is invalid")]


@pytest.mark.parametrize(
    ("off", "on"),
    [
        ({"status": "inactive"}, {"status": "active"}),
        ({"status": False}, {"status": True}),
        ({"active": False}, {"active": True}),
    ],
)
def test_every_documented_status_form_deactivates_and_reactivates(tlms, off, on) -> None:
    user_id = tlms.post("/users", json=DOCUMENTED_CREATE).json()["_data"]["id"]
    response = tlms.patch(f"/users/{user_id}", json=off)
    assert response.status_code == 204 and response.content == b""
    assert tlms.get(f"/users/{user_id}").json()["_data"]["status"] == "inactive"
    assert tlms.patch(f"/users/{user_id}", json=on).status_code == 204
    assert tlms.get(f"/users/{user_id}").json()["_data"]["status"] == "active"


def test_partial_update_example_and_its_rules(tlms) -> None:
    user_id = tlms.post("/users", json=DOCUMENTED_CREATE).json()["_data"]["id"]
    partial = tlms.patch(
        f"/users/{user_id}", json={"name": "Johnny", "surname": "Doe", "status": "active"}
    )
    assert partial.status_code == 204
    assert tlms.get(f"/users/{user_id}").json()["_data"]["name"] == "Johnny"
    duplicate = tlms.patch(
        f"/users/{user_id}", json={"email": "admin@example.com", "status": "active"}
    )
    assert duplicate.status_code == 400
    assert ("bad_request", "Email already exists") in _errors(duplicate)
    no_status = tlms.patch(f"/users/{user_id}", json={"name": "J"})
    assert no_status.status_code == 400
    assert tlms.patch("/users/999", json={"status": "active"}).status_code == 404


def test_delete_user_is_permanent(tlms) -> None:
    user_id = tlms.post("/users", json=DOCUMENTED_CREATE).json()["_data"]["id"]
    assert tlms.delete(f"/users/{user_id}").status_code == 204
    assert tlms.get(f"/users/{user_id}").status_code == 404
    assert _errors(tlms.delete(f"/users/{user_id}")) == [
        ("not_found.user_not_found", "User not found")
    ]


def test_user_fields_and_custom_field_values(tlms, sandbox: Sandbox) -> None:
    fields = tlms.get("/user-fields").json()
    assert fields["_data"][0]["key"] == "custom_field_1"
    assert {"key", "type", "name", "mandatory", "dropdown_values", "order"} <= set(
        fields["_data"][0]
    )
    sandbox.sim("talentlms").seed(
        {
            "users": [
                {
                    "login": "cf",
                    "email": "cf@example.com",
                    "custom_fields": {"custom_field_1": "E-42"},
                }
            ]
        }
    )
    found = tlms.get("/users", params={"filter[custom_field_value][eq]": "E-42"}).json()["_data"]
    assert [u["login"] for u in found] == ["cf"]
    detail = tlms.get(f"/users/{found[0]['id']}").json()["_data"]
    assert detail["custom_fields"] == [
        {"id": 1, "name": "Employee ID", "value": "E-42", "type": "text"}
    ]


def test_resources_parameter_adds_memberships(tlms, sandbox: Sandbox) -> None:
    sandbox.sim("talentlms").seed(
        {
            "users": [
                {
                    "login": "rs",
                    "email": "rs@example.com",
                    "groups": [1],
                    "branches": [1],
                    "courses": [101],
                }
            ]
        }
    )
    user_id = tlms.get("/users", params={"filter[login][eq]": "rs"}).json()["_data"][0]["id"]
    body = tlms.get(f"/users/{user_id}", params={"resources": "groups,branches,courses"}).json()
    data = body["_data"]
    assert data["groups"] == [{"id": 1, "name": "Engineering Team"}]
    assert data["branches"] == [{"id": 1, "name": "marketing"}]
    assert data["courses"] == [{"id": 101, "name": "Information Security Basics"}]
    assert "certificates" not in data


def test_disabled_api_answers_403(start_sandbox, clients) -> None:
    sandbox = start_sandbox(vendors=["talentlms"], talentlms={"api_enabled": False})
    response = clients.talentlms(sandbox).get("/users")
    assert response.status_code == 403
    assert response.json()["_errors"][0]["id"] == "forbidden"


def test_an_inactive_portal_fault_answers_the_documented_403_until_cleared(
    sandbox, clients
) -> None:
    """``portal_inactive``: the portal refuses every call with a valid key, as the document's
    403 says ("API is not enabled ... or the domain is currently inactive"); narrowed to
    writes, the reads still work (a domain that went inactive after the cycle read it)."""
    sim = sandbox.sim("talentlms")
    tlms = clients.talentlms(sandbox)
    sim.set_faults({"portal_inactive": True})
    refused = tlms.get("/users")
    assert refused.status_code == 403
    [problem] = refused.json()["_errors"]
    assert problem["id"] == "forbidden" and "domain is currently inactive" in problem["title"]
    assert clients.talentlms(sandbox, **{"X-API-Key": "wrong"}).get("/users").status_code == 401

    sim.set_faults({"methods": ["POST"]})
    assert tlms.get("/users").status_code == 200
    assert tlms.post("/users", json=DOCUMENTED_CREATE).status_code == 403
    assert [u["login"] for u in sim.dump()["users"]] == ["admin"]  # nothing was created

    sim.set_faults({"clear": True})
    assert tlms.post("/users", json=DOCUMENTED_CREATE).status_code == 200

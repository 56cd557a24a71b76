"""iLMS contract: the vendor document's example requests get answers of the documented
shape (status, headers, bodies), field validation refuses what the field table
forbids, the undocumented limit answers 429 with Retry-After, and faults apply."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from syncd.sandbox import ManualClock, Sandbox, available_vendors
from tests.support.clock import START, RewindableClock

HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json",
    "APILoginID": "sandbox-ilms-login",
    "TransactionKey": "sandbox-ilms-key",
    "OrgID": "1001",
}

# The "Create a User" example body (seed L396-L407).
DOCUMENTED_CREATE = {
    "userProfileData": [
        {"Key": "F001", "Value": "John"},
        {"Key": "F003", "Value": "Doe"},
        {"Key": "F015", "Value": "john.burt@email.com"},
        {"Key": "F019", "Value": "region 1"},
        {"Key": "F020", "Value": "Division 1"},
        {"Key": "F021", "Value": "Department 1"},
    ],
    "sendRegistrationMail": True,
    "changePasswordAtNextLogin": True,
}

# The two users of the "Get All Users" example response (seed L141-L226).
EXAMPLE_USERS = [
    {
        "id": 517244,
        "registration_type": "API",
        "registered_at": "2013-10-23T13:30:38.22",
        "profile": {
            "F001": "John",
            "F003": "Doe",
            "F004": "Emp001",
            "F006": "English",
            "F007": "Manager",
            "F010": "San Antonio",
            "F011": "United States",
            "F012": "Texas",
            "F015": "john.doe@email.com",
            "F019": "Region 1",
            "F020": "Division 1",
            "F021": "Department 1",
            "F023": "(GMT-06.00) Central Time (US & Canada)",
        },
    },
    {
        "id": 517226,
        "registration_type": "LDAP",
        "registered_at": "2013-10-17T12:34:34.61",
        "profile": {
            "F001": "Demo",
            "F003": "User",
            "F004": "Emp002",
            "F006": "English",
            "F011": "US",
            "F012": "NE",
            "F015": "demo.user@email.com",
            "F019": "Region 1",
            "F020": "Division 1",
            "F021": "Department 1",
            "F023": "(GMT-06.00) Central Time (US & Canada)",
        },
    },
]

PROFILE_KEYS = {f"F{n:03d}" for n in (*range(1, 28), 31, 32, 33, 34)} | {
    "F019_ID",
    "F020_ID",
    "F021_ID",
}


def person(employee_id: str, last_name: str, **extra: str) -> dict[str, Any]:
    """A seed user in Region 1 / Division 1 / Department 1."""
    profile = {
        "F001": "Pat",
        "F003": last_name,
        "F004": employee_id,
        "F019": "Region 1",
        "F020": "Division 1",
        "F021": "Department 1",
        **extra,
    }
    return {"profile": profile}


def pairs(**values: str) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in values.items()]


def create_body(**overrides: str) -> dict[str, Any]:
    values = {
        "F001": "John",
        "F003": "Doe",
        "F004": "E100",
        "F019": "Region 1",
        "F020": "Division 1",
        "F021": "Department 1",
        **overrides,
    }
    return {"userProfileData": pairs(**values)}


@pytest.fixture(scope="module")
def ilms_clock() -> RewindableClock:
    return RewindableClock(start=START)


@pytest.fixture(scope="module")
def ilms_sandbox(ilms_clock: ManualClock) -> Iterator[Sandbox]:
    with Sandbox(vendors=["ilms"], clock=ilms_clock, rate_limits=False) as sandbox:
        yield sandbox


@pytest.fixture
def ilms(ilms_sandbox: Sandbox, ilms_clock: RewindableClock) -> Sandbox:
    """iLMS alone on a hand-driven clock, limits off; clock and data
    back to the start before each test."""
    ilms_clock.rewind()
    ilms_sandbox.sim("ilms").reset()
    return ilms_sandbox


def org_client(sandbox: Sandbox, **headers: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"{sandbox.base_url('ilms')}/organizations/1001",
        headers={**HEADERS, **headers},
        timeout=10,
    )


@pytest.fixture
def api(ilms: Sandbox) -> Iterator[httpx.Client]:
    with org_client(ilms) as client:
        yield client


def test_documented_list_users_example_has_the_documented_shape(ilms: Sandbox, api) -> None:
    ilms.sim("ilms").seed({"users": EXAMPLE_USERS})
    response = api.get("/users")
    assert response.status_code == 200
    assert response.headers["X-Total-Count"] == "2"
    assert "next" not in response.headers and "first" not in response.headers  # one page
    users = response.json()
    assert isinstance(users, list)  # a bare array, no envelope
    assert [u["ID"] for u in users] == [517244, 517226]  # F003 ascending: Doe, User
    john = users[0]
    assert set(john) == {"ID", "UserStatus", "Profile"}
    assert set(john["Profile"]) == PROFILE_KEYS
    assert john["UserStatus"] == "Active"
    assert john["Profile"]["F016"] is None  # passwords never read back
    assert john["Profile"]["F005"] is None and john["Profile"]["F002"] == ""
    assert (john["Profile"]["F019"], john["Profile"]["F019_ID"]) == ("Region 1", 13306)
    assert (john["Profile"]["F020_ID"], john["Profile"]["F021_ID"]) == (8463, 15136)
    assert (john["Profile"]["F031"], john["Profile"]["F032"]) == ("API", "2013-10-23T13:30:38.22")
    demo = users[1]["Profile"]
    assert (demo["F011"], demo["F012"], demo["F031"]) == ("US", "NE", "LDAP")  # code stays code
    assert api.get("/users/517226").json() == users[1]
    missing = api.get("/users/999")
    assert missing.status_code == 404 and "Message" in missing.json()


def test_credentials_org_features_and_media_type(ilms: Sandbox, start_sandbox) -> None:
    url = f"{ilms.base_url('ilms')}/organizations/1001/users"
    assert httpx.get(url, headers=HEADERS).status_code == 200
    for broken in (
        {k: v for k, v in HEADERS.items() if k != "TransactionKey"},
        {**HEADERS, "TransactionKey": "guess"},
        {**HEADERS, "APILoginID": "someone-else"},
        {**HEADERS, "OrgID": "99999"},
    ):
        refused = httpx.get(url, headers=broken)
        assert refused.status_code == 401
        assert refused.json() == {"Message": "Authorization has been denied for this request."}
    other_org = httpx.get(f"{ilms.base_url('ilms')}/organizations/99999/users", headers=HEADERS)
    assert other_org.status_code == 401  # the credentials belong to organization 1001
    as_text = httpx.post(url, headers={**HEADERS, "Content-Type": "text/plain"}, content=b"x")
    assert as_text.status_code == 415
    as_xml = httpx.get(url, headers={**HEADERS, "Accept": "application/xml"})
    assert as_xml.status_code == 415

    limited = start_sandbox(vendors=["ilms"], ilms={"disabled_features": ["enrollments"]})
    with org_client(limited) as client:
        forbidden = client.get("/courses/p1gyJg4a/enrollments")
        assert forbidden.status_code == 403
        assert forbidden.json()["Message"] == "This feature is not available to the organization."
        assert client.get("/courses/p1gyJg4a").status_code == 200


def test_documented_create_answers_201_with_location_and_the_id(
    ilms: Sandbox, api, ilms_clock: ManualClock
) -> None:
    response = api.post("/users", json=DOCUMENTED_CREATE)
    assert response.status_code == 201
    new_id = response.json()
    assert isinstance(new_id, int)
    assert response.headers["Location"] == (
        f"{ilms.base_url('ilms')}/organizations/1001/users/{new_id}"
    )
    user = httpx.get(response.headers["Location"], headers=HEADERS).json()
    profile = user["Profile"]
    assert user["ID"] == new_id and user["UserStatus"] == "Active"
    assert profile["F019"] == "Region 1"  # "region 1" resolved to the existing region
    assert (profile["F001"], profile["F003"], profile["F015"]) == (
        "John",
        "Doe",
        "john.burt@email.com",
    )
    assert profile["F031"] == "API"
    assert profile["F032"] == "2026-05-28T20:26:40"  # the sandbox clock, no zone


@pytest.mark.parametrize(
    ("change", "key", "reason"),
    [
        ({"F001": ""}, "F001", "F001 (First Name) is required."),
        ({"F007": "x" * 51}, "F007", "must be at most 50 characters"),
        ({"F001": "Jo<hn"}, "F001", "restricted characters: <"),
        ({"F015": "john+lms@example.com"}, "F015", "restricted characters: +"),
        ({"F004": "E#100"}, "F004", "restricted characters: #"),
        ({"F019": "Region: 1"}, "F019", "restricted characters: :"),
        ({"F019": "Region 9"}, "F019", "F019 (Region) 'Region 9' does not exist."),
        ({"F020": "Demo Division"}, "F020", "does not exist in region 'Region 1'"),
        ({"F021": "Department 2"}, "F021", "does not exist in division 'Division 1'"),
        ({"F023": "Europe/London"}, "F023", "is not a time zone full name"),
        ({"F011": "England"}, "F011", "is not a country name or code"),
        ({"F012": "Bavaria"}, "F012", "is not a US state or Canadian province"),
        ({"F006": "Klingon"}, "F006", "is not a language available to the organization"),
        ({"F005": "next tuesday"}, "F005", "is not a date"),
        ({"F028": "x"}, "F028", "F028 is not a user profile field code."),
        ({"F031": "API"}, "F031", "F031 (Registration Type) is read only."),
    ],
)
def test_invalid_profiles_are_refused_with_the_reason(
    ilms: Sandbox, api, change: dict[str, str], key: str, reason: str
) -> None:
    response = api.post("/users", json=create_body(**change))
    assert response.status_code == 400
    body = response.json()
    assert reason in body["Message"]
    assert any(e["Key"] == key and reason in e["Message"] for e in body["Errors"])
    assert ilms.sim("ilms").dump()["users"] == []  # nothing was created


def test_required_fields_and_every_reason_at_once(ilms: Sandbox, api) -> None:
    response = api.post("/users", json={"userProfileData": pairs(F001="John", F007="y" * 60)})
    assert response.status_code == 400
    keys = {e["Key"] for e in response.json()["Errors"]}
    assert keys == {"F003", "F007", "F019", "F020", "F021"}
    wrapped_wrongly = api.post("/users", json=pairs(F001="John"))  # the update shape
    assert wrapped_wrongly.status_code == 400
    assert "userProfileData" in wrapped_wrongly.json()["Message"]
    not_json = api.post("/users", content=b"{broken")
    assert (not_json.status_code, not_json.json()) == (
        400,
        {"Message": "The request body is not valid JSON."},
    )


def test_lookup_values_accept_names_and_codes_as_the_appendices_list(ilms: Sandbox, api) -> None:
    accepted = [
        {"F011": "United States", "F012": "Texas"},
        {"F011": "us", "F012": "ne"},  # codes, any case: stored as the table spells them
        {"F011": "Canada", "F012": "PQ"},  # Quebec is PQ in the vendor's table
        {"F023": "(GMT-08.00) Tijuana, Baja California)", "F006": "English (UK)"},
        {"F011": "Norfolk Island", "F005": "2024-02-01"},
    ]
    for index, values in enumerate(accepted):
        response = api.post("/users", json=create_body(F004=f"L{index}", **values))
        assert response.status_code == 201, response.text
    profiles = [u["Profile"] for u in api.get("/users").json()]
    by_employee = {p["F004"]: p for p in profiles}
    assert (by_employee["L1"]["F011"], by_employee["L1"]["F012"]) == ("US", "NE")
    assert by_employee["L2"]["F012"] == "PQ"
    assert by_employee["L4"]["F005"] == "2024-02-01T00:00:00"
    ilms.sim("ilms").seed({"languages": ["English"]})  # the organization enables one language
    refused = api.post("/users", json=create_body(F004="L5", F006="French"))
    assert refused.status_code == 400


def test_state_goes_with_the_united_states_or_canada_only(ilms: Sandbox, api) -> None:
    """F012 is the "State (US or Canada)" (L37), F013 the region elsewhere (L38)."""
    abroad = api.post("/users", json=create_body(F004="A1", F011="Germany", F012="Texas"))
    assert abroad.status_code == 400
    assert [e["Key"] for e in abroad.json()["Errors"]] == ["F012"]
    assert "F013" in abroad.json()["Message"]
    elsewhere = create_body(F004="A2", F011="DE", F013="Bavaria")
    assert api.post("/users", json=elsewhere).status_code == 201
    user_id = api.post("/users", json=create_body(F004="A3", F011="US", F012="TX")).json()
    moved = api.put(f"/users/{user_id}", json=pairs(F011="Germany"))  # Texas stays: refused
    assert moved.status_code == 400 and moved.json()["Errors"][0]["Key"] == "F011"
    assert api.put(f"/users/{user_id}", json=pairs(F011="Canada", F012="PQ")).status_code == 204


def test_update_is_partial_and_moves_only_with_the_whole_triple(
    ilms: Sandbox, api, start_sandbox
) -> None:
    user_id = api.post("/users", json=create_body(F007="Manager", F010="Austin")).json()
    assert api.put(f"/users/{user_id}", json=pairs(F001="Johnny")).status_code == 204
    profile = api.get(f"/users/{user_id}").json()["Profile"]
    assert (profile["F001"], profile["F007"], profile["F010"]) == ("Johnny", "Manager", "Austin")

    # Only F019 or F020 "will not able to make any change" (seed L464).
    assert api.put(f"/users/{user_id}", json=pairs(F020="Division 2")).status_code == 204
    assert api.get(f"/users/{user_id}").json()["Profile"]["F020"] == "Division 1"
    moved = api.put(
        f"/users/{user_id}",
        json=pairs(F019="Region 1", F020="Division 2", F021="Department 2"),
    )
    assert moved.status_code == 204
    profile = api.get(f"/users/{user_id}").json()["Profile"]
    assert (profile["F020"], profile["F020_ID"], profile["F021_ID"]) == ("Division 2", 8464, 15137)

    emptied = api.put(f"/users/{user_id}", json=pairs(F003=""))
    assert emptied.status_code == 400 and emptied.json()["Errors"][0]["Key"] == "F003"
    wrapped = api.put(f"/users/{user_id}", json={"userProfileData": pairs(F001="X")})
    assert wrapped.status_code == 400  # update takes a bare array (seed L487)
    assert api.put("/users/424242", json=pairs(F001="X")).status_code == 404

    strict = start_sandbox(vendors=["ilms"], ilms={"partial_hierarchy": "error"})
    with org_client(strict) as client:
        other = client.post("/users", json=create_body()).json()
        refused = client.put(f"/users/{other}", json=pairs(F020="Division 2"))
        assert refused.status_code == 400
        assert "must be passed together" in refused.json()["Message"]


def test_deactivate_and_reactivate_through_activate(ilms: Sandbox, api) -> None:
    user_id = api.post("/users", json=create_body()).json()
    gone = api.delete(f"/users/{user_id}/Activate")
    assert (gone.status_code, gone.content) == (204, b"")
    assert api.get("/users").json() == []  # only active users by default
    inactive = api.get("/users", params={"userstatus": "inactive"}).json()
    assert [(u["ID"], u["UserStatus"]) for u in inactive] == [(user_id, "Inactive")]
    back = api.put(f"/users/{user_id}/Activate", content=b"")  # the curl sends -d ""
    assert back.status_code == 204
    assert api.get(f"/users/{user_id}").json()["UserStatus"] == "Active"
    assert api.delete("/users/424242/Activate").status_code == 404
    assert api.delete(f"/users/{user_id}").status_code == 204
    deleted = api.get("/users", params={"userstatus": "deleted"}).json()
    assert [u["UserStatus"] for u in deleted] == ["Deleted"]
    assert api.put(f"/users/{user_id}/Activate").status_code == 404  # deleted stays deleted


def test_search_exact_contains_prefix_suffix_and_dates(ilms: Sandbox, api) -> None:
    ilms.sim("ilms").seed(
        {
            "users": [
                person("Emp1", "Able", F005="2012-03-01"),
                person("Emp10", "Baker", F005="2013-05-01"),
                {**person("XEmp1", "Cole"), "status": "Inactive"},
            ]
        }
    )

    def found(**params: str) -> list[str]:
        response = api.get("/users", params=params)
        assert response.status_code == 200, response.text
        return [u["Profile"]["F004"] for u in response.json()]

    assert found(F004='"Emp1"') == ["Emp1"]  # exact, as the rec for F004 lookups says
    assert found(F004='"emp1"') == ["Emp1"]
    assert found(F004="Emp1") == ["Emp1", "Emp10"]  # like/contains by default
    assert found(F004="Emp1", userstatus="active,inactive,deleted") == ["Emp1", "Emp10", "XEmp1"]
    assert found(F004="Emp*") == ["Emp1", "Emp10"]
    assert found(F004="*10") == ["Emp10"]
    assert found(F005="(From:2012-01-01T00:00:00To:2012-12-31T23:59:59)") == ["Emp1"]
    assert found(F005="(From:2013-01-01T00:00:00)") == ["Emp10"]
    assert found(sort="-F003") == ["Emp10", "Emp1"]
    assert api.get("/users", params={"userstatus": "gone"}).status_code == 400
    assert api.get("/users", params={"sort": "F099"}).status_code == 400
    assert api.get("/users", params={"F005": "2012"}).status_code == 400


def test_pages_carry_total_count_and_navigation_headers(ilms: Sandbox, api) -> None:
    ilms.sim("ilms").seed({"users": [person(f"P{i}", f"Last{i}") for i in range(5)]})
    middle = api.get("/users", params={"page": 2, "per_page": 2})
    assert middle.headers["X-Total-Count"] == "5"
    assert [u["Profile"]["F004"] for u in middle.json()] == ["P2", "P3"]
    users_url = f"{ilms.base_url('ilms')}/organizations/1001/users"
    assert middle.headers["first"] == f"{users_url}?per_page=2&page=1"
    assert middle.headers["prev"] == f"{users_url}?per_page=2&page=1"
    assert middle.headers["next"] == f"{users_url}?per_page=2&page=3"
    assert middle.headers["last"] == f"{users_url}?per_page=2&page=3"
    first = api.get("/users", params={"per_page": 2, "F004": "P"})
    assert "first" not in first.headers and "prev" not in first.headers
    assert first.headers["next"] == f"{users_url}?F004=P&per_page=2&page=2"
    last = api.get("/users", params={"page": 3, "per_page": 2})
    assert len(last.json()) == 1 and "next" not in last.headers and "last" not in last.headers
    beyond = api.get("/users", params={"page": 9, "per_page": 2})
    assert beyond.json() == [] and beyond.headers["X-Total-Count"] == "5"
    assert api.get("/users", params={"page": 0}).status_code == 400


def test_groups_and_members_as_documented(ilms: Sandbox, api) -> None:
    groups = api.get("/groups", params={"page": 1, "per_page": 2})
    assert groups.headers["X-Total-Count"] == "3"
    assert groups.json()[0] == {
        "ID": 4,
        "Name": "Engineering",
        "Description": "Software engineers.",
        "NumberOfCourses": 0,
        "NumberOfUsers": 0,
    }
    assert [g["Name"] for g in api.get("/groups", params={"sort": "-name"}).json()] == [
        "Sales",
        "Manager",
        "Engineering",
    ]
    user_id = api.post("/users", json=create_body()).json()
    added = api.post("/groups/2/members", json={"userid": str(user_id)})  # the id as text
    assert added.status_code == 201
    assert added.headers["Location"].endswith(f"/organizations/1001/groups/2/members/{user_id}")
    again = api.post("/groups/2/members", json={"userid": user_id})  # as iLMS is reported to
    assert again.status_code == 400
    assert "already a member of this group" in again.text
    members = api.get("/groups/2/members")
    assert members.headers["X-Total-Count"] == "1"
    assert set(members.json()[0]["Profile"]) == PROFILE_KEYS  # full user objects
    assert api.get("/groups/2").json()["NumberOfUsers"] == 1
    assert [u["ID"] for u in api.get("/users", params={"groupids": "2,3"}).json()] == [user_id]
    assert api.get("/users", params={"groupids": "two"}).status_code == 400
    assert api.post("/groups/2/members", json={"userid": "424242"}).status_code == 400
    assert api.post("/groups/2/members", json={}).status_code == 400
    assert api.post("/groups/77/members", json={"userid": user_id}).status_code == 404
    assert api.delete(f"/groups/2/members/{user_id}").status_code == 204
    assert api.delete(f"/groups/2/members/{user_id}").status_code == 404
    assert api.get("/groups/2/members").json() == []


def test_region_division_department_tree(ilms: Sandbox, api) -> None:
    regions = api.get("/regions").json()
    assert {"ID": 13306, "Name": "Region 1", "NumberOfUsers": 0} in regions
    assert [d["Name"] for d in api.get("/regions/13306/divisions").json()] == [
        "Division 1",
        "Division 2",
    ]
    departments = api.get("/regions/13306/divisions/8463/departments").json()
    assert departments == [{"ID": 15136, "Name": "Department 1", "NumberOfUsers": 0}]
    created = api.post("/regions", json={"name": "North"})
    assert created.status_code == 201 and created.headers["Location"].endswith(
        f"/regions/{created.json()}"
    )
    division = api.post(f"/regions/{created.json()}/divisions", json={"name": "Ops"}).json()
    api.post(f"/regions/{created.json()}/divisions/{division}/departments", json={"name": "IT"})
    assert api.post(
        "/users", json=create_body(F019="North", F020="Ops", F021="IT")
    ).status_code == (201)
    assert api.post("/regions", json={"name": "North"}).status_code == 400  # exists
    assert api.post("/regions", json={"name": "A:B"}).status_code == 400  # restricted
    assert api.get("/regions/1/divisions").status_code == 404


def test_hierarchy_names_follow_each_create_sections_own_rules(ilms: Sandbox, api) -> None:
    """Region (L2099) and department (L2649) names carry the "& #" note; a division's
    (L2345) lists Set B alone, so the sandbox takes "&" and "#" there."""
    region = api.post("/regions", json={"name": "R&D"})
    assert region.status_code == 400 and "restricted characters: &" in region.json()["Message"]
    region_id = api.post("/regions", json={"name": "Research"}).json()
    division = api.post(f"/regions/{region_id}/divisions", json={"name": "R&D #2"})
    assert division.status_code == 201, division.text
    refused = api.post(
        f"/regions/{region_id}/divisions/{division.json()}/departments", json={"name": "Lab #1"}
    )
    assert refused.status_code == 400 and "restricted characters: #" in refused.json()["Message"]
    for depth, path in enumerate(("/regions", f"/regions/{region_id}/divisions")):
        colon = api.post(path, json={"name": f"Level{depth}: x"})
        assert colon.status_code == 400  # Set B everywhere


def test_courses_enrollments_and_transcripts(ilms: Sandbox, api, ilms_clock: ManualClock) -> None:
    courses = api.get("/courses")
    assert courses.headers["X-Total-Count"] == "4"  # the historical course is left out
    security = next(c for c in courses.json() if c["ID"] == "p1gyJg4a")
    assert security == {
        "ID": "p1gyJg4a",
        "Name": "Security",
        "Type": "iComposer",
        "DeliveryType": "Web-based",
        "DefaultRequirementType": "Mandatory",
        "Credits": "10",
        "Hours": "4",
        "Status": "Active",
        "DefaultDueDateSettings": {"DefaultDueDate": None, "DaysAfterEnrollment": 4},
    }
    assert len(api.get("/courses", params={"includeHistorical": "true"}).json()) == 5
    assert {c["Type"] for c in api.get("/courses", params={"courseType": "SCORM"}).json()} == {
        "SCORM"
    }
    assert [c["ID"] for c in api.get("/courses", params={"search": "phishing"}).json()] == [
        "x56QjLXI"
    ]
    assert api.get("/courses", params={"courseType": "Video"}).status_code == 400
    assert api.get("/courses/p1gyJg4a").json() == security

    user_id = api.post("/users", json=create_body()).json()
    enrolled = api.post("/courses/p1gyJg4a/enrollments", json={"userid": str(user_id)})
    assert (enrolled.status_code, enrolled.content) == (204, b"")
    twice = api.post("/courses/p1gyJg4a/enrollments", json={"userid": user_id})  # silent: strict
    assert twice.status_code == 400 and "already enrolled in this course" in twice.text
    rows = api.get("/courses/p1gyJg4a/enrollments")
    assert rows.headers["X-Total-Count"] == "1"
    row = rows.json()[0]
    assert set(row["User"]["Profile_Basic"]) == {
        "F001", "F003", "F004", "F015", "F006",
        "F019", "F019_ID", "F020", "F020_ID", "F021", "F021_ID",
    }  # fmt: skip
    assert (row["CourseStatus"], row["Score"], row["SessionID"]) == ("Not Started", None, None)
    assert row["EnrollmentDate"] == "2026-05-28T20:26:40"
    assert row["DueDate"] == "2026-06-01T20:26:40"  # DaysAfterEnrollment 4

    ilms_clock.advance(3600)
    done = ilms.sim("ilms").complete(user_id, "p1gyJg4a", score=85, time_spent=20)
    assert done["Status"] == "Pass"
    row = api.get("/courses/p1gyJg4a/enrollments").json()[0]
    assert (row["CourseStatus"], row["Score"], row["TimeSpent"]) == ("Pass", 85, 20)
    assert row["CompletionDate"] == "2026-05-28T21:26:40"
    transcript = api.get(f"/users/{user_id}/transcripts").json()
    assert len(transcript) == 1
    assert {
        k: transcript[0][k] for k in ("CourseID", "Status", "Score", "SessionID", "Credits")
    } == {"CourseID": "p1gyJg4a", "Status": "Pass", "Score": 85, "SessionID": 0, "Credits": 10.0}
    assert api.get(f"/users/{user_id}/courses/p1gyJg4a/transcripts").json() == transcript

    api.delete(f"/users/{user_id}/Activate")
    assert api.get("/courses/p1gyJg4a/enrollments").json() == []  # active users only
    with_inactive = api.get("/courses/p1gyJg4a/enrollments", params={"includeInactiveUsers": True})
    assert with_inactive.json()[0]["User"]["UserStatus"] == "Inactive"
    unenrolled = api.request("DELETE", "/courses/p1gyJg4a/enrollments", json={"userid": user_id})
    assert unenrolled.status_code == 204
    again = api.request("DELETE", "/courses/p1gyJg4a/enrollments", json={"userid": user_id})
    assert again.status_code == 404
    assert api.post("/courses/hX7tQ2pL/enrollments", json={"userid": user_id}).status_code == 400
    assert api.post("/courses/nope/enrollments", json={"userid": user_id}).status_code == 404


SUMMARY = "/reports/enrollmentssummary"


def test_enrollment_summary_report_counts_a_course_as_documented(ilms: Sandbox, api) -> None:
    sim = ilms.sim("ilms")
    users = [api.post("/users", json=create_body(F004=f"S{n}")).json() for n in range(5)]
    for user, status in zip(users, ("Pass", "Fail", "In Progress", "Waived"), strict=False):
        sim.complete(user, "wqivr6aA", status=status)
    api.post("/courses/wqivr6aA/enrollments", json={"userid": str(users[4])})
    api.delete(f"/users/{users[0]}/Activate")  # an inactive user's enrollment
    report = api.get(SUMMARY, params={"courseid": "wqivr6aA", "includeinactiveusers": "true"})
    assert report.status_code == 200 and "X-Total-Count" not in report.headers
    assert report.json() == [  # the course example's shape (L4936-L4958)
        {
            "CourseName": "Data Security",
            "CourseType": "SCORM",
            "CourseID": "wqivr6aA",
            "ParentCurriculumNameOfCourse": "",
            "ParentCurriculumIDOfCourse": "",
            "SessionID": 0,
            "SessionName": "",
            "Enrolled": 5,
            "NotStarted": 1,
            "InProgress": 1,
            "Passed": 1,
            "Failed": 1,
            "Waived": 1,
        }
    ]
    active_only = api.get(SUMMARY, params={"courseid": "wqivr6aA"}).json()[0]
    assert (active_only["Enrolled"], active_only["Passed"]) == (4, 0)
    assert api.get(SUMMARY).status_code == 400  # courseid is required
    assert api.get(SUMMARY, params={"courseid": "NoSuch01"}).status_code == 404
    assert api.get(SUMMARY, params={"courseid": "wqivr6aA", "sessionid": "x"}).status_code == 400
    bad_flag = {"courseid": "wqivr6aA", "includeinactiveusers": "yes"}
    assert api.get(SUMMARY, params=bad_flag).status_code == 400
    # The document spells its parameters in lower case; the sandbox takes only those.
    assert api.get(SUMMARY, params={"courseID": "wqivr6aA"}).status_code == 400


def test_reports_can_be_a_feature_the_organization_lacks(start_sandbox) -> None:
    limited = start_sandbox(vendors=["ilms"], ilms={"disabled_features": ["reports"]})
    with org_client(limited) as client:
        assert client.get(SUMMARY, params={"courseid": "wqivr6aA"}).status_code == 403
        assert client.get("/courses/wqivr6aA/enrollments").status_code == 200


def test_transcripts_carry_certification_credits_and_hours(
    ilms: Sandbox, api, ilms_clock: ManualClock
) -> None:
    sim = ilms.sim("ilms")
    user = api.post("/users", json=create_body()).json()
    api.post("/courses/wqivr6aA/enrollments", json={"userid": str(user)})
    api.post("/courses/x56QjLXI/enrollments", json={"userid": str(user)})
    fields = ("Status", "CertificationStatus", "CertificationExpirationDate", "Credits", "Hours")

    def transcript(course: str) -> tuple:
        [row] = api.get(f"/users/{user}/courses/{course}/transcripts").json()
        return tuple(row[name] for name in fields)

    assert transcript("wqivr6aA") == ("Not Started", None, None, 0.0, 0.0)
    assert transcript("x56QjLXI") == ("Not Started", "Never Certified", None, 0.0, 0.0)
    sim.complete(user, "wqivr6aA", score=90)
    sim.complete(user, "x56QjLXI", score=95, certified_until=ilms_clock.time() + 86400)
    assert transcript("wqivr6aA") == ("Pass", None, None, 2.0, 1.0)  # the course's, once passed
    expiry = "2026-05-29T20:26:40"
    assert transcript("x56QjLXI") == ("Pass", "Certified", expiry, 0.0, 0.0)
    ilms_clock.advance(2 * 86400)
    assert transcript("x56QjLXI") == ("Pass", "Expired", expiry, 0.0, 0.0)


def test_control_complete_seed_dump_and_reset(ilms: Sandbox, api) -> None:
    control = f"{ilms.url}/_sandbox/ilms"
    seeded = httpx.post(
        f"{control}/seed",
        json={
            "users": [person("S1", "Seeded", F016="secret-password") | {"id": 600001}],
            "enrollments": [{"user_id": 600001, "course_id": "wqivr6aA", "status": "In Progress"}],
        },
    )
    assert seeded.status_code == 200 and seeded.json()["seeded"]["users"] == [600001]
    completed = httpx.post(
        f"{control}/complete",
        json={"user_id": 600001, "course_id": "wqivr6aA", "status": "Fail", "score": 40},
    )
    assert completed.status_code == 200 and completed.json()["Status"] == "Fail"
    row = api.get("/courses/wqivr6aA/enrollments").json()[0]
    assert (row["CourseStatus"], row["Score"]) == ("Fail", 40)
    bad = httpx.post(f"{control}/seed", json={"users": [person("S2", "Bad", F019="Nowhere")]})
    assert bad.status_code == 400 and "Nowhere" in bad.json()["error"]
    users = ilms.sim("ilms").dump()["users"]
    assert [u["id"] for u in users] == [600001]  # a bad seed changes nothing
    assert users[0]["has_password"] is True
    assert httpx.post(f"{control}/complete", json={"user_id": 1}).status_code == 404
    dump = httpx.get(f"{control}/dump").text
    assert "secret-password" not in dump and "sandbox-ilms-key" not in dump
    log = httpx.get(f"{control}/requests").json()["requests"]
    assert [r["endpoint"] for r in log] == [
        "GET /organizations/{org_id}/courses/{course_id}/enrollments"
    ]
    assert "sandbox-ilms-key" not in str(log)
    counters = httpx.get(f"{control}/counters").json()["counters"]
    assert counters["GET /organizations/{org_id}/courses/{course_id}/enrollments"] == {"200": 1}
    assert httpx.post(f"{control}/reset").status_code == 200
    assert ilms.sim("ilms").dump()["users"] == []


def test_seeds_follow_the_document_too(ilms: Sandbox, start_sandbox) -> None:
    """F031 takes only its documented values (L55); on an LDAP organization an e-mail
    may not start with the characters L40 lists, "\\" included as written."""
    control = f"{ilms.url}/_sandbox/ilms"
    unknown_type = person("S3", "Seeded") | {"registration_type": "Import"}
    refused = httpx.post(f"{control}/seed", json={"users": [unknown_type]})
    assert refused.status_code == 400 and "registration_type" in refused.json()["error"]
    assert ilms.sim("ilms").dump()["users"] == []
    ldap = start_sandbox(vendors=["ilms"], ilms={"ldap": True})
    with org_client(ldap) as client:
        for email in ("\\ann@example.com", "$ann@example.com", ".ann@example.com"):
            answer = client.post("/users", json=create_body(F015=email))
            assert answer.status_code == 400, email
            assert "cannot start with" in answer.json()["Message"]
        assert client.post("/users", json=create_body(F015="ann@example.com")).status_code == 201


def test_ilms_is_served_and_describes_its_credentials(ilms: Sandbox) -> None:
    assert "ilms" in available_vendors()
    line = ilms.sim("ilms").describe(ilms.base_url("ilms"))
    assert "APILoginID sandbox-ilms-login" in line and "OrgID 1001" in line


def test_unknown_paths_and_methods(api) -> None:
    missing = api.get("/nothing-here")
    assert missing.status_code == 404
    assert missing.json() == {
        "Message": "Invalid URI: the resource is not available or doesn't exist."
    }
    assert api.patch("/users").status_code == 405


def test_undocumented_limit_answers_429_with_retry_after(start_sandbox) -> None:
    clock = ManualClock(start=1_780_000_000.0)
    sandbox = start_sandbox(
        vendors=["ilms"],
        clock=clock,
        ilms={"per_minute": 5, "credentials": {"login-a": "key-a", "login-b": "key-b"}},
    )
    with (
        org_client(sandbox, APILoginID="login-a", TransactionKey="key-a") as first,
        org_client(sandbox, APILoginID="login-b", TransactionKey="key-b") as second,
    ):
        statuses = []
        for _ in range(6):
            statuses.append(first.get("/groups").status_code)
            clock.advance(1)
        assert statuses == [200] * 5 + [429]
        refused = first.get("/groups")
        assert refused.headers["Retry-After"] == "54"  # the first request leaves at t+60
        assert "requests per 60 s" in refused.json()["Message"]
        assert second.get("/groups").status_code == 200  # each APILoginID has its own budget
        clock.advance(54)
        assert first.get("/groups").status_code == 200
    assert sandbox.sim("ilms").count("GET /organizations/{org_id}/groups", 429) == 2


def test_faults_errors_storms_and_dropped_connections(ilms: Sandbox, api) -> None:
    sim = ilms.sim("ilms")
    sim.set_faults({"error_next": 1, "error_status": 503})
    unavailable = api.get("/groups")
    assert unavailable.status_code == 503
    assert "Service Unavailable" in unavailable.json()["Message"]
    sim.set_faults({"storm_requests": 2, "storm_retry_after": 7})
    storm = [api.get("/groups") for _ in range(3)]
    assert [r.status_code for r in storm] == [429, 429, 200]
    assert storm[0].headers["Retry-After"] == "7"

    sim.set_faults({"drop_next": 1})
    with pytest.raises(httpx.RemoteProtocolError):
        api.post("/users", json=create_body(F004="DROP1"))
    assert api.get("/users", params={"F004": '"DROP1"'}).json() == []  # never applied
    sim.set_faults({"drop_next": 1, "drop_after_processing": True})
    with pytest.raises(httpx.RemoteProtocolError):
        api.post("/users", json=create_body(F004="DROP2"))
    # The answer was lost but the user exists: a client must look it up by F004 first.
    assert len(api.get("/users", params={"F004": '"DROP2"'}).json()) == 1
    statuses = [(r["status"], r["fault"]) for r in sim.requests()]
    assert statuses[0] == (503, "error") and ("dropped", "drop") in statuses

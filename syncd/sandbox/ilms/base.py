"""What every iLMS endpoint module shares: options, error bodies, JSON bodies, paging
headers and the JSON views of users, groups, courses, enrollments and transcripts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal
from urllib.parse import urlencode

from pydantic import Field, field_validator

from syncd.sandbox.http import Reply, SimRequest, SimResponse, json_response
from syncd.sandbox.ilms.facts import FIELDS
from syncd.sandbox.ilms.fields import ProfileRules
from syncd.sandbox.ilms.lookups import LANGUAGES
from syncd.sandbox.ilms.store import Course, Enrollment, Group, ILMSUser, Node, Store, ilms_time
from syncd.sandbox.simulator import Simulator, SimulatorOptions

DEFAULT_ORG_ID = "1001"
DEFAULT_API_LOGIN_ID = "sandbox-ilms-login"
DEFAULT_TRANSACTION_KEY = "sandbox-ilms-key"

ORG = "/organizations/{org_id}"

Feature = Literal["groups", "hierarchy", "courses", "enrollments", "transcripts", "reports"]


class ILMSOptions(SimulatorOptions):
    """iLMS-specific options (see docs/sandbox-ilms-learningpool.md)."""

    org_id: str = Field(DEFAULT_ORG_ID, pattern=r"^\d+$")
    credentials: dict[str, str] = {DEFAULT_API_LOGIN_ID: DEFAULT_TRANSACTION_KEY}
    per_minute: int = Field(60, ge=1, description="the sandbox's assumption: iLMS documents none")
    minute_window: float = Field(60.0, gt=0)
    default_per_page: int = Field(100, ge=1)
    max_per_page: int = Field(100, ge=1)
    link_headers: Literal["separate", "rfc8288", "both"] = "separate"
    ldap: bool = False
    amp_hash_allowed: bool = False
    extra_required: list[str] = []
    partial_hierarchy: Literal["ignore", "error"] = "ignore"
    auto_create_hierarchy: bool = False
    disabled_features: list[Feature] = []

    @field_validator("extra_required")
    @classmethod
    def _codes(cls, value: list[str]) -> list[str]:
        unknown = [c for c in value if c not in FIELDS or FIELDS[c].read_only]
        if unknown:
            raise ValueError(f"not writable user field codes: {', '.join(unknown)}")
        return value


def error(status: int, message: str, errors: list[dict[str, str]] | None = None) -> SimResponse:
    """The sandbox's error body: the document only says the reason is in the response."""
    body: dict[str, Any] = {"Message": message}
    if errors:
        body["Errors"] = errors
    return json_response(status, body)


def bad_request(message: str, errors: list[dict[str, str]] | None = None) -> Reply:
    return Reply(error(400, message, errors))


def not_found(what: str) -> Reply:
    return Reply(error(404, f"{what} is not available or doesn't exist."))


def created(location: str, body: Any = None) -> SimResponse:
    return SimResponse(201, body, {"Location": location})


def no_content() -> SimResponse:
    return SimResponse(204)


def parse_bool(req: SimRequest, name: str) -> bool:
    raw = req.arg(name)
    if raw is None or raw == "":
        return False
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise bad_request(f"{name} must be true or false.")


def user_id_of(body: Any) -> Any:
    """The ``userid`` of ``{"userid": "444038"}`` (keys bound case-insensitively)."""
    if not isinstance(body, dict):
        raise bad_request('The body must be a JSON object such as {"userid": "444038"}.')
    folded = {str(k).casefold(): v for k, v in body.items()}
    if folded.get("userid") in (None, ""):
        raise bad_request("userid is required.")
    return folded["userid"]


class ILMSBase(Simulator):
    """State and helpers; the endpoint mixins and the simulator extend it."""

    options: ILMSOptions
    store: Store

    def now(self) -> float:
        return self.clock.time()

    def rules(self) -> ProfileRules:
        return ProfileRules(
            self.store.languages or LANGUAGES,
            self.options.ldap,
            self.options.amp_hash_allowed,
            tuple(self.options.extra_required),
        )

    # ----- paging -----------------------------------------------------------------------

    def page(self, req: SimRequest, items: Sequence[Any]) -> SimResponse:
        """A bare JSON array of one page, ``X-Total-Count`` and the navigation headers."""
        try:
            page = int(req.arg("page") or 1)
            per_page = int(req.arg("per_page") or self.options.default_per_page)
        except ValueError:
            raise bad_request("page and per_page must be whole numbers.") from None
        if page < 1 or per_page < 1:
            raise bad_request("page and per_page must be 1 or more.")
        per_page = min(per_page, self.options.max_per_page)
        last = max(1, math.ceil(len(items) / per_page))
        headers = {"X-Total-Count": str(len(items))}
        links: dict[str, int] = {}
        if page > 1:
            links["first"], links["prev"] = 1, min(page - 1, last)
        if page < last:
            links["next"], links["last"] = page + 1, last
        kept = [(k, v) for k, v in req.query if k not in ("page", "per_page")]
        urls = {
            rel: f"{req.url}?{urlencode([*kept, ('per_page', per_page), ('page', n)])}"
            for rel, n in links.items()
        }
        if self.options.link_headers in ("separate", "both"):
            headers.update(urls)
        if self.options.link_headers in ("rfc8288", "both") and urls:
            headers["Link"] = ", ".join(f'<{url}>; rel="{rel}"' for rel, url in urls.items())
        chunk = list(items[(page - 1) * per_page : page * per_page])
        return SimResponse(200, chunk, headers)

    # ----- lookups ------------------------------------------------------------------------

    def user_from_path(self, req: SimRequest, *, writable: bool = False) -> ILMSUser:
        """The path's user; deleted users are gone for every write."""
        user = self.store.user_ref(req.path_params["user_id"])
        if user is None or (writable and user.status == "Deleted"):
            raise not_found("The user")
        return user

    def group_from_path(self, req: SimRequest) -> Group:
        raw = req.path_params["group_id"]
        group = self.store.groups.get(int(raw)) if raw.isdigit() else None
        if group is None:
            raise not_found("The group")
        return group

    def course_from_path(self, req: SimRequest) -> Course:
        course = self.store.courses.get(req.path_params["course_id"])
        if course is None:
            raise not_found("The course")
        return course

    # ----- JSON views ---------------------------------------------------------------------

    def field_value(self, user: ILMSUser, code: str) -> Any:
        """A profile value as reads show it (hierarchy names from the tree)."""
        if code in ("F019", "F020", "F021", "F019_ID", "F020_ID", "F021_ID"):
            nodes = self.store.hierarchy_of(user)
            node = nodes[int(code[1:4]) - 19]
            return node.id if code.endswith("_ID") else node.name
        if code == "F016":
            return None
        if code == "F031":
            return user.registration_type
        if code == "F032":
            return ilms_time(user.registered_at)
        if code == "F005":
            return user.profile.get(code)
        return user.profile.get(code) or ""

    def user_view(self, user: ILMSUser) -> dict[str, Any]:
        profile: dict[str, Any] = {}
        for code in FIELDS:
            profile[code] = self.field_value(user, code)
            if code in ("F019", "F020", "F021"):
                profile[f"{code}_ID"] = self.field_value(user, f"{code}_ID")
        return {"ID": user.id, "UserStatus": user.status, "Profile": profile}

    def basic_user_view(self, user: ILMSUser) -> dict[str, Any]:
        codes = ("F001", "F003", "F004", "F015", "F006", "F019", "F019_ID", "F020", "F020_ID")
        basic = {c: self.field_value(user, c) for c in (*codes, "F021", "F021_ID")}
        return {"ID": user.id, "UserStatus": user.status, "Profile_Basic": basic}

    @staticmethod
    def group_view(group: Group) -> dict[str, Any]:
        return {
            "ID": group.id,
            "Name": group.name,
            "Description": group.description,
            "NumberOfCourses": len(group.course_ids),
            "NumberOfUsers": len(group.members),
        }

    def node_view(self, node: Node, depth: int) -> dict[str, Any]:
        attr = ("region_id", "division_id", "department_id")[depth]
        users = sum(
            1
            for u in self.store.users.values()
            if u.status != "Deleted" and getattr(u, attr) == node.id
        )
        return {"ID": node.id, "Name": node.name, "NumberOfUsers": users}

    @staticmethod
    def course_view(course: Course) -> dict[str, Any]:
        return {
            "ID": course.id,
            "Name": course.name,
            "Type": course.type,
            "DeliveryType": course.delivery_type,
            "DefaultRequirementType": course.requirement_type,
            "Credits": course.credits,
            "Hours": course.hours,
            "Status": course.status,
            "DefaultDueDateSettings": {
                "DefaultDueDate": course.default_due_date,
                "DaysAfterEnrollment": course.days_after_enrollment,
            },
        }

    def enrollment_view(self, enrollment: Enrollment) -> dict[str, Any]:
        course = self.store.courses[enrollment.course_id]
        return {
            "User": self.basic_user_view(self.store.users[enrollment.user_id]),
            "CourseName": course.name,
            "CourseID": course.id,
            "SessionName": "",
            "SessionID": None,
            "RequirementType": enrollment.requirement_type,
            "DueDate": ilms_time(enrollment.due_at),
            "StartDate": ilms_time(enrollment.started_at),
            "CompletionDate": ilms_time(enrollment.completed_at),
            "Score": enrollment.score,
            "CourseStatus": enrollment.status,
            "EnrollmentDate": ilms_time(enrollment.enrolled_at),
            "TimeSpent": enrollment.time_spent,
        }

    def transcript_view(self, enrollment: Enrollment) -> dict[str, Any]:
        course = self.store.courses[enrollment.course_id]
        certification: str | None = None
        if course.certification:
            until = enrollment.certified_until
            certification = "Never Certified"
            if until is not None:
                certification = "Expired" if until <= self.now() else "Certified"
        earned = enrollment.status == "Pass"  # credits and hours are the course's, once passed
        return {
            "CourseName": course.name,
            "CourseID": course.id,
            "SessionName": "",
            "SessionID": 0,
            "RequirementType": enrollment.requirement_type,
            "LicenseExpirationDate": ilms_time(enrollment.license_expires_at),
            "EnrollmentDate": ilms_time(enrollment.enrolled_at),
            "DueDate": ilms_time(enrollment.due_at),
            "StartDate": ilms_time(enrollment.started_at),
            "CompletionDate": ilms_time(enrollment.completed_at),
            "Score": enrollment.score or 0,
            "Status": enrollment.status,
            "TimeSpent": enrollment.time_spent,
            "CertificationStatus": certification,
            "CertificationExpirationDate": ilms_time(enrollment.certified_until),
            "Credits": _number(course.credits) if earned else 0.0,
            "Hours": _number(course.hours) if earned else 0.0,
        }


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0

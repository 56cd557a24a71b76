"""The iLMS REST API simulator: three credential headers, the organization in the path,
JSON only (415 otherwise), a per-minute limit the vendor does not document (the
sandbox's assumption), default data, and a control call that completes courses."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, ClassVar

from syncd.sandbox.http import RouteSpec, SimRequest, SimResponse, control, json_response
from syncd.sandbox.ilms.base import (
    DEFAULT_API_LOGIN_ID,
    DEFAULT_ORG_ID,
    DEFAULT_TRANSACTION_KEY,
    ILMSOptions,
    error,
)
from syncd.sandbox.ilms.learning import LearningApi
from syncd.sandbox.ilms.store import COURSE_STATUSES, PASS, SeedError, Store, parse_ilms_time
from syncd.sandbox.ratelimit import Verdict, Window, retry_after_header

_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _region(region_id: int, name: str, *chains: tuple[int, str, int, str]) -> dict[str, Any]:
    """A region with one department per division, as seed data."""
    return {
        "id": region_id,
        "name": name,
        "divisions": [
            {"id": d_id, "name": d_name, "departments": [{"id": x_id, "name": x_name}]}
            for d_id, d_name, x_id, x_name in chains
        ],
    }


# The examples' objects: their ids, names and settings come from the vendor document.
DEFAULT_DATA: dict[str, Any] = {
    "regions": [
        _region(
            13306,
            "Region 1",
            (8463, "Division 1", 15136, "Department 1"),
            (8464, "Division 2", 15137, "Department 2"),
        ),
        _region(8090, "Demo Region", (3196, "Demo Division", 4680, "Demo Department")),
    ],
    "groups": [
        {"id": 2, "name": "Sales", "description": "Group for all sales persons."},
        {"id": 3, "name": "Manager", "description": ""},
        {"id": 4, "name": "Engineering", "description": "Software engineers."},
    ],
    "courses": [
        {
            "id": "p1gyJg4a",
            "name": "Security",
            "type": "iComposer",
            "credits": "10",
            "hours": "4",
            "days_after_enrollment": 4,
            "description": "Information security basics.",
        },
        {
            "id": "x56QjLXI",
            "name": "Security Awareness",
            "type": "SCORM",
            "keywords": "phishing passwords",
            "certification": True,
        },
        {"id": "meOexN1A", "name": "Course 99", "type": "iComposer"},
        {"id": "wqivr6aA", "name": "Data Security", "type": "SCORM", "credits": "2", "hours": "1"},
        {
            "id": "hX7tQ2pL",
            "name": "Code of Conduct 2019",
            "type": "iComposer",
            "historical": True,
        },
    ],
}

_FEATURES = {
    "groups": "groups",
    "regions": "hierarchy",
    "courses": "courses",
    "enrollments": "enrollments",
    "transcripts": "transcripts",
    "reports": "reports",
}


def feature_of(template: str) -> str | None:
    """The organization feature a route belongs to (the most specific segment wins)."""
    segments = template.split("/")
    for segment in reversed(segments):
        if segment in _FEATURES:
            return _FEATURES[segment]
    return None


class ILMSSimulator(LearningApi):
    """iLMS under ``{base_url}/organizations/{orgID}/...``."""

    name: ClassVar[str] = "ilms"
    options_model = ILMSOptions

    # ----- authentication ---------------------------------------------------------------

    def authenticate(self, req: SimRequest, route: RouteSpec) -> str | SimResponse:
        """401 unless orgID, APILoginID and TransactionKey are a valid set (L5130); 403 for
        a feature the organization lacks (L5132); 415 for anything but JSON (L5136)."""
        login = req.header("apiloginid") or ""
        key = req.header("transactionkey") or ""
        org = (req.header("orgid") or "").strip()
        org_in_path = req.path_params.get("org_id", "")
        if (
            not login
            or self.options.credentials.get(login) != key
            or org != self.options.org_id
            or org_in_path != self.options.org_id
        ):
            return error(401, "Authorization has been denied for this request.")
        if feature_of(route.template) in self.options.disabled_features:
            return error(403, "This feature is not available to the organization.")
        media = (req.header("content-type") or "").split(";")[0].strip().lower()
        if req.body.strip() and media != "application/json":
            return error(415, "The iLMS API only supports the application/json media type.")
        accept = (req.header("accept") or "*/*").lower()
        if not any(t in accept for t in ("application/json", "*/*", "application/*")):
            return error(415, "The iLMS API only supports the application/json media type.")
        return login

    # ----- hooks ----------------------------------------------------------------------

    def rate_limit_windows(self) -> list[Window]:
        return [Window("minute", self.options.per_minute, self.options.minute_window)]

    def too_many_requests(self, verdict: Verdict | None, retry_after: int | None) -> SimResponse:
        response = error(
            429,
            f"Too many requests: the sandbox allows {self.options.per_minute} requests per "
            f"{self.options.minute_window:g} s for each APILoginID.",
        )
        wait = verdict.retry_after if verdict is not None else retry_after
        if wait is not None:
            response.headers["Retry-After"] = retry_after_header(wait)
        return response

    def server_error(self, status: int) -> SimResponse:
        if status == 503:
            return error(503, "Service Unavailable: the system may be down for an upgrade.")
        return error(status, "An error has occurred.")

    def bad_body(self, req: SimRequest, problem: str) -> SimResponse:
        return error(400, "The request body is not valid JSON.")

    def refusal(self, status: int, message: str, code: str | None) -> SimResponse:
        return error(status, message)

    def route_not_found(self, req: SimRequest) -> SimResponse:
        return error(404, "Invalid URI: the resource is not available or doesn't exist.")

    def method_not_allowed(self, req: SimRequest) -> SimResponse:
        return error(405, f"The requested resource does not support http method '{req.method}'.")

    # ----- data -------------------------------------------------------------------------

    def new_course_id(self) -> str:
        """Course IDs are short case-sensitive strings (``p1gyJg4a``)."""
        while True:
            candidate = "".join(self.rng.choice(_ID_ALPHABET) for _ in range(8))
            if candidate not in self.store.courses:
                return candidate

    def clear_state(self) -> None:
        self.store = Store()

    def default_data(self) -> dict[str, Any]:
        return DEFAULT_DATA

    def load(self, data: Mapping[str, Any]) -> dict[str, Any]:
        backup = copy.deepcopy(self.store)  # a seed applies whole or not at all
        try:
            return self.store.load(data, self.now(), self.rules(), self.new_course_id)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            self.store = backup
            detail = str(exc) if isinstance(exc, SeedError) else f"bad seed entry: {exc!r}"
            raise SeedError(detail) from None

    def dump_state(self) -> dict[str, Any]:
        return {"org_id": self.options.org_id, **self.store.dump()}

    def describe(self, base_url: str) -> str:
        defaults = {DEFAULT_API_LOGIN_ID: DEFAULT_TRANSACTION_KEY}
        if self.options.credentials == defaults and self.options.org_id == DEFAULT_ORG_ID:
            hint = (
                f"APILoginID {DEFAULT_API_LOGIN_ID}, TransactionKey {DEFAULT_TRANSACTION_KEY}, "
                f"OrgID {DEFAULT_ORG_ID}"
            )
        else:
            hint = f"OrgID {self.options.org_id}, custom credentials"
        return f"{base_url}  ({hint})"

    # ----- control calls --------------------------------------------------------------

    @control("POST", "/complete")
    def control_complete(self, req: SimRequest) -> SimResponse:
        """``{"user_id", "course_id", "status"?, "score"?, "completed_at"?, "started_at"?,
        "time_spent"?, "certified_until"?}``: the learner's result (enrolling first if
        needed); status "Pass" by default, or "Fail", "Waived", "In Progress", "Not Started"."""
        body = req.json()
        if not isinstance(body, dict):
            return json_response(400, {"error": "body must be a JSON object"})
        user = self.store.user_ref(body.get("user_id"))
        course = self.store.courses.get(str(body.get("course_id")))
        if user is None or course is None:
            return json_response(
                404, {"error": "user_id and course_id must name a user and a course"}
            )
        status = str(body.get("status", PASS))
        score = body.get("score")
        if status not in COURSE_STATUSES:
            return json_response(400, {"error": f"status must be one of {COURSE_STATUSES}"})
        if score is not None and (
            not isinstance(score, int) or isinstance(score, bool) or not 0 <= score <= 100
        ):
            return json_response(400, {"error": "score must be a whole number 0-100"})
        spent = body.get("time_spent")
        if spent is not None and (not isinstance(spent, int) or isinstance(spent, bool)):
            return json_response(400, {"error": "time_spent must be a whole number"})
        try:
            completed_at = parse_ilms_time(body.get("completed_at"))
            started_at = parse_ilms_time(body.get("started_at"))
            certified_until = parse_ilms_time(body.get("certified_until"))
        except SeedError as exc:
            return json_response(400, {"error": str(exc)})
        enrollment = self.store.enroll(user, course, self.now())
        self.store.record_result(
            enrollment,
            status,
            self.now(),
            score=score,
            completed_at=completed_at,
            started_at=started_at,
            time_spent=spent,
            certified_until=certified_until,
        )
        return json_response(200, self.transcript_view(enrollment))

    # ----- Python API for tests and the demo --------------------------------------------

    def complete(
        self,
        user_id: int,
        course_id: str,
        *,
        score: int | None = None,
        status: str = PASS,
        completed_at: float | None = None,
        time_spent: int | None = None,
        certified_until: float | None = None,
    ) -> dict[str, Any]:
        """Record a learner's result in a course (enrolling first if needed); passing a
        certification course certifies until ``certified_until`` (a year by default)."""
        with self.lock:
            user, course = self.store.users[user_id], self.store.courses[course_id]
            if status not in COURSE_STATUSES:
                raise ValueError(f"status must be one of {COURSE_STATUSES}")
            enrollment = self.store.enroll(user, course, self.now())
            self.store.record_result(
                enrollment,
                status,
                self.now(),
                score=score,
                completed_at=completed_at,
                time_spent=time_spent,
                certified_until=certified_until,
            )
            return self.transcript_view(enrollment)

"""The TalentLMS API v2 simulator: authentication, limits, error bodies, default data
and the control calls that make learners progress."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from syncd.sandbox.clock import parse_iso
from syncd.sandbox.http import (
    RouteSpec,
    SimRequest,
    SimResponse,
    control,
    json_response,
)
from syncd.sandbox.ratelimit import Verdict, Window, retry_after_header
from syncd.sandbox.talentlms.base import TalentLMSOptions
from syncd.sandbox.talentlms.batch import BatchApi
from syncd.sandbox.talentlms.envelopes import errors
from syncd.sandbox.talentlms.learning import LearningApi
from syncd.sandbox.talentlms.memberships import MembershipsApi
from syncd.sandbox.talentlms.store import SeedError, Store

DEFAULT_API_KEY = "sandbox-talentlms-key"
_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}$")

DEFAULT_DATA: dict[str, Any] = {
    "user_types": [
        {"id": 1, "name": "SuperAdmin"},
        {"id": 2, "name": "Admin-Type"},
        {"id": 3, "name": "Trainer-Type"},
        {"id": 4, "name": "Learner-Type"},
    ],
    "user_fields": [{"key": "custom_field_1", "name": "Employee ID", "type": "text", "order": 1}],
    "branches": [{"id": 1, "name": "marketing", "description": "marketing"}],
    "courses": [
        {"id": 101, "name": "Information Security Basics", "code": "SEC-101"},
        {"id": 102, "name": "Code of Conduct", "code": "COC-102"},
        {"id": 103, "name": "Sales Fundamentals", "code": "SAL-103"},
        {"id": 104, "name": "Leadership Essentials", "code": "LEA-104"},
    ],
    "groups": [
        {"id": 1, "name": "Engineering Team", "description": "Engineering", "key": "eng-team"},
        {"id": 2, "name": "Sales Team", "description": "Sales", "key": "sales-team"},
    ],
    "users": [
        {
            "id": 1,
            "login": "admin",
            "name": "Domain",
            "surname": "Administrator",
            "email": "admin@example.com",
            "user_type_id": 1,
        },
    ],
}


class TalentLMSSimulator(BatchApi, MembershipsApi, LearningApi):
    """TalentLMS API v2 under ``{base_url}/api/v2``."""

    name: ClassVar[str] = "talentlms"
    options_model = TalentLMSOptions

    # ----- hooks ----------------------------------------------------------------------

    def rate_limit_windows(self) -> list[Window]:
        return [
            Window("hour", self.options.hourly_limit, self.options.hourly_window),
            Window("burst", self.options.burst_limit, self.options.burst_window),
        ]

    def authenticate(self, req: SimRequest, route: RouteSpec) -> str | SimResponse:
        key = req.header("x-api-key")
        if not key or key not in self.options.api_keys:
            return errors(401, ("unauthorized", "Invalid API key provided."))
        if not self.options.api_enabled or self.faults.portal_refused(req.path, req.method):
            return errors(
                403,
                (
                    "forbidden",
                    "API is not enabled for the specified domain or "
                    "the domain is currently inactive.",
                ),
            )
        version = req.header("x-api-version")
        if not version:
            return errors(400, ("bad_request", "The X-API-Version header is required"))
        if not _VERSION.match(version.strip()):
            return errors(
                400, ("bad_request", "The X-API-Version header must be a date in YYYY-MM-DD format")
            )
        return key

    def rate_limit_headers(self, verdict: Verdict) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.options.hourly_limit),
            "X-RateLimit-Remaining": str(verdict.remaining.get("hour", 0)),
        }

    def too_many_requests(self, verdict: Verdict | None, retry_after: int | None) -> SimResponse:
        response = errors(
            429, ("too_many_requests", "The API request rate limit has been exceeded.")
        )
        if retry_after is not None:
            response.headers["Retry-After"] = retry_after_header(retry_after)
        return response

    def server_error(self, status: int) -> SimResponse:
        return errors(status, ("internal_server_error", "Internal server error."))

    def bad_body(self, req: SimRequest, problem: str) -> SimResponse:
        return errors(400, ("bad_request", "Request body must be valid JSON"))

    def refusal(self, status: int, message: str, code: str | None) -> SimResponse:
        return errors(status, (code or ("conflict" if status == 409 else "bad_request"), message))

    def route_not_found(self, req: SimRequest) -> SimResponse:
        return errors(404, ("not_found", "The requested resource does not exist"))

    def method_not_allowed(self, req: SimRequest) -> SimResponse:
        return errors(405, ("method_not_allowed", f"Method {req.method} is not allowed"))

    # ----- data -----------------------------------------------------------------------

    def clear_state(self) -> None:
        self.store = Store()

    def default_data(self) -> dict[str, Any]:
        return DEFAULT_DATA

    def load(self, data: Mapping[str, Any]) -> dict[str, Any]:
        backup = copy.deepcopy(self.store)  # a seed applies whole or not at all
        try:
            return self.store.load(data, self.now())
        except (KeyError, TypeError, ValueError) as exc:
            self.store = backup
            detail = str(exc) if isinstance(exc, SeedError) else f"bad seed entry: {exc!r}"
            raise SeedError(detail) from None

    def dump_state(self) -> dict[str, Any]:
        state = self.store.dump()
        state["tasks"] = [self.task_view(job) for job in self.jobs.all()]
        return state

    def describe(self, base_url: str) -> str:
        keys = self.options.api_keys
        hint = f"X-API-Key: {DEFAULT_API_KEY}" if keys == [DEFAULT_API_KEY] else "custom API keys"
        return f"{base_url}  ({hint}; any X-API-Version: YYYY-MM-DD)"

    # ----- control: make learners progress ----------------------------------------------

    def _control_pair(self, req: SimRequest) -> tuple[Any, Any, dict[str, Any]]:
        body = req.json()
        if not isinstance(body, dict):
            return None, None, {}
        user = self.store.users.get(int(body.get("user_id") or 0))
        course = self.store.courses.get(int(body.get("course_id") or 0))
        return user, course, body

    @control("POST", "/complete")
    def control_complete(self, req: SimRequest) -> SimResponse:
        """Mark ``user_id``'s ``course_id`` completed (``score``, ``completed_at``,
        ``certificate``, ``total_time`` optional); writes a course_completion event."""
        user, course, body = self._control_pair(req)
        if user is None or course is None:
            return json_response(
                404, {"error": "user_id and course_id must name a user and course"}
            )
        when = parse_iso(body["completed_at"]) if body.get("completed_at") else self.now()
        score = body.get("score")
        progress = self.store.complete(
            user,
            course,
            when,
            score=float(score) if score is not None else None,
            certificate=body.get("certificate"),
            total_time=body.get("total_time"),
        )
        return json_response(
            200,
            {
                "completion_status": progress.completion_status,
                "completion_percentage": progress.completion_percentage,
            },
        )

    @control("POST", "/progress")
    def control_progress(self, req: SimRequest) -> SimResponse:
        """Set ``user_id``'s progress in ``course_id`` to ``completion_percentage``."""
        user, course, body = self._control_pair(req)
        if user is None or course is None:
            return json_response(
                404, {"error": "user_id and course_id must name a user and course"}
            )
        percentage = body.get("completion_percentage")
        if not isinstance(percentage, int) or not 0 <= percentage <= 100:
            return json_response(400, {"error": "completion_percentage must be 0-100"})
        progress = self.store.set_progress(
            user, course, percentage, self.now(), total_time=body.get("total_time")
        )
        return json_response(
            200,
            {
                "completion_status": progress.completion_status,
                "completion_percentage": progress.completion_percentage,
            },
        )

    # ----- Python API for tests and the demo --------------------------------------------

    def complete(
        self,
        user_id: int,
        course_id: int,
        *,
        score: float | None = None,
        completed_at: float | None = None,
        certificate: Any = None,
    ) -> None:
        """Mark a course completed, as a learner finishing it would."""
        with self.lock:
            user, course = self.store.users[user_id], self.store.courses[course_id]
            self.store.complete(
                user, course, completed_at or self.now(), score=score, certificate=certificate
            )

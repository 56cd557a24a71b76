"""Sandbox Simple API learning: learning experiences (courses), enrolments, and the
completions and in-progress feeds an HR system pulls with ``since`` (inclusive) and pages.

Enrolling someone already enrolled through ``POST /enrolments`` is refused (422): the
vendor documents nothing, so the sandbox is strict, and an adapter must settle it by
reading the user's enrolments. ``PUT`` of the enrolment's own URL stays idempotent, as
HTTP defines PUT."""

from __future__ import annotations

from typing import Any

from syncd.sandbox.clock import parse_iso
from syncd.sandbox.http import SimRequest, SimResponse, json_response, route
from syncd.sandbox.learningpool.base import API, bad_request, invalid, json_object, not_found
from syncd.sandbox.learningpool.groups import GroupsApi
from syncd.sandbox.learningpool.store import COMPLETED, IN_PROGRESS, LPCourse, LPUser
from syncd.sandbox.learningpool.validation import parse_expiry


class LearningApi(GroupsApi):
    @route("GET", f"{API}/courses")
    def list_courses(self, req: SimRequest) -> SimResponse:
        courses = sorted(self.store.courses.values(), key=lambda c: c.id)
        return self.page(req, [self.course_view(c) for c in courses])

    @route("GET", f"{API}/courses/{{course_id}}")
    def get_course(self, req: SimRequest) -> SimResponse:
        return json_response(200, {"data": self.course_view(self.course_from_path(req))})

    # ----- enrolments -------------------------------------------------------------------

    def _enrol(
        self, user: LPUser, course: LPCourse, body: dict[str, Any], *, again: bool = True
    ) -> SimResponse:
        """Enrol (``again``: a repeat is answered 200, else refused 422)."""
        if not again and (user.id, course.id) in self.store.enrolments:
            raise invalid(
                {"course_id": ["The user is already enrolled on this learning experience."]}
            )
        due = body.get("due_at")
        due_at: float | None = None
        if due is not None:
            due_at = parse_expiry(due) if isinstance(due, str) else None
            if due_at is None:
                raise invalid({"due_at": ["The due_at field must be an ISO 8601 date."]})
        enrolment, new = self.store.enrol(user, course, self.now())
        if due_at is not None and due_at != enrolment.due_at:
            enrolment.due_at = due_at
            enrolment.updated_at = self.now()
        return json_response(201 if new else 200, {"data": self.enrolment_view(enrolment)})

    @route("PUT", f"{API}/courses/{{course_id}}/enrolments/{{user_id}}")
    def put_enrolment(self, req: SimRequest) -> SimResponse:
        course = self.course_from_path(req)
        user = self.user_from_path(req)
        return self._enrol(user, course, json_object(req, required=False))

    @route("POST", f"{API}/enrolments")
    def post_enrolment(self, req: SimRequest) -> SimResponse:
        body = json_object(req)
        missing = {
            name: [f"The {name} field is required."]
            for name in ("user_id", "course_id")
            if body.get(name) in (None, "")
        }
        if missing:
            raise invalid(missing)
        user, course = self.store.user(body["user_id"]), self.store.course(body["course_id"])
        if user is None:
            raise not_found("User")
        if course is None:
            raise not_found("Learning experience")
        return self._enrol(user, course, body, again=False)

    @route("GET", f"{API}/users/{{user_id}}/enrolments")
    def user_enrolments(self, req: SimRequest) -> SimResponse:
        user = self.user_from_path(req)
        rows = sorted(
            (e for e in self.store.enrolments.values() if e.user_id == user.id),
            key=lambda e: e.id,
        )
        return self.page(req, [self.enrolment_view(e) for e in rows])

    # ----- completions ------------------------------------------------------------------

    @route("GET", f"{API}/completions")
    def list_completions(self, req: SimRequest) -> SimResponse:
        """Completed enrolments changed at or after ``since``, oldest change first."""
        return self._feed(req, COMPLETED)

    @route("GET", f"{API}/progress")
    def list_in_progress(self, req: SimRequest) -> SimResponse:
        """Enrolments in progress changed at or after ``since``, oldest change first."""
        return self._feed(req, IN_PROGRESS)

    def _feed(self, req: SimRequest, status: str) -> SimResponse:
        since: float | None = None
        raw = req.arg("since")
        if raw:
            try:
                since = parse_iso(raw)
            except ValueError:
                raise bad_request(
                    "since must be an ISO 8601 timestamp such as 2026-01-01T00:00:00Z."
                ) from None
        rows = [
            e
            for e in self.store.enrolments.values()
            if e.status == status and (since is None or e.updated_at >= since)
        ]
        rows.sort(key=lambda e: (e.updated_at, e.id))
        return self.page(req, [self.completion_view(e) for e in rows])

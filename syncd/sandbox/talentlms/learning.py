"""TalentLMS courses, enrollments, course progress and the timeline (the LMS -> HR side)."""

from __future__ import annotations

from typing import Any

from syncd.sandbox.clock import iso_offset, parse_iso
from syncd.sandbox.http import SimRequest, SimResponse, empty_response, route
from syncd.sandbox.talentlms.base import TalentLMSBase
from syncd.sandbox.talentlms.envelopes import (
    bad_request,
    conflict,
    data,
    filters,
    listing,
    require_id,
)
from syncd.sandbox.talentlms.store import ACTIVE, Course, User

COMPLETION = "course_completion"


class LearningApi(TalentLMSBase):
    # ----- courses --------------------------------------------------------------------

    @route("GET", "/api/v2/courses")
    def list_courses(self, req: SimRequest) -> SimResponse:
        courses = sorted(self.store.courses.values(), key=lambda c: c.id)
        echoed: dict[str, dict[str, str]] = {}
        wanted = filters(req).get("custom_field_value")
        if wanted:
            echoed["custom_field_value"] = {"eq": wanted[1]}
            courses = [c for c in courses if wanted[1] in c.custom_fields.values()]
        return listing(
            req,
            [self.course_item(c) for c in courses],
            max_size=self.options.max_page_size,
            default_size=self.options.default_page_size,
            filtered_by=echoed or None,
        )

    @route("GET", "/api/v2/courses/{id}")
    def get_course(self, req: SimRequest) -> SimResponse:
        course_id = require_id(req.path_params["id"], "Course id must be a positive integer")
        course = self.course_by_id(course_id)
        body = self.course_item(course)
        body["custom_fields"] = [{"name": k, "value": v} for k, v in course.custom_fields.items()]
        return data(body)

    # ----- enrollments ----------------------------------------------------------------

    def _pair(self, source: Any) -> tuple[User, Course]:
        """(user, course) from a body or query, with the documented 400s and 404s."""
        if not isinstance(source, dict):
            raise bad_request("Course id must be a positive integer")
        course_id = require_id(source.get("course_id"), "Course id must be a positive integer")
        user_id = require_id(source.get("user_id"), "User id must be a positive integer")
        course = self.course_by_id(course_id)
        return self.user_by_id(user_id), course

    @route("POST", "/api/v2/enrollments")
    def enroll(self, req: SimRequest) -> SimResponse:
        user, course = self._pair(req.json())
        if course.status != ACTIVE:
            raise conflict("conflict", "Course is archived or not available")
        if (user.id, course.id) in self.store.enrollments:
            raise conflict("conflict", "The user is already enrolled in this course")
        enrollment = self.store.enroll(user.id, course.id, self.now())
        return data({"role": enrollment.role})

    @route("DELETE", "/api/v2/enrollments")
    def unenroll(self, req: SimRequest) -> SimResponse:
        user, course = self._pair(req.json())
        if (user.id, course.id) not in self.store.enrollments:
            raise conflict("conflict", "The user is not enrolled in this course")
        del self.store.enrollments[(user.id, course.id)]
        return empty_response(204)

    # ----- progress -------------------------------------------------------------------

    @route("GET", "/api/v2/course-progress")
    def course_progress(self, req: SimRequest) -> SimResponse:
        user, course = self._pair(dict(req.query))
        progress = self.store.progress_of(user.id, course.id)
        enrollment = self.store.enrollments.get((user.id, course.id))
        return data(
            {
                "id": course.id,
                "name": course.name,
                "category": course.category,
                "status": course.status,
                "creation_date": iso_offset(course.created),
                "last_updated_on": iso_offset(course.created),
                "progress": {
                    "total_time": progress.total_time,
                    "score": progress.score,
                    "completion_status": progress.completion_status,
                    "completion_date": (
                        iso_offset(progress.completion_date) if progress.completion_date else None
                    ),
                    "completion_percentage": progress.completion_percentage,
                    "last_viewed_unit_id": progress.last_viewed_unit_id,
                    "certificate": progress.certificate,
                },
                "enrolled": enrollment is not None,
                "role_in_course": enrollment.role if enrollment else None,
            }
        )

    @route("DELETE", "/api/v2/course-progress")
    def reset_course_progress(self, req: SimRequest) -> SimResponse:
        user, course = self._pair(dict(req.query))
        self.store.reset_progress(user, course, self.now())
        return empty_response(204)

    # ----- timeline -------------------------------------------------------------------

    @route("GET", "/api/v2/timeline")
    def timeline(self, req: SimRequest) -> SimResponse:
        given = filters(req)
        events = list(self.store.events)
        echoed: dict[str, dict[str, str]] = {}
        event_type = given.get("event_type")
        if event_type:
            echoed["event_type"] = {"eq": event_type[1]}
            events = [e for e in events if e.event_type == event_type[1]]
        for name, keep in (
            ("created_from", lambda ts, bound: ts >= bound),
            ("created_to", lambda ts, bound: ts <= bound),
        ):
            if name in given:
                try:
                    bound = parse_iso(given[name][1])
                except ValueError:
                    raise bad_request(f"The filter '{name}' must be an ISO-8601 date") from None
                events = [e for e in events if keep(e.created_at, bound)]
        completions_only = bool(event_type) and event_type[1] == COMPLETION
        events.sort(key=lambda e: (e.created_at, e.seq), reverse=True)
        items = []
        for event in events:
            # Filtered completion rows carry "tcc_N" ids, unfiltered rows numeric ones.
            event_id = (
                f"tcc_{event.completion_seq}"
                if completions_only and event.completion_seq
                else str(event.seq)
            )
            items.append(
                {
                    "id": event_id,
                    "user_id": event.user_id,
                    "event_type": event.event_type,
                    "created_at": iso_offset(event.created_at),
                    "occurrences": 1,
                    "extra": event.extra,
                }
            )
        return listing(
            req,
            items,
            max_size=self.options.max_page_size,
            default_size=self.options.default_page_size,
            filtered_by=echoed or None,
        )

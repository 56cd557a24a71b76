"""iLMS courses (seed L3202-L3363), course enrollments (L4059-L4333): list with
``includeInactiveUsers``, enroll (204; 400 when already enrolled, the document being
silent) and un-enroll with a JSON body (204; 404 when not enrolled), and the enrollment
summary report of a course (L4869-L5097)."""

from __future__ import annotations

from syncd.sandbox.http import SimRequest, SimResponse, json_response, route
from syncd.sandbox.ilms.base import ORG, bad_request, no_content, not_found, parse_bool, user_id_of
from syncd.sandbox.ilms.facts import SORTABLE_ENROLLMENT_FIELDS
from syncd.sandbox.ilms.groups import GroupsApi
from syncd.sandbox.ilms.store import (
    ACTIVE,
    COURSE_TYPES,
    DELETED,
    FAIL,
    IN_PROGRESS,
    INACTIVE,
    NOT_STARTED,
    PASS,
    WAIVED,
    Course,
    ILMSUser,
)
from syncd.sandbox.ilms.users import sort_key_for


class LearningApi(GroupsApi):
    # ----- courses ----------------------------------------------------------------------

    @route("GET", f"{ORG}/courses")
    def list_courses(self, req: SimRequest) -> SimResponse:
        courses = list(self.store.courses.values())
        kind = (req.arg("courseType") or "").strip()
        if kind:
            match = next((t for t in COURSE_TYPES if t.lower() == kind.lower()), None)
            if match is None or "," in kind:
                raise bad_request(f"courseType takes one of {', '.join(COURSE_TYPES)}.")
            courses = [c for c in courses if c.type == match]
        if not parse_bool(req, "includeHistorical"):
            courses = [c for c in courses if not c.historical]
        search = (req.arg("search") or "").strip().casefold()
        if search:
            courses = [
                c
                for c in courses
                if any(search in text.casefold() for text in (c.name, c.description, c.keywords))
            ]
        sort = (req.arg("sort") or "name").strip().lower()
        if sort not in ("name", "-name"):
            raise bad_request("sort takes name or -name.")
        courses.sort(key=lambda c: (c.name.casefold(), c.id), reverse=sort == "-name")
        return self.page(req, [self.course_view(c) for c in courses])

    @route("GET", f"{ORG}/courses/{{course_id}}")
    def get_course(self, req: SimRequest) -> SimResponse:
        return json_response(200, self.course_view(self.course_from_path(req)))

    # ----- enrollments ------------------------------------------------------------------

    @route("GET", f"{ORG}/courses/{{course_id}}/enrollments")
    def list_enrollments(self, req: SimRequest) -> SimResponse:
        course = self.course_from_path(req)
        statuses = {ACTIVE, INACTIVE} if parse_bool(req, "includeInactiveUsers") else {ACTIVE}
        rows = [
            e
            for e in self.store.enrollments.values()
            if e.course_id == course.id and self.store.users[e.user_id].status in statuses
        ]
        code, descending = sort_key_for(req, SORTABLE_ENROLLMENT_FIELDS)
        rows.sort(key=lambda e: e.user_id)
        rows.sort(
            key=lambda e: str(self.field_value(self.store.users[e.user_id], code) or "").casefold(),
            reverse=descending,
        )
        return self.page(req, [self.enrollment_view(e) for e in rows])

    def _enrollee(self, req: SimRequest) -> ILMSUser:
        raw = user_id_of(req.json())
        user = self.store.user_ref(raw)
        if user is None or user.status == DELETED:
            raise bad_request(f"userid {raw!r} is not a user of the organization.")
        return user

    @route("POST", f"{ORG}/courses/{{course_id}}/enrollments")
    def enroll(self, req: SimRequest) -> SimResponse:
        course = self.course_from_path(req)
        user = self._enrollee(req)
        if course.status != "Active" or course.historical:
            raise bad_request(f"Course {course.id} is not active; users cannot be enrolled.")
        if (user.id, course.id) in self.store.enrollments:
            # The document is silent (as for group members, where iLMS is reported to answer
            # 400 "already a member"): the sandbox refuses the same way and changes nothing.
            raise bad_request("The user is already enrolled in this course.")
        self.store.enroll(user, course, self.now())
        return no_content()

    @route("DELETE", f"{ORG}/courses/{{course_id}}/enrollments")
    def unenroll(self, req: SimRequest) -> SimResponse:
        course = self.course_from_path(req)
        user = self._enrollee(req)
        if self.store.enrollments.pop((user.id, course.id), None) is None:
            raise not_found("The enrollment")
        return no_content()

    # ----- reports ----------------------------------------------------------------------

    @route("GET", f"{ORG}/reports/enrollmentssummary")
    def enrollments_summary(self, req: SimRequest) -> SimResponse:
        """Counts per status of one course (L4869-L4960): ``courseid`` required,
        ``includeinactiveusers`` as the enrollment list's flag; one row, unpaged."""
        course_id = (req.arg("courseid") or "").strip()
        if not course_id:
            raise bad_request("courseid is required.")
        course = self.store.courses.get(course_id)
        if course is None:
            raise not_found("The course")
        session = req.arg("sessionid")
        if session is not None:
            if not session.strip().isdigit():
                raise bad_request("sessionid must be a whole number.")
            raise not_found("The session")  # the sandbox holds no ILT sessions
        statuses = {ACTIVE, INACTIVE} if parse_bool(req, "includeinactiveusers") else {ACTIVE}
        return json_response(200, [self.summary_row(course, statuses)])

    def summary_row(self, course: Course, user_statuses: set[str]) -> dict[str, object]:
        counted = [
            e.status
            for e in self.store.enrollments.values()
            if e.course_id == course.id and self.store.users[e.user_id].status in user_statuses
        ]
        return {
            "CourseName": course.name,
            "CourseType": course.type,
            "CourseID": course.id,
            "ParentCurriculumNameOfCourse": "",
            "ParentCurriculumIDOfCourse": "",
            "SessionID": 0,
            "SessionName": "",
            "Enrolled": len(counted),
            "NotStarted": counted.count(NOT_STARTED),
            "InProgress": counted.count(IN_PROGRESS),
            "Passed": counted.count(PASS),
            "Failed": counted.count(FAIL),
            "Waived": counted.count(WAIVED),
        }

"""Course and curriculum enrollments (digest §6.7, E2/E3 and E5/E6).

Operations name a course id (``p1gyJg4a``: case-sensitive, taken as given, Q16) or,
for ``learning_paths`` rules, ``learning-path:<curriculum id>``; iLMS curricula play
that part. Enrolling answers 204; un-enrolling is a ``DELETE`` *with a JSON body*
(Q20). Enrolling someone already enrolled, or un-enrolling someone who is not,
counts as success: the document leaves both answers open, and the enrollment is as
the mapping wants it either way.

A 404 on enroll is ambiguous in iLMS (a missing course, or a path the organization
does not serve, Q46), so the reason names both.
"""

from __future__ import annotations

from syncd.limits import Priority
from syncd.model import Membership, MembershipKind, Operation, OpKind, Outcome, OutcomeStatus
from syncd.vendors.ilms.api import COURSE_ENROLLMENTS, COURSES, CURRICULUM_ENROLLMENTS, ILMSApi


def split_target(target: str) -> tuple[str, str, str]:
    """(path template, what it is, id) of an enrollment target."""
    membership = Membership.course(target)
    if membership.kind is MembershipKind.LEARNING_PATH:
        return CURRICULUM_ENROLLMENTS, "curriculum", membership.name.strip()
    return COURSE_ENROLLMENTS, "course", membership.name.strip()


class Enrollments:
    def __init__(self, api: ILMSApi) -> None:
        self._api = api

    def unusable(self, targets: frozenset[str]) -> dict[str, str]:
        """Courses among ``targets`` that iLMS's course listing (C1, read priority) does not
        show, and why; curricula have no listing and are not checked."""
        courses = {t: split_target(t)[2] for t in targets if split_target(t)[1] == "course"}
        if not courses:
            return {}
        listed: set[str] = set()
        for page in self._api.pages(COURSES, priority=Priority.READ):
            listed.update(str(item.get("ID")) for item in page.items if item.get("ID"))
        return {
            target: f"course {course_id!r} is not among iLMS's active courses (ids are "
            "case-sensitive)"
            for target, course_id in sorted(courses.items())
            if course_id not in listed
        }

    def execute(self, op: Operation) -> Outcome:
        template, kind, course_id = split_target(op.target or "")
        removing = op.kind is OpKind.UNENROLL
        if not course_id:
            return Outcome(op, OutcomeStatus.FAILED, error=f"the {kind} id is empty")
        answer = self._api.send(
            "DELETE" if removing else "POST",
            template,
            path_params={"course_id": course_id},
            json_body={"userid": str(op.remote_id)},
            priority=Priority.WRITE,
            idempotent=True,  # enrolling twice leaves one enrollment
        )
        if answer.ok or answer.status == 409 or (removing and answer.status == 404):
            return Outcome(op, OutcomeStatus.DONE, remote_id=op.remote_id)
        if answer.status == 404:
            error = (
                f"{kind} {course_id!r} does not exist in iLMS, or the organization has no "
                f"{kind} enrollments (iLMS: {answer.message.rstrip('.')}); check the id in "
                "the mapping's enrollments (ids are case-sensitive)"
            )
        elif answer.status == 403:
            error = f"iLMS does not make {kind} enrollments available here: {answer.message}"
        else:
            verb = "un-enroll the account from" if removing else "enroll the account in"
            error = f"iLMS refused to {verb} {kind} {course_id!r} (HTTP {answer.status}): " + (
                answer.message
            )
        return Outcome(op, OutcomeStatus.FAILED, error=error)

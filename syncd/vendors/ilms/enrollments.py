"""Course and curriculum enrollments (digest §6.7, E2/E3 and E5/E6).

Operations name a course id (``p1gyJg4a``: case-sensitive, taken as given, Q16) or,
for ``learning_paths`` rules, ``learning-path:<curriculum id>``; iLMS curricula play
that part. Enrolling answers 204; un-enrolling is a ``DELETE`` *with a JSON body*
(Q20). Enrolling someone already enrolled, or un-enrolling someone who is not,
counts as success, but only once the course's (or curriculum's) enrollments are read
and show it: the document leaves both answers open (digest §6.7), so an answer that
is not a success is settled by reading the state, never by its status code. The read
asks for inactive people too (``includeInactiveUsers``, Q7/Q28): a leaver is listed
only so. A write whose answer was lost, or that was sent before (a crash), is looked
up the same way before it is sent again (``settle``).

A 404 on enroll is ambiguous in iLMS (a missing course, or a path the organization
does not serve, Q46), so the reason names both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
        user_id = str(op.remote_id)
        settled = self._api.settle_write(
            op,
            "DELETE" if removing else "POST",
            template,
            path_params={"course_id": course_id},
            json_body={"userid": user_id},
            holds=lambda: self._api.shows(
                template,
                user_id,
                enrolled_user,
                path_params={"course_id": course_id},
                params={"includeInactiveUsers": "true"},
            ),
            wanted=not removing,
        )
        if isinstance(settled, Outcome):
            return settled
        answer = settled.answer
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
            error = (
                f"iLMS refused to {verb} {kind} {course_id!r} (HTTP {answer.status}): "
                f"{answer.message.rstrip('.')}" + settled.confirmed(f"the {kind}'s enrollments")
            )
        return Outcome(op, OutcomeStatus.FAILED, error=error)


def enrolled_user(item: Mapping[str, Any]) -> Any:
    """The user id of an enrollment record (``User.ID``, L4122)."""
    user = item.get("User")
    return user.get("ID") if isinstance(user, Mapping) else item.get("UserID")

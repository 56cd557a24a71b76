"""Course and learning-path enrollments.

Targets are course ids (``101``) or learning paths (``learning-path:7``). Several
course enrollments go through ``/batch/enrollments`` (a task, so PENDING); one
goes through ``POST /enrollments``. Unenrolment and learning paths have no batch
endpoint (digest §7.4), so they go one by one.

"Already enrolled" and "not enrolled" (on removal) have no documented answer
(digest §8.1), so a course write is settled by the account's courses as TalentLMS
reads them (``GET /users/:id?resources=courses``), never by an answer's code: any
refusal is done when the read shows the enrollment as wanted. A write whose answer
was lost is looked up before it is sent again, and so is one sent before (a crash, a
batch whose answer never came): a pair the account already shows is not sent twice.
A person's learning paths cannot be read (none documented, digest §8.6), so for them
TalentLMS's words are all there is: a conflict titled "already …" is taken as done.

A finished batch task says nothing of its pairs, so each person's courses are read
back (``GET /users/:id?resources=courses``, once per person): a pair the account
shows is done; one it does not is a failure if the task completed (with the
course's own state as the likely why), and is sent again if the task failed or
TalentLMS no longer knows it.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from syncd.http import OutcomeUnknown, RecordRejected, VendorClient
from syncd.limits import Priority
from syncd.model import Membership, MembershipKind, Operation, OpKind, Outcome, OutcomeStatus
from syncd.vendors.settle import StateWrite, settle
from syncd.vendors.talentlms.api import (
    BATCH_ENROLLMENTS,
    ENROLLMENTS,
    LEARNING_PATH_ENROLLMENTS,
    Answer,
    conflict_means_done,
    data_of,
    is_not_found,
    send_relation,
)
from syncd.vendors.talentlms.fields import as_int
from syncd.vendors.talentlms.readback import (
    course_ids,
    course_problem,
    holds,
    read_account,
    unfinished,
)
from syncd.vendors.talentlms.tasks import Task, ordered

log = structlog.get_logger(__name__)


def parse_target(target: str | None) -> tuple[str, int | None]:
    """("course" | "learning path", id) of an enrollment target; id None when not a number."""
    membership = Membership.course((target or "").strip())
    number = as_int(membership.name)
    what = "learning path" if membership.kind is MembershipKind.LEARNING_PATH else "course"
    return what, number if number and number > 0 else None


class Enrollments:
    def __init__(self, client: VendorClient) -> None:
        self._client = client

    def unusable(self, targets: frozenset[str]) -> dict[str, str]:
        """Courses among ``targets`` nobody could be enrolled in, and why (for a plan: read at
        read priority, one ``GET /courses/:id`` each). Learning paths are not checked."""
        found: dict[str, str] = {}
        for target in sorted(targets):
            what, number = parse_target(target)
            if number is None:
                found[target] = f"{what} id {target!r} is not a positive number"
            elif what == "course":
                problem = course_problem(self._client, number, Priority.READ)
                if problem:
                    found[target] = f"course {number} in TalentLMS: {problem}"
        return found

    def execute(self, ops: Sequence[Operation]) -> list[Outcome]:
        removing = ops[0].kind is OpKind.UNENROLL
        decided: dict[int, Outcome] = {}
        batchable: list[Operation] = []
        for op in ops:
            what, number = parse_target(op.target)
            if number is None:
                decided[id(op)] = Outcome(
                    op,
                    OutcomeStatus.FAILED,
                    error=f"{what} id {op.target!r} is not a positive number",
                )
            elif what == "course" and not removing:
                batchable.append(op)
            else:
                decided[id(op)] = self._one(op, what, number, removing)
        if len(batchable) > 1:  # a single one is looked up by ``settle`` when sent again
            decided.update(self._found_applied(batchable))
            batchable = [op for op in batchable if id(op) not in decided]
        if len(batchable) > 1:
            for outcome in self._submit(batchable):
                decided[id(outcome.op)] = outcome
        elif batchable:
            op = batchable[0]
            decided[id(op)] = self._one(op, "course", parse_target(op.target)[1] or 0, False)
        return [decided[id(op)] for op in ops]

    def _found_applied(self, ops: Sequence[Operation]) -> dict[int, Outcome]:
        """Course enrollments sent before (a lost answer, a crash) that the accounts already
        show, read once per person before they are sent again."""
        held: dict[str, set[int]] = {}
        found: dict[int, Outcome] = {}
        for op in (op for op in ops if op.attempts > 1):
            person = str(op.remote_id)
            if person not in held:
                try:
                    account = read_account(self._client, person, resources="courses")
                except RecordRejected:
                    account = None  # unreadable: sent, and read back once the task ends
                held[person] = course_ids(account) if account else set()
            if parse_target(op.target)[1] in held[person]:
                log.info("write_found_applied", operation=op.describe(), when="before sending")
                found[id(op)] = Outcome(op, OutcomeStatus.DONE, remote_id=op.remote_id)
        return found

    # --- one at a time -------------------------------------------------------------------------

    def _one(self, op: Operation, what: str, number: int, removing: bool) -> Outcome:
        method = "DELETE" if removing else "POST"
        if what == "course":
            body = {"course_id": number, "user_id": int(str(op.remote_id))}
            settled = settle(
                op,
                StateWrite(
                    send=lambda: send_relation(self._client, method, ENROLLMENTS, body),
                    holds=lambda: holds(self._client, op.remote_id, "courses", number),
                    wanted=not removing,
                    accepted=lambda answer: answer.ok,
                ),
            )
            if isinstance(settled, Outcome):
                return settled
            return self._refused(
                op,
                what,
                number,
                removing,
                settled.answer,
                settled.confirmed("the account's courses", f"course {number}"),
            )
        body = {"user_id": int(str(op.remote_id)), "learning_path_id": number}
        answer = send_relation(
            self._client, method, LEARNING_PATH_ENROLLMENTS, body, readable=False
        )
        if answer.ok or (
            answer.status == 409 and conflict_means_done(answer.message, removing=removing)
        ):
            return Outcome(op, OutcomeStatus.DONE, remote_id=op.remote_id)
        return self._refused(op, what, number, removing, answer, "")

    def _refused(
        self, op: Operation, what: str, number: int, removing: bool, answer: Answer, read: str
    ) -> Outcome:
        code = answer.code
        missing_target = is_not_found(code, "course") or is_not_found(code, "learning_path")
        if answer.status == 404 and (missing_target or is_not_found(code, "user")) and removing:
            return Outcome(op, OutcomeStatus.DONE, remote_id=op.remote_id)  # nothing to remove
        if answer.status == 404 and missing_target:
            reason = f"{what} {number} does not exist in TalentLMS"
        elif answer.status == 404 and is_not_found(code, "user"):
            reason = f"TalentLMS account {op.remote_id} no longer exists"
        else:
            verb = "unenroll from" if removing else "enroll in"
            reason = f"TalentLMS refused to {verb} {what} {number}: {answer.message.rstrip('.')}"
            reason += read
        return Outcome(op, OutcomeStatus.FAILED, error=reason)

    # --- batches -------------------------------------------------------------------------------

    def _submit(self, ops: list[Operation]) -> list[Outcome]:
        order = ordered(ops)
        items = [
            {"course_id": parse_target(op.target)[1], "user_id": int(str(op.remote_id))}
            for op in order
        ]
        try:
            response = self._client.post(  # a lost answer is looked up next cycle, not re-sent
                BATCH_ENROLLMENTS, json={"enrollments": items}, idempotent=False
            )
        except OutcomeUnknown as error:
            return [Outcome(op, OutcomeStatus.UNKNOWN, error=str(error)) for op in ops]
        except RecordRejected as error:
            reason = f"TalentLMS refused the whole batch of {len(ops)} enrollments: {error.message}"
            return [Outcome(op, OutcomeStatus.FAILED, error=reason) for op in ops]
        data = data_of(response, "POST /batch/enrollments")
        task_id = data.get("id") if isinstance(data, dict) else None
        if response.status_code == 409 or not task_id:
            reason = "TalentLMS answered the batch without a task id; it is sent again next cycle"
            return [Outcome(op, OutcomeStatus.UNKNOWN, error=reason) for op in ops]
        log.info(
            "talentlms_task_submitted",
            task_id=str(task_id),
            endpoint="batch/enrollments",
            items=len(items),
        )
        return [Outcome(op, OutcomeStatus.PENDING, job_id=str(task_id)) for op in ops]

    def task_outcomes(self, task: Task, ops: Sequence[Operation]) -> list[Outcome]:
        """Per-pair outcomes of a finished ``/batch/enrollments`` task, read back per person."""
        order = ordered(ops)
        held: dict[str, set[int] | None] = {}
        for op in order:
            person = str(op.remote_id)
            if person not in held:
                account = read_account(self._client, person, resources="courses")
                held[person] = None if account is None else course_ids(account)
        why: dict[int, str] = {}
        decided: dict[int, Outcome] = {}
        for index, op in enumerate(order):
            course = parse_target(op.target)[1] or 0
            courses = held[str(op.remote_id)]
            if courses is not None and course in courses:
                decided[id(op)] = Outcome(op, OutcomeStatus.DONE, remote_id=op.remote_id)
            elif courses is None:
                reason = f"TalentLMS account {op.remote_id} no longer exists"
                decided[id(op)] = Outcome(op, OutcomeStatus.FAILED, error=reason)
            elif not task.completed:
                decided[id(op)] = Outcome(
                    op,
                    OutcomeStatus.RETRY,
                    error=f"{unfinished(task)} before enrolling them in course {course}; "
                    "it is sent again next cycle",
                )
            else:
                if course not in why:
                    why[course] = course_problem(self._client, course)
                cause = f" ({why[course]})" if why[course] else ""
                detail = task.detail(index, user_id=op.remote_id, course_id=course)
                decided[id(op)] = Outcome(
                    op,
                    OutcomeStatus.FAILED,
                    error=f"TalentLMS did not apply it (batch task {task.id}): course {course} "
                    f"is not among the account's courses{cause}{detail}",
                )
        return [decided[id(op)] for op in ops]

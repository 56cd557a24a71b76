"""The HowNow adapter: HR people become HowNow users through asynchronous upserts.

How each operation is carried out (digest §4-§5):

- CREATE and UPDATE: one ``POST /users/upsert`` per person with the full managed
  state (HowNow replaces ``custom_fields`` whole), answered PENDING with HowNow's
  ``job_id``; ``poll_job`` reads ``/jobs/{id}/status`` until the job ends. Where the
  users listing costs fewer calls than the polls, as in a first sync, it confirms
  the upserts it shows applied instead (``confirm_in_bulk``, see ``confirm``).
  The link's remote id is the person's ``external_user_id``: HowNow's upsert key,
  addressed everywhere as ``EXT-<external_user_id>``.
- REACTIVATE (a rehire): ``PUT /users/EXT-…/reactivate`` then an upsert of the full
  state, because deactivation cleared the manager and a deactivated user cannot be
  upserted. A refusal of any status is settled by reading the user: already active
  counts as reactivated; a user HowNow no longer has is created again by the upsert.
- DEACTIVATE and DELETE: synchronous, with ``target.deactivate_assign_to`` as the
  heir of the leaver's content, groups and channels. A refusal of any status is
  settled by reading the user: already deactivated (or gone) counts as done.

Lost answers and crashes (SPEC §9): every HowNow write syncd makes is safe to send again.
The upsert is keyed by ``external_user_id`` ("if user with given external_user_id
exists, it will be updated", digest §4.3), so the client sends it again by itself
and a second one updates the same user; a create left unconfirmed by a crash is
looked up (``match_existing``) before it is sent again. Deactivate, reactivate and
delete are PUT/DELETE calls settled by reading the user, so sending one again is
answered by the state. HowNow documents no group or enrollment write (digest §8).

Future start dates: HowNow refuses a ``start_date`` in the future, and a HowNow
account without it takes the first sign-in date for good. So a person whose
``start_date`` has not yet begun (anywhere on Earth: HowNow's time zone is not
documented) is held back whole: the operation answers RETRY, waits in the outbox
without costing a call, and goes on the first cycle of that day. Upserts naming
a held-back newcomer as manager wait with them (HowNow would refuse the manager).

Order within a plan (``arrange``): managers before their reports, reports moved
before a manager leaves (see ``ordering``). Within one run the adapter also
waits for a manager's upsert to be confirmed (by their job, or by the listing when
many upserts await) before submitting a report that names them, since HowNow does
not document that jobs run in submission order.

Jobs that never end are given up by the engine after ``target.job_timeout``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import structlog

import syncd.vendors.hownow.api as hownow
import syncd.vendors.hownow.ordering as ordering
import syncd.vendors.hownow.users as users
from syncd.config.schema.targets import HowNowTarget
from syncd.http import OutcomeUnknown, RecordRejected
from syncd.limits import Priority
from syncd.model import DesiredUser, LearningResult, Operation, OpKind, Outcome, OutcomeStatus
from syncd.polling import Backoff, BulkRound, WaitEnd, wait_for_jobs
from syncd.shutdown import ShuttingDown
from syncd.vendors.base import (
    Confirmed,
    PullPage,
    RemoteAccount,
)
from syncd.vendors.context import AdapterContext
from syncd.vendors.hownow.accounts import AccountListing
from syncd.vendors.hownow.api import HowNowApi, JobStatus, is_deactivated, open_client, user_ref
from syncd.vendors.hownow.confirm import ListingConfirmer
from syncd.vendors.hownow.facts import FACTS
from syncd.vendors.hownow.scan import AssignmentScan, leaver_results
from syncd.vendors.skeleton import AdapterSkeleton, StatelessValidator

log = structlog.get_logger(__name__)

LOOKUP_LIMIT = 20
"""Up to this many people are looked up one by one; more, and the user listing is cheaper."""

MANAGER_WAIT = 300.0  # seconds a report waits for their manager's upsert job


LISTED = JobStatus(hownow.COMPLETED)
"""What a job is taken to have ended with once the listing shows its upsert applied."""


@dataclass(slots=True)
class _Job:
    external_id: str
    creates: bool  # the upsert of a CREATE: if it fails, the person does not exist
    body: dict[str, Any]  # the upsert sent, to find it applied in the listing
    status: JobStatus | None = None


class HowNowAdapter(AdapterSkeleton):
    """``syncd.vendors.base.Adapter`` for HowNow's External API.

    ``clock`` (the current aware datetime, for start dates), ``sleep`` and
    ``manager_wait`` (how long a report waits for their manager's job) are for tests.
    """

    facts = FACTS
    vendor = "hownow"

    def __init__(
        self,
        target: HowNowTarget,
        context: AdapterContext,
        *,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] | None = None,
        manager_wait: float = MANAGER_WAIT,
    ) -> None:
        self.api = HowNowApi(open_client(target, context))
        super().__init__(target, context, self.api.client, StatelessValidator(users.problems))
        self.listing = AccountListing(self.api, target.deactivate_assign_to)
        self.confirmer = ListingConfirmer(self.api, self.listing)
        self._now: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self._sleep: Callable[[float], object] | None = sleep  # None: until a stop
        self._manager_backoff = Backoff(first_delay=0.2, max_delay=5.0, timeout=float(manager_wait))
        self._jobs: dict[str, _Job] = {}
        self._job_of_user: dict[str, str] = {}  # external id -> its latest upsert job
        # External id -> (who heads the chain that failed, why): creates that failed this run.
        self._not_created: dict[str, tuple[str, str]] = {}
        # External id -> start date: creates and rehires held back this run until that day.
        self._not_yet_active: dict[str, date] = {}

    # --- the protocol ------------------------------------------------------------------------

    def arrange(self, ops: Sequence[Operation]) -> list[Operation]:
        return ordering.arrange(ops)

    def execute(self, ops: Sequence[Operation]) -> list[Outcome]:
        return [self._execute(op) for op in ops]

    def poll_job(self, job_id: str, ops: Sequence[Operation]) -> list[Outcome] | None:
        status = self._job_status(job_id)
        if not status.finished:
            return None
        self._forget_job(job_id)
        outcomes = [self._job_outcome(job_id, status, op) for op in ops]
        for outcome in outcomes:
            self._note_failed_create(outcome)
        return outcomes

    def confirm_in_bulk(self, jobs: Mapping[str, Sequence[Operation]]) -> Confirmed:
        """Upserts the users listing shows applied, when reading it costs fewer calls than
        polling them (see ``confirm``). Jobs already known to have ended are left to
        ``poll_job``, which answers them without a call."""
        bodies: dict[str, dict[str, Any]] = {}
        for job_id, ops in jobs.items():
            known = self._jobs.get(job_id)
            if known is not None and known.status is not None:
                continue
            if len(ops) == 1 and ops[0].kind in ordering.UPSERTING and ops[0].fields:
                bodies[job_id] = users.upsert_body(ops[0].fields)
        found = self.confirmer.confirm(bodies)
        if found is None:
            return Confirmed()
        outcomes = {}
        for job_id in found.applied:
            self._forget_job(job_id)
            outcomes[job_id] = [self._job_outcome(job_id, LISTED, op) for op in jobs[job_id]]
        return Confirmed(outcomes, found.not_yet)

    def match_existing(
        self, users_: Sequence[DesiredUser], match: str | None
    ) -> dict[str, RemoteAccount]:
        """Accounts found by external_user_id, HowNow's upsert key, whatever ``match`` says.

        An account with the same email but another external id cannot be adopted: the
        upsert would still create a second user (HowNow then refuses the email).
        """
        if match not in (None, "external_user_id"):
            log.info("hownow_match_by_external_user_id", configured=match)
        wanted: dict[str, str] = {}
        for user in users_:
            ext = users.external_user_id(user.fields)
            if ext and users.EXTERNAL_ID.fullmatch(ext):
                wanted[ext] = user.hr_key
        if not wanted:
            return {}
        if len(wanted) > LOOKUP_LIMIT:
            first = self.api.list_users(1)
            self.confirmer.saw(first)
            if first.total_pages is not None and first.total_pages < len(wanted):
                return self._match_by_listing(wanted, first)
        return self._match_one_by_one(wanted)

    def pull(self, cursor: Mapping[str, Any] | None) -> Iterator[PullPage]:
        """A slice of the assignment scan within ``pull_budget()`` calls. With HowNow's 50 a
        minute (the default margin keeps all of it) and the default share of 0.5, a cycle
        reads 25 pages; a larger workspace is scanned over several cycles."""
        yield from AssignmentScan(self.api, self.pull_budget()).pages(cursor)

    def results_before_leaving(self, remote_ids: Sequence[str]) -> list[LearningResult]:
        """A leaver's assigned contents, read once more: deactivated, they are listed no more."""
        return [result for key in remote_ids for result in leaver_results(self.api, key)]

    # --- operations --------------------------------------------------------------------------

    def _execute(self, op: Operation) -> Outcome:
        outcome = self._carry_out(op)
        self._note_failed_create(outcome)
        return outcome

    def _note_failed_create(self, outcome: Outcome) -> None:
        """Remember who could not be created, so their reports are not sent in vain."""
        if outcome.op.kind is OpKind.CREATE and outcome.status is OutcomeStatus.FAILED:
            external_id = users.external_user_id(outcome.op.fields)
            manager = users.manager_external_id(outcome.op.fields)
            if manager in self._not_created:
                self._not_created[external_id] = self._not_created[manager]
            elif external_id:
                self._not_created[external_id] = (external_id, outcome.error or "refused")

    def _carry_out(self, op: Operation) -> Outcome:
        try:
            if op.kind in (OpKind.CREATE, OpKind.UPDATE):
                return self._upsert(op)
            if op.kind is OpKind.REACTIVATE:
                return self._reactivate(op)
            if op.kind is OpKind.DEACTIVATE:
                return self._deactivate(op)
            if op.kind is OpKind.DELETE:
                return self._delete(op)
        except RecordRejected as rejected:
            return Outcome(op, OutcomeStatus.FAILED, error=f"HowNow refused it: {rejected}")
        except OutcomeUnknown as unknown:
            return Outcome(op, OutcomeStatus.UNKNOWN, error=str(unknown))
        memberships = op.kind in (OpKind.GROUP_ADD, OpKind.GROUP_REMOVE)
        capability = "groups" if memberships else "enrollments"
        reason = FACTS.missing_reason(self.target, capability)
        return Outcome(op, OutcomeStatus.FAILED, error=f"hownow cannot {op.kind.value} ({reason})")

    def _upsert(self, op: Operation) -> Outcome:
        refused = self._refused(op)
        if refused is not None:
            return refused
        return self._submit(op)

    def _reactivate(self, op: Operation) -> Outcome:
        external_id = op.remote_id or users.external_user_id(op.fields)
        if op.fields:
            refused = self._refused(op)
            if refused is not None:
                return refused
        ref = user_ref(external_id)
        answer = self.api.reactivate(ref)
        exists = answer.status != 404
        if not answer.ok and exists:
            # Q24: the wrong state has no documented answer, whatever its status: read it.
            found = self.api.get_user(ref)
            exists = found is not None
            if found is not None and is_deactivated(found):
                return Outcome(
                    op,
                    OutcomeStatus.FAILED,
                    error=(
                        f"HowNow refused to reactivate {ref} (HTTP {answer.status}: "
                        f"{answer.message}); read back, the user is still deactivated"
                    ),
                )
        if not exists:
            if not op.fields:
                return Outcome(
                    op, OutcomeStatus.FAILED, error=f"HowNow has no user {ref} to reactivate"
                )
            log.warning(
                "hownow_rehire_recreated",
                connector=self.context.connector,
                hr_key=op.hr_key,
                user=ref,
            )
        if not op.fields:
            return Outcome(op, OutcomeStatus.DONE, remote_id=external_id)
        return self._submit(op)

    def _deactivate(self, op: Operation) -> Outcome:
        external_id = op.remote_id or op.hr_key
        ref = user_ref(external_id)
        heir = self.target.deactivate_assign_to
        answer = self.api.deactivate(ref, heir)
        if answer.ok:
            return Outcome(op, OutcomeStatus.DONE, remote_id=external_id)
        # Q24: "already deactivated" has no documented status: any refusal is settled by
        # the user as HowNow reads it, not by its code.
        found = self.api.get_user(ref) if answer.status != 404 else None
        if found is None:
            return Outcome(
                op,
                OutcomeStatus.DONE,
                remote_id=external_id,
                warnings=[f"HowNow has no user {ref}: there was nothing to deactivate"],
            )
        if is_deactivated(found):
            return Outcome(op, OutcomeStatus.DONE, remote_id=external_id)
        error = self._heir_problem("deactivate", ref, answer)
        return Outcome(op, OutcomeStatus.FAILED, error=error)

    def _delete(self, op: Operation) -> Outcome:
        external_id = op.remote_id or op.hr_key
        ref = user_ref(external_id)
        answer = self.api.delete(ref, self.target.deactivate_assign_to)
        if answer.ok or answer.status == 404 or self.api.get_user(ref) is None:
            return Outcome(op, OutcomeStatus.DONE, remote_id=external_id)  # gone, however said
        return Outcome(op, OutcomeStatus.FAILED, error=self._heir_problem("delete", ref, answer))

    def _heir_problem(self, action: str, ref: str, answer: hownow.Answer) -> str:
        return (
            f"HowNow refused to {action} {ref} (HTTP {answer.status}: {answer.message}); "
            f"their content, groups and channels go to {self.target.deactivate_assign_to} "
            "(target.deactivate_assign_to), who must be an active user other than them "
            "and not ReadOnly"
        )

    # --- upserts -----------------------------------------------------------------------------

    def _refused(self, op: Operation) -> Outcome | None:
        """Why this upsert must not be sent now: FAILED for bad data, RETRY for a future start."""
        external_id = users.external_user_id(op.fields)
        if op.remote_id and external_id and external_id != op.remote_id:
            return Outcome(
                op,
                OutcomeStatus.FAILED,
                error=(
                    f"external_user_id: changed from {op.remote_id!r} to {external_id!r}, but "
                    "HowNow keys users by it and cannot change it; sending it would create a "
                    "second account. Keep the old value in the mapping, or deactivate the old "
                    "account in HowNow and unlink it"
                ),
            )
        problems = users.problems(op.fields)
        if problems:
            return Outcome(op, OutcomeStatus.FAILED, error="; ".join(problems))
        day = users.not_before(op.fields, self._now())
        manager = users.manager_external_id(op.fields)
        if day is not None:
            reason = (
                f"start_date {day.isoformat()} is in the future and HowNow refuses future "
                f"start dates: this {op.kind.value} waits in the outbox until that day"
            )
        elif manager is not None and manager in self._not_yet_active:
            # HowNow refuses a manager_id naming someone who does not exist or is inactive.
            day = self._not_yet_active[manager]
            reason = (
                f"manager_id: their manager EXT-{manager} starts on {day.isoformat()} and is "
                f"not in HowNow before: this {op.kind.value} waits in the outbox until then"
            )
        else:
            return None
        if op.kind in ordering.MAKES_ACTIVE and external_id:
            self._not_yet_active[external_id] = day  # their own reports wait for them
        log.info(
            "hownow_start_date_held",
            connector=self.context.connector,
            hr_key=op.hr_key,
            operation=op.kind.value,
            until=day.isoformat(),
        )
        return Outcome(op, OutcomeStatus.RETRY, error=reason, held=True)

    def _submit(self, op: Operation) -> Outcome:
        body = users.upsert_body(op.fields)
        manager = users.manager_external_id(op.fields)
        self._wait_for_manager(op.hr_key, manager)
        if manager is not None and manager in self._not_created:
            # HowNow would only answer "Manager not found", two calls later.
            head, reason = self._not_created[manager]
            cause = reason if head == manager else f"EXT-{head}, above them, was not: {reason}"
            return Outcome(
                op,
                OutcomeStatus.FAILED,
                error=f"manager_id: their manager EXT-{manager} could not be created ({cause})",
            )
        job_id = self.api.upsert_user(body)
        external_id = body["external_user_id"]
        self._jobs[job_id] = _Job(external_id, creates=op.kind is OpKind.CREATE, body=body)
        self._job_of_user[external_id] = job_id
        if op.kind is OpKind.CREATE:
            self.confirmer.created()
        return Outcome(op, OutcomeStatus.PENDING, remote_id=external_id, job_id=job_id)

    def _wait_for_manager(self, hr_key: str, manager: str | None) -> None:
        """Q9: a report's upsert goes only once their manager's upsert job has ended, or the
        listing shows it applied (read when many upserts of this run await, as the
        managers' own before their reports in a first sync)."""
        job_id = self._job_of_user.get(manager) if manager else None
        if job_id is None:
            return
        waited = wait_for_jobs(
            [job_id],
            self._job_finished,
            self._manager_backoff,
            in_bulk=self._own_jobs_in_bulk,
            sleep=self._sleep,
        )
        if waited.end is WaitEnd.STOPPED:
            raise ShuttingDown("stopping: shutdown requested")
        if waited.end is WaitEnd.FINISHED:
            status = self._job_status(job_id)
            job = self._jobs.get(job_id)
            if manager and job and job.creates and status.state == hownow.FAILED:
                detail = status.errors or "HowNow gave no reason"
                self._not_created[manager] = (manager, f"HowNow job {job_id} failed: {detail}")
            return
        log.warning(
            "hownow_manager_job_unfinished",
            connector=self.context.connector,
            hr_key=hr_key,
            job_id=job_id,
            waited_s=round(waited.seconds, 1),
        )

    def _job_finished(self, job_id: str) -> bool:
        return self._job_status(job_id).finished

    def _own_jobs_in_bulk(self, running: list[str]) -> BulkRound[str]:
        """Every upsert of this run still awaited, confirmed by the listing if that is cheaper
        than polling them; those it shows applied count as ended from now on. Nothing is
        read while the jobs awaited are known to have ended (their status costs no call)."""
        if all(self._jobs[job_id].status is not None for job_id in running):
            return BulkRound()
        bodies = {job_id: job.body for job_id, job in self._jobs.items() if job.status is None}
        found = self.confirmer.confirm(bodies)
        if found is None:
            return BulkRound()
        for job_id in found.applied:
            self._jobs[job_id].status = LISTED
        return BulkRound(
            frozenset(found.applied.intersection(running)),
            frozenset(found.not_yet.intersection(running)),
        )

    def _job_status(self, job_id: str) -> JobStatus:
        """The job's status; a finished one is remembered, so it is read from HowNow once."""
        job = self._jobs.get(job_id)
        if job is not None and job.status is not None:
            return job.status
        status = self.api.job_status(job_id)
        if not status.finished and status.state != hownow.IN_PROGRESS:
            log.warning("hownow_unknown_job_status", job_id=job_id, status=status.state[:40])
        if status.finished and job is not None:
            job.status = status
        return status

    # --- jobs -----------------------------------------------------------------------------------

    def _forget_job(self, job_id: str) -> None:
        job = self._jobs.pop(job_id, None)
        if job is not None and self._job_of_user.get(job.external_id) == job_id:
            del self._job_of_user[job.external_id]

    def _job_outcome(self, job_id: str, status: JobStatus, op: Operation) -> Outcome:
        external_id = users.external_user_id(op.fields) or op.remote_id
        detail = status.errors or "HowNow gave no reason"
        if status.state == hownow.UNKNOWN_JOB:
            return Outcome(
                op,
                OutcomeStatus.RETRY,
                error=f"HowNow no longer knows job {job_id}; the {op.kind.value} is sent again",
            )
        if status.state == hownow.FAILED:
            if op.kind is OpKind.REACTIVATE:
                error = (
                    f"reactivated in HowNow, but the upsert restoring their fields failed "
                    f"(job {job_id}): {detail}"
                )
            else:
                error = f"HowNow job {job_id} failed: {detail}"
            return Outcome(op, OutcomeStatus.FAILED, remote_id=external_id, error=error)
        warnings = []
        if status.state == hownow.COMPLETED_WITH_WARNINGS:
            # A partial failure (digest §7): what the upsert did not apply is read back.
            missed = self._not_applied(op, external_id)
            if missed:
                return Outcome(
                    op,
                    OutcomeStatus.FAILED,
                    remote_id=external_id,
                    error=(
                        f"HowNow job {job_id} completed with warnings ({detail}) and did not "
                        f"apply {'; '.join(missed)}: the {op.kind.value} is not taken as done"
                    ),
                )
            warnings.append(f"HowNow job {job_id} completed with warnings: {detail}")
        if op.kind is OpKind.UPDATE:
            warnings += [
                f"{name}: emptied in HR, but HowNow keeps its previous value "
                "(its upsert documents no way to clear it)"
                for name in users.cleared_fields(op.fields, op.changed)
            ]
        return Outcome(op, OutcomeStatus.DONE, remote_id=external_id, warnings=warnings)

    def _not_applied(self, op: Operation, external_id: str | None) -> list[str]:
        """What an upsert that ended with warnings did not apply, from the user read back."""
        if not external_id:
            return []
        user = self.api.get_user(user_ref(external_id), priority=Priority.WRITE)
        if user is None:
            return ["the account itself (HowNow has no such user)"]
        return self.listing.not_applied(op.fields, user)

    # --- matching ----------------------------------------------------------------------------

    def _match_one_by_one(self, wanted: Mapping[str, str]) -> dict[str, RemoteAccount]:
        found: dict[str, RemoteAccount] = {}
        for external_id, hr_key in wanted.items():
            user = self.api.get_user(user_ref(external_id))
            if user is not None:
                found[hr_key] = RemoteAccount(external_id, active=not is_deactivated(user))
        return found

    def _match_by_listing(
        self, wanted: Mapping[str, str], first: hownow.Page
    ) -> dict[str, RemoteAccount]:
        """Active accounts only (HowNow lists no deactivated user): an earlier deactivated one
        makes the create's job fail, and the next cycle looks that person up on their own."""
        found: dict[str, RemoteAccount] = {}
        page, listing = 1, first
        while True:
            for user in listing.items:
                external_id = user.get("external_user_id")
                if isinstance(external_id, str) and external_id in wanted:
                    found[wanted[external_id]] = RemoteAccount(external_id, active=True)
            if listing.is_last(page):
                return found
            page += 1
            listing = self.api.list_users(page)

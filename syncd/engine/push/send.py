"""Push step 4, send: carrying out recorded operations, durable before remote, restartable.

Each batch is marked ``sent`` (and committed) before the vendor is called, and
its outcomes are recorded in one transaction after. A crash in between leaves
``sent`` rows, which the next cycle treats as "answer lost": creates are looked
up by their match key before being sent again, other kinds are idempotent and
simply re-sent. Asynchronous operations wait on their job (``jobs``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import groupby
from typing import Any

import structlog
from sqlalchemy import Connection

from syncd.engine.cycle import log_stopping
from syncd.engine.diff import apply_ops
from syncd.engine.push.forecast import estimate
from syncd.engine.push.jobs import JobPoller
from syncd.engine.push.leavers import keep_leavers_results
from syncd.engine.push.order import batches
from syncd.engine.push.settings import DIRECTION, PushSettings
from syncd.logs import Redactor
from syncd.metrics import OPERATIONS
from syncd.model import (
    DesiredUser,
    LinkState,
    LinkStatus,
    Operation,
    OpKind,
    OpState,
    Outcome,
    OutcomeStatus,
)
from syncd.polling import WaitEnd
from syncd.progress import Progress
from syncd.state import store

log = structlog.get_logger(__name__)

_COUNTED = {
    OpKind.CREATE: "created",
    OpKind.UPDATE: "updated",
    OpKind.DEACTIVATE: "deactivated",
    OpKind.REACTIVATE: "reactivated",
    OpKind.DELETE: "deleted",
}


@dataclass(slots=True)
class Tally:
    """What a cycle did, for sync_runs and the printed summary."""

    counts: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def add(self, name: str, n: int = 1) -> None:
        self.counts[name] += n


class Sender:
    def __init__(self, settings: PushSettings) -> None:
        self.connector = settings.connector
        self.engine = settings.engine
        self.adapter = settings.adapter
        self.policy = settings.policy
        self.match = settings.match
        self.escrow = settings.escrow
        self.stop = settings.stop
        self.jobs = JobPoller(settings, record=self.record_all)
        self.limits = settings.limits
        self.keeps_results = settings.pulls_vendor
        self.tally = Tally()
        self.stopped_early = False  # a shutdown left operations for the next cycle
        self.progress = Progress(self.connector, DIRECTION)  # the cycle gives the one it shows

    # --- the main entry points ---------------------------------------------------------------

    def run(self, ops: Sequence[Operation], *, announced: bool = False) -> None:
        """Send ``ops`` (already recorded) in the order given, one phase segment at a time.

        Consecutive operations of one phase form a segment; its asynchronous jobs
        are awaited before the next segment, because memberships need the ids
        that creates return and an adapter may have interleaved phases on purpose.
        ``announced``: the progress shown already counts them (a plan sent in chunks).
        """
        if ops and not announced:
            at_limits = estimate(ops, self.adapter.capabilities, self.limits).seconds
            self.progress.plan(len(ops), at_limits)
        for _phase, segment in groupby(ops, key=lambda op: op.kind.phase):
            waiting: dict[str, list[Operation]] = defaultdict(list)
            for batch in batches(list(segment), self.adapter.capabilities):
                if self.stop.is_set():
                    self.stopped_early = True
                    log_stopping(DIRECTION, self.connector, "the rest stays in the outbox")
                    return
                ready = self._resolve_remote_ids(batch)
                if ready:
                    for job_id, job_ops in self._send(ready).items():
                        waiting[job_id].extend(job_ops)
            self.await_jobs(waiting)

    def await_jobs(self, waiting: Mapping[str, list[Operation]]) -> None:
        """Wait for these jobs; what a stop or the time limit leaves waits for the next cycle."""
        self._known_remote_ids([op for ops in waiting.values() for op in ops])
        waited = self.jobs.wait(waiting)
        if waited.end is WaitEnd.STOPPED:
            self.stopped_early = True
        elif waited.end is WaitEnd.TIMED_OUT:
            self.tally.add("waiting", sum(len(waiting[job_id]) for job_id in waited.running))

    # --- sending -------------------------------------------------------------------------------

    def _send(self, batch: list[Operation]) -> dict[str, list[Operation]]:
        if self.keeps_results:
            keep_leavers_results(self.engine, self.connector, self.adapter, batch)
        with self.engine.begin() as conn:
            store.mark_operations(conn, [op.id for op in batch], OpState.SENT, count_attempt=True)
        for op in batch:
            op.attempts += 1
        outcomes = self.adapter.execute(batch)
        if len(outcomes) != len(batch):
            raise RuntimeError(
                f"{self.adapter.vendor} adapter answered {len(outcomes)} outcomes "
                f"for {len(batch)} operations"
            )
        with self.engine.begin() as conn:
            return self.record_all(conn, outcomes)

    def record_all(
        self, conn: Connection, outcomes: Sequence[Outcome]
    ) -> dict[str, list[Operation]]:
        """Record a batch's (or ended jobs') outcomes; the jobs they wait on.

        The common outcomes, confirmed and accepted as a job, are recorded together in a
        few statements per batch and per job, not several per person; the rest one by one
        (``record``).
        """
        confirmed: list[tuple[Operation, str | None]] = []
        waiting: dict[str, list[Operation]] = defaultdict(list)
        for outcome in outcomes:
            if outcome.status is OutcomeStatus.DONE and not outcome.warnings:
                confirmed.append((outcome.op, outcome.remote_id))
            elif outcome.status is OutcomeStatus.PENDING and outcome.job_id:
                waiting[outcome.job_id].append(outcome.op)
            else:
                self.record(conn, outcome)
        if confirmed:
            self.progress.advance(len(confirmed))
            self._apply_done_all(conn, confirmed)
        for job_id, ops in waiting.items():
            store.mark_operations(conn, [op.id for op in ops], OpState.WAITING, job_id=job_id)
            store.record_job(conn, self.connector, self.adapter.vendor, job_id, ops[0].kind.value)
        return waiting

    def record(self, conn: Connection, outcome: Outcome) -> None:
        """Record one operation's outcome: its row, its link, its error, its count.

        An operation the vendor did not confirm for a passing reason (RETRY, UNKNOWN) waits
        for a later cycle and leaves this one partial (SPEC §9), named in ``syncd errors``.
        """
        outcome = self._without_write_only(outcome)
        op = outcome.op
        status = outcome.status
        if status is not OutcomeStatus.PENDING:
            self.progress.advance()
        if status is OutcomeStatus.DONE:
            self._apply_done(conn, op, outcome.remote_id)
            for warning in outcome.warnings:
                store.record_error(
                    conn,
                    self.connector,
                    op.hr_key,
                    f"{op.kind.value}_warning",
                    warning,
                    operation_id=op.id,
                    target=op.target,
                )
        elif status is OutcomeStatus.FAILED:
            self._apply_failed(conn, op, outcome.error or "refused by the vendor")
        elif status is OutcomeStatus.PENDING:
            store.mark_operations(conn, [op.id], OpState.WAITING, job_id=outcome.job_id)
            store.record_job(
                conn, self.connector, self.adapter.vendor, outcome.job_id or "", op.kind.value
            )
        elif status is OutcomeStatus.UNKNOWN:
            if self._escrow(conn, op, outcome.error or "no answer", OpState.UNKNOWN):
                self._count(op, "unknown")
                self._unconfirmed(op, outcome.error)
        elif outcome.held:  # RETRY on purpose: waits with no limit, is no failure, costs no send
            store.mark_operations(
                conn, [op.id], OpState.PENDING, error=outcome.error, attempts=op.attempts - 1
            )
            self._count(op, "deferred")
        elif self._escrow(conn, op, outcome.error or "a passing fault", OpState.PENDING):
            # RETRY: a passing fault that outlasted the client's own retries
            self._count(op, "deferred")
            self._unconfirmed(op, outcome.error)
            self._warn("operation_deferred", op, outcome.error)

    def _escrow(self, conn: Connection, op: Operation, reason: str, waits_as: OpState) -> bool:
        """An operation that failed for a passing reason waits ``waits_as`` for a later cycle
        (``Escrow``), its error marked transient; after its last allowed send it fails.
        True while it still waits."""
        again = self.escrow.next_attempt(op.attempts, store.now())
        if again is None:
            given_up = (
                f"{reason} (still failing after {op.attempts} sends; "
                f"`syncd retry {self.connector}` sends it again)"
            )
            self._apply_failed(conn, op, given_up, transient=True)
            return False
        store.mark_operations(conn, [op.id], waits_as, error=reason, next_attempt_at=again)
        self._record_error(conn, op, reason, transient=True)
        return True

    def _record_error(self, conn: Connection, op: Operation, reason: str, transient: bool) -> None:
        """The operation's row in ``syncd errors``, saying whether syncd retries it itself."""
        store.record_error(
            conn,
            self.connector,
            op.hr_key,
            op.kind.value,
            reason,
            operation_id=op.id,
            transient=transient,
            target=op.target,
        )

    def _without_write_only(self, outcome: Outcome) -> Outcome:
        """The outcome with its operation's write-only values (passwords) masked in its texts.

        A vendor may echo the request body in its error; the text then goes to the log,
        ``syncd errors`` and the store, where no password may ever be.
        """
        hidden = [
            str(value)
            for name, value in outcome.op.fields.items()
            if name in self.policy.write_only_fields and value not in (None, "")
        ]
        if not hidden or not (outcome.error or outcome.warnings):
            return outcome
        masking = Redactor(hidden, min_length=1)
        return replace(
            outcome,
            error=masking.redact_text(outcome.error) if outcome.error else outcome.error,
            warnings=[masking.redact_text(text) for text in outcome.warnings],
        )

    def _unconfirmed(self, op: Operation, reason: str | None) -> None:
        """A write whose effect the vendor did not confirm: it stays pending, and is named."""
        self.tally.add("unconfirmed")
        self.tally.failures.append(f"{op.describe()}: {reason or 'not confirmed by the vendor'}")

    def _apply_done(self, conn: Connection, op: Operation, remote_id: str | None) -> None:
        self._apply_done_all(conn, [(op, remote_id)])

    def _apply_done_all(
        self, conn: Connection, confirmed: Sequence[tuple[Operation, str | None]]
    ) -> None:
        """Confirmed operations (with the account id each answered): their links, rows,
        solved errors and counts, in a few statements for all of them."""
        links = store.load_links(conn, self.connector, {op.hr_key for op, _ in confirmed})
        changed: dict[str, LinkState] = {}
        for op, remote_id in confirmed:
            link = links.get(op.hr_key)
            if op.kind is OpKind.CREATE:
                previous = link.source_hash if link else None
                created = replace(op, remote_id=remote_id or op.remote_id)
                link = apply_ops(None, [created], self.policy)
                assert link is not None
                link = replace(link, source_hash=previous)
            elif link is not None:
                link = apply_ops(link, [op], self.policy)
            if link is not None:
                links[op.hr_key] = changed[op.hr_key] = link
            self.tally.add(_COUNTED.get(op.kind, "memberships"))
            OPERATIONS.labels(self.connector, op.kind.value, "done").inc()
        store.save_links(conn, self.connector, changed.values())
        store.confirm_operations(conn, [(op.id, remote_id) for op, remote_id in confirmed])
        store.resolve_operation_errors(conn, self.connector, [op for op, _ in confirmed])

    def _apply_failed(
        self, conn: Connection, op: Operation, reason: str, *, transient: bool = False
    ) -> None:
        store.mark_operations(conn, [op.id], OpState.FAILED, error=reason)
        self._record_error(conn, op, reason, transient)
        if op.kind is OpKind.CREATE:
            link = store.load_links(conn, self.connector, [op.hr_key]).get(op.hr_key)
            if link is not None and link.status is LinkStatus.PENDING:
                store.save_link(conn, self.connector, replace(link, status=LinkStatus.FAILED))
        self._count(op, "failed")
        self.tally.failures.append(f"{op.describe()}: {reason}")
        self._warn("operation_failed", op, reason, target=op.target)

    def _count(self, op: Operation, outcome: str) -> None:
        """Count an operation's outcome in the cycle's tally and in the metrics."""
        self.tally.add(outcome)
        OPERATIONS.labels(self.connector, op.kind.value, outcome).inc()

    def _warn(self, event: str, op: Operation, reason: str | None, **details: Any) -> None:
        """A warning about one operation, naming the connector, the person and the kind."""
        log.warning(
            event,
            connector=self.connector,
            hr_key=op.hr_key,
            operation=op.kind.value,
            **details,
            reason=reason,
        )

    def _known_remote_ids(self, ops: list[Operation]) -> None:
        """Give resumed operations the account ids their links know: a row recorded before
        ids were kept with it would have a job read back for account None."""
        missing = [op for op in ops if op.remote_id is None and op.kind is not OpKind.CREATE]
        if not missing:
            return
        with self.engine.connect() as conn:
            links = store.load_links(conn, self.connector, {op.hr_key for op in missing})
        for op in missing:
            link = links.get(op.hr_key)
            if link is not None and link.remote_id:
                op.remote_id = link.remote_id

    def _resolve_remote_ids(self, batch: list[Operation]) -> list[Operation]:
        """Fill remote ids that creates earlier in the run produced; hold back what cannot go."""
        missing = [op for op in batch if op.remote_id is None and op.kind is not OpKind.CREATE]
        if not missing:
            return batch
        with self.engine.begin() as conn:
            links = store.load_links(conn, self.connector, {op.hr_key for op in missing})
            ready: list[Operation] = []
            for op in batch:
                if op.remote_id is None and op.kind is not OpKind.CREATE:
                    link = links.get(op.hr_key)
                    if link is not None and link.remote_id:
                        # Recorded too: a job that outlives the process is read back later
                        # knowing whose it is.
                        op.remote_id = link.remote_id
                        store.set_operation_remote_id(conn, op.id, link.remote_id)
                    elif link is not None and link.status is LinkStatus.PENDING:
                        continue  # its create is still in flight: stays pending for next cycle
                    else:
                        # Not an error of its own: the create's error says why.
                        store.mark_operations(
                            conn, [op.id], OpState.FAILED, error="the LMS account was not created"
                        )
                        self.tally.add("skipped")
                        self.progress.advance()
                        continue
                ready.append(op)
        return ready

    # --- crash recovery ------------------------------------------------------------------------

    def recover_lost_creates(self, ops: list[Operation]) -> list[Operation]:
        """Creates whose answer was lost: adopt the account if it exists, else send again."""
        if not ops:
            return []
        users = [DesiredUser(hr_key=op.hr_key, fields=op.fields) for op in ops]
        found = self.adapter.match_existing(users, self.match)
        resend: list[Operation] = []
        with self.engine.begin() as conn:
            for op in ops:
                account = found.get(op.hr_key)
                if account is None:
                    store.mark_operations(conn, [op.id], OpState.PENDING)
                    resend.append(op)
                    continue
                log.info(
                    "create_recovered",
                    connector=self.connector,
                    hr_key=op.hr_key,
                    remote_id=account.remote_id,
                )
                self._apply_done(conn, op, account.remote_id)
        return resend

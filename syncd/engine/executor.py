"""Carries out recorded operations: durable before remote, restartable at every step.

Each batch is marked ``sent`` (and committed) before the vendor is called, and
its outcomes are recorded in one transaction after. A crash in between leaves
``sent`` rows, which the next cycle treats as "answer lost": creates are looked
up by their match key before being sent again, other kinds are idempotent and
simply re-sent. Asynchronous operations wait on their job, polled with backoff
until it ends or a time limit says to report it and try again next cycle.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any

import structlog
from sqlalchemy import Connection, Engine

from syncd.config.schema.durations import format_duration
from syncd.engine.diff import DiffPolicy, apply_ops, stored_fields
from syncd.engine.plan import batches
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
from syncd.state import store
from syncd.vendors.base import Adapter

log = structlog.get_logger(__name__)

_COUNTED = {
    OpKind.CREATE: "created",
    OpKind.UPDATE: "updated",
    OpKind.DEACTIVATE: "deactivated",
    OpKind.REACTIVATE: "reactivated",
    OpKind.DELETE: "deleted",
}


@dataclass(slots=True)
class JobPolling:
    """How patiently asynchronous jobs are awaited."""

    first_delay: float = 1.0
    max_delay: float = 30.0
    timeout: float = 1800.0  # waited within one cycle; then reported, polled again next cycle
    # A job still running this long after it was sent (across cycles and restarts) is
    # given up: its operations fail, naming the person, until ``syncd retry``.
    give_up_after: timedelta | None = None


@dataclass(slots=True)
class Tally:
    """What a cycle did, for sync_runs and the printed summary."""

    counts: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def add(self, name: str, n: int = 1) -> None:
        self.counts[name] += n


class Executor:
    def __init__(
        self,
        *,
        connector: str,
        engine: Engine,
        adapter: Adapter,
        policy: DiffPolicy,
        match: str | None,
        polling: JobPolling | None = None,
        stop: threading.Event | None = None,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        self.connector = connector
        self.engine = engine
        self.adapter = adapter
        self.policy = policy
        self.match = match
        self.polling = polling or JobPolling()
        self.stop = stop or threading.Event()
        # Waiting on the stop event: a shutdown ends a poll pause at once.
        self.sleep = sleep or self.stop.wait
        self.tally = Tally()
        self.stopped_early = False  # a shutdown left operations for the next cycle

    # --- the main entry points ---------------------------------------------------------------

    def resume(self, write_only: WriteOnlyLookup | None = None) -> None:
        """Finish what an earlier cycle recorded but did not see through.

        The outbox never holds write-only fields (passwords); ``write_only`` gives
        them back, from the source, for the creates that still have to be sent.
        """
        with self.engine.connect() as conn:
            open_ops = store.open_operations(conn, self.connector)
        if not open_ops:
            return
        log.info("outbox_resume", connector=self.connector, operations=len(open_ops))
        waiting: dict[str, list[Operation]] = defaultdict(list)
        lost_creates: list[Operation] = []
        to_send: list[Operation] = []
        for op, state, job_id in open_ops:
            if state is OpState.WAITING and job_id:
                waiting[job_id].append(op)
            elif state in (OpState.SENT, OpState.UNKNOWN) and op.kind is OpKind.CREATE:
                lost_creates.append(op)
            else:
                to_send.append(op)
        self._await_jobs(waiting)
        to_send += self._recover_lost_creates(lost_creates)
        if write_only is not None and self.policy.write_only_fields:
            to_send = _with_write_only(to_send, write_only)
        to_send.sort(key=lambda op: op.id or 0)  # the recorded plan order
        self.run(to_send)

    def run(self, ops: Sequence[Operation]) -> None:
        """Send ``ops`` (already recorded) in the order given, one phase segment at a time.

        Consecutive operations of one phase form a segment; its asynchronous jobs
        are awaited before the next segment, because memberships need the ids
        that creates return and an adapter may have interleaved phases on purpose.
        """
        for _phase, segment in groupby(ops, key=lambda op: op.kind.phase):
            waiting: dict[str, list[Operation]] = defaultdict(list)
            for batch in batches(list(segment), self.adapter.capabilities):
                if self.stop.is_set():
                    self.stopped_early = True
                    log.info(
                        "push_stopping",
                        connector=self.connector,
                        reason="shutdown requested; the rest stays in the outbox",
                    )
                    return
                ready = self._resolve_remote_ids(batch)
                if ready:
                    for job_id, job_ops in self._send(ready).items():
                        waiting[job_id].extend(job_ops)
            self._await_jobs(waiting)

    # --- sending -------------------------------------------------------------------------------

    def _send(self, batch: list[Operation]) -> dict[str, list[Operation]]:
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
        waiting: dict[str, list[Operation]] = defaultdict(list)
        with self.engine.begin() as conn:
            for outcome in outcomes:
                if outcome.status is OutcomeStatus.PENDING and outcome.job_id:
                    waiting[outcome.job_id].append(outcome.op)
                self._record(conn, outcome)
        return waiting

    def _record(self, conn: Connection, outcome: Outcome) -> None:
        op = outcome.op
        status = outcome.status
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
                )
        elif status is OutcomeStatus.FAILED:
            self._apply_failed(conn, op, outcome.error or "refused by the vendor")
        elif status is OutcomeStatus.PENDING:
            store.mark_operations(conn, [op.id], OpState.WAITING, job_id=outcome.job_id)
            store.record_job(
                conn, self.connector, self.adapter.vendor, outcome.job_id or "", op.kind.value
            )
        elif status is OutcomeStatus.UNKNOWN:
            store.mark_operations(conn, [op.id], OpState.UNKNOWN, error=outcome.error)
            self.tally.add("unknown")
            OPERATIONS.labels(self.connector, op.kind.value, "unknown").inc()
        else:  # RETRY: a passing fault that outlasted the client's own retries
            store.mark_operations(conn, [op.id], OpState.PENDING, error=outcome.error)
            self.tally.add("deferred")
            OPERATIONS.labels(self.connector, op.kind.value, "deferred").inc()
            log.warning(
                "operation_deferred",
                connector=self.connector,
                hr_key=op.hr_key,
                operation=op.kind.value,
                reason=outcome.error,
            )

    def _apply_done(self, conn: Connection, op: Operation, remote_id: str | None) -> None:
        links = store.load_links(conn, self.connector, [op.hr_key])
        link = links.get(op.hr_key)
        if op.kind is OpKind.CREATE:
            op = replace(op, remote_id=remote_id or op.remote_id)
            previous = link.source_hash if link else None
            link = apply_ops(None, [op], self.policy)
            assert link is not None
            link = replace(link, source_hash=previous)
        elif link is not None:
            link = apply_ops(link, [op], self.policy)
        if link is not None:
            store.save_link(conn, self.connector, link)
        store.mark_operations(conn, [op.id], OpState.DONE, remote_id=remote_id)
        store.resolve_errors(conn, self.connector, [op.hr_key], [op.kind.value])
        self.tally.add(_COUNTED.get(op.kind, "memberships"))
        OPERATIONS.labels(self.connector, op.kind.value, "done").inc()

    def _apply_failed(self, conn: Connection, op: Operation, reason: str) -> None:
        store.mark_operations(conn, [op.id], OpState.FAILED, error=reason)
        store.record_error(
            conn, self.connector, op.hr_key, op.kind.value, reason, operation_id=op.id
        )
        if op.kind is OpKind.CREATE:
            link = store.load_links(conn, self.connector, [op.hr_key]).get(op.hr_key)
            if link is not None and link.status is LinkStatus.PENDING:
                store.save_link(conn, self.connector, replace(link, status=LinkStatus.FAILED))
        self.tally.add("failed")
        self.tally.failures.append(f"{op.describe()}: {reason}")
        OPERATIONS.labels(self.connector, op.kind.value, "failed").inc()
        log.warning(
            "operation_failed",
            connector=self.connector,
            hr_key=op.hr_key,
            operation=op.kind.value,
            target=op.target,
            reason=reason,
        )

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
                        op.remote_id = link.remote_id
                    elif link is not None and link.status is LinkStatus.PENDING:
                        continue  # its create is still in flight: stays pending for next cycle
                    else:
                        # Not an error of its own: the create's error says why.
                        store.mark_operations(
                            conn, [op.id], OpState.FAILED, error="the LMS account was not created"
                        )
                        self.tally.add("skipped")
                        continue
                ready.append(op)
        return ready

    # --- jobs ----------------------------------------------------------------------------------

    def _await_jobs(self, waiting: dict[str, list[Operation]]) -> None:
        pending = dict(waiting)
        delay = self.polling.first_delay
        started = time.monotonic()
        sent_at = self._sent_times(pending) if self.polling.give_up_after is not None else {}
        while pending:
            for job_id, ops in list(pending.items()):
                outcomes = self.adapter.poll_job(job_id, ops)
                if outcomes is None:
                    outcomes = self._given_up(job_id, ops, sent_at.get(job_id))
                if outcomes is None:
                    continue
                with self.engine.begin() as conn:
                    for outcome in outcomes:
                        self._record(conn, outcome)
                    # The job has ended: an earlier "has not finished" report no longer holds.
                    people = [o.op.hr_key for o in outcomes]
                    store.resolve_errors(conn, self.connector, people, ["job"])
                    failed = any(o.status is OutcomeStatus.FAILED for o in outcomes)
                    store.finish_job(
                        conn,
                        self.connector,
                        job_id,
                        "failed" if failed else "done",
                        {"outcomes": Counter(o.status.value for o in outcomes)},
                    )
                del pending[job_id]
            if not pending:
                return
            if self.stop.is_set():
                self.stopped_early = True
                log.info(
                    "push_stopping",
                    connector=self.connector,
                    reason="shutdown requested; unfinished jobs are polled again next cycle",
                    jobs=len(pending),
                )
                return
            if time.monotonic() - started > self.polling.timeout:
                self._report_overdue(pending)
                return
            self.sleep(delay)
            delay = min(delay * 2, self.polling.max_delay)

    def _sent_times(self, jobs: Mapping[str, object]) -> dict[str, datetime]:
        with self.engine.connect() as conn:
            return store.jobs_submitted_at(conn, self.connector, list(jobs))

    def _given_up(
        self, job_id: str, ops: list[Operation], sent: datetime | None
    ) -> list[Outcome] | None:
        """Failed outcomes for a job running past ``give_up_after``; None while it may run."""
        limit = self.polling.give_up_after
        running = store.now() - sent if sent is not None else timedelta(0)
        if limit is None or running < limit:
            return None
        vendor = self.adapter.vendor
        log.warning(
            "job_given_up",
            connector=self.connector,
            job_id=job_id,
            operations=len(ops),
            running_s=int(running.total_seconds()),
        )
        return [
            Outcome(
                op,
                OutcomeStatus.FAILED,
                error=(
                    f"{vendor} job {job_id} ({op.describe()}) had not ended "
                    f"{_span(running)} after it was sent (target.job_timeout: "
                    f"{format_duration(limit)}); syncd stopped polling it and cannot tell what "
                    f"{vendor} applied. Check the person in {vendor}, then "
                    f"`syncd retry {self.connector}` sends it again"
                ),
            )
            for op in ops
        ]

    def _report_overdue(self, pending: dict[str, list[Operation]]) -> None:
        with self.engine.begin() as conn:
            for job_id, ops in pending.items():
                reason = (
                    f"{self.adapter.vendor} job {job_id} has not finished after "
                    f"{self.polling.timeout:g}s; it stays in the outbox and is polled "
                    "again next cycle"
                )
                for op in ops:
                    store.record_error(
                        conn, self.connector, op.hr_key, "job", reason, operation_id=op.id
                    )
                log.warning(
                    "job_overdue",
                    connector=self.connector,
                    job_id=job_id,
                    operations=len(ops),
                    timeout_s=self.polling.timeout,
                )
        self.tally.add("waiting", sum(len(ops) for ops in pending.values()))

    # --- crash recovery ------------------------------------------------------------------------

    def _recover_lost_creates(self, ops: list[Operation]) -> list[Operation]:
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


def _span(value: timedelta) -> str:
    """A duration for people: ``2h 5m``, ``31m``, ``45s``."""
    seconds = max(0, int(value.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{hours}h"] if hours else []
    if minutes:
        parts.append(f"{minutes}m")
    if seconds and not hours:
        parts.append(f"{seconds}s")
    return " ".join(parts) or "0s"


WriteOnlyLookup = Callable[[set[str]], dict[str, dict[str, Any]]]
"""HR keys -> the write-only fields their current source records render to."""


def _with_write_only(ops: list[Operation], lookup: WriteOnlyLookup) -> list[Operation]:
    creates = {op.hr_key for op in ops if op.kind is OpKind.CREATE}
    if not creates:
        return ops
    found = lookup(creates)
    return [
        replace(op, fields={**op.fields, **found[op.hr_key]})
        if op.kind is OpKind.CREATE and found.get(op.hr_key)
        else op
        for op in ops
    ]


def link_for_create(desired: DesiredUser, policy: DiffPolicy) -> LinkState:
    """The PENDING link recorded with a create, remembering the planned HR record's hash."""
    return LinkState(
        hr_key=desired.hr_key,
        remote_id=None,
        fields=stored_fields({}, policy),
        active=False,
        status=LinkStatus.PENDING,
        source_hash=desired.source_hash,
    )

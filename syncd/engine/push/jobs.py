"""Push step 5, jobs: waiting for the vendor's asynchronous jobs to end (TalentLMS tasks,
HowNow upserts), through the one polling loop of ``syncd.polling``. Each round, the
adapter may first confirm many jobs with one read in bulk (``confirm_in_bulk``).

A job that ends has its operations' outcomes recorded. One still running when
the wait's time limit passes is reported and polled again next cycle; one still
running ``give_up_after`` it was sent (across cycles and restarts) is given up:
what it carried is in doubt, so its operations are looked up and sent again by later
cycles (``Escrow``), naming the person, and fail for ``syncd retry`` after the last.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

import structlog
from sqlalchemy import Connection

from syncd.config.schema.durations import format_duration
from syncd.engine.cycle import log_stopping
from syncd.engine.push.settings import DIRECTION, PushSettings
from syncd.model import Operation, Outcome, OutcomeStatus
from syncd.polling import BulkRound, Waited, WaitEnd, wait_for_jobs
from syncd.progress import span
from syncd.state import store

log = structlog.get_logger(__name__)


RecordOutcomes = Callable[[Connection, Sequence[Outcome]], object]
"""Records operations' outcomes in the store (the send step's bookkeeping)."""


class JobPoller:
    def __init__(self, settings: PushSettings, record: RecordOutcomes) -> None:
        self.s = settings
        self.record = record

    def wait(self, waiting: Mapping[str, list[Operation]]) -> Waited[str]:
        """Poll the jobs until each has ended, the time limit passes or a stop is asked for."""
        if not waiting:
            return Waited(WaitEnd.FINISHED, [], 0.0)
        sent_at = self._sent_times(waiting) if self.s.polling.give_up_after is not None else {}

        def ended(job_id: str) -> bool:
            ops = waiting[job_id]
            outcomes = self.s.adapter.poll_job(job_id, ops)
            if outcomes is None:
                outcomes = self._given_up(job_id, ops, sent_at.get(job_id))
            if outcomes is None:
                return False
            self._finish({job_id: outcomes})
            return True

        def in_bulk(running: list[str]) -> BulkRound[str]:
            found = self.s.adapter.confirm_in_bulk({job_id: waiting[job_id] for job_id in running})
            if found.outcomes:
                self._finish(found.outcomes)
            return BulkRound(frozenset(found.outcomes), found.looked_at)

        waited = wait_for_jobs(waiting, ended, self.s.polling, in_bulk=in_bulk, stop=self.s.stop)
        if waited.end is WaitEnd.STOPPED:
            leaves = "unfinished jobs are polled again next cycle"
            log_stopping(DIRECTION, self.s.connector, leaves, jobs=len(waited.running))
        elif waited.running:
            self._report_overdue({job_id: waiting[job_id] for job_id in waited.running})
        return waited

    def _finish(self, ended: Mapping[str, list[Outcome]]) -> None:
        """Record the outcomes of jobs that ended, in one transaction."""
        with self.s.engine.begin() as conn:
            for job_id, outcomes in ended.items():
                self.record(conn, outcomes)
                # The job has ended: an earlier "has not finished" report no longer holds.
                people = [o.op.hr_key for o in outcomes]
                store.resolve_errors(conn, self.s.connector, people, ["job"])
                statuses = {o.status for o in outcomes}
                state = (
                    "failed"
                    if OutcomeStatus.FAILED in statuses
                    else "expired"
                    if OutcomeStatus.UNKNOWN in statuses
                    else "done"
                )
                store.finish_job(
                    conn,
                    self.s.connector,
                    job_id,
                    state,
                    {"outcomes": Counter(o.status.value for o in outcomes)},
                )

    def _sent_times(self, jobs: Mapping[str, object]) -> dict[str, datetime]:
        with self.s.engine.connect() as conn:
            return store.jobs_submitted_at(conn, self.s.connector, list(jobs))

    def _given_up(
        self, job_id: str, ops: list[Operation], sent: datetime | None
    ) -> list[Outcome] | None:
        """Outcomes in doubt for a job running past ``give_up_after``; None while it may run."""
        limit = self.s.polling.give_up_after
        running = store.now() - sent if sent is not None else timedelta(0)
        if limit is None or running < limit:
            return None
        vendor = self.s.adapter.vendor
        log.warning(
            "job_given_up",
            connector=self.s.connector,
            job_id=job_id,
            operations=len(ops),
            running_s=int(running.total_seconds()),
        )
        return [
            Outcome(
                op,
                OutcomeStatus.UNKNOWN,
                error=(
                    f"{vendor} job {job_id} ({op.describe()}) had not ended "
                    f"{span(running.total_seconds())} after it was sent (target.job_timeout: "
                    f"{format_duration(limit)}); syncd stopped polling it and cannot tell what "
                    f"{vendor} applied: it is looked up and sent again by a later cycle"
                ),
            )
            for op in ops
        ]

    def _report_overdue(self, pending: dict[str, list[Operation]]) -> None:
        with self.s.engine.begin() as conn:
            for job_id, ops in pending.items():
                reason = (
                    f"{self.s.adapter.vendor} job {job_id} has not finished after "
                    f"{self.s.polling.timeout:g}s; it stays in the outbox and is polled "
                    "again next cycle"
                )
                for op in ops:
                    store.record_error(
                        conn,
                        self.s.connector,
                        op.hr_key,
                        "job",
                        reason,
                        operation_id=op.id,
                        transient=True,
                        target=op.target,
                    )
                log.warning(
                    "job_overdue",
                    connector=self.s.connector,
                    job_id=job_id,
                    operations=len(ops),
                    timeout_s=self.s.polling.timeout,
                )

"""One push cycle of one connector (SPEC §4), as its steps in order.

0. finish what an earlier cycle recorded but did not see through (``resume``);
1. read the HR source into desired users (``read``);
2. plan the operations, and let the guard judge them (``plan``);
3. record them in the outbox (``outbox``);
4. send them (``send``), waiting for the vendor's jobs (``jobs``);
then report the run (``cycle``).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import Engine

from syncd import progress
from syncd.engine import cycle
from syncd.engine.cycle import EXIT_CODES, CycleOutcome, CycleResult, log_stopping
from syncd.engine.guard import GuardVerdict
from syncd.engine.push import forecast, outbox, stream
from syncd.engine.push.forecast import Forecast
from syncd.engine.push.order import summary_of
from syncd.engine.push.plan import Plan, guard, plan_changes
from syncd.engine.push.read import Reading, SourceEmpty, read_people
from syncd.engine.push.resume import resume
from syncd.engine.push.send import Sender, Tally
from syncd.engine.push.settings import DIRECTION, PushSettings
from syncd.http.errors import AuthenticationError, UnreachableError
from syncd.logs import log_context
from syncd.metrics import record_pending
from syncd.model import Operation, OpState
from syncd.progress import Progress
from syncd.sources.base import SourceError
from syncd.state import scope, snapshots, store

log = structlog.get_logger(__name__)

_OPEN = [OpState.PENDING, OpState.SENT, OpState.UNKNOWN, OpState.WAITING]


ENDS_IN_GUARD = (SourceEmpty,)
"""An empty or keyless source must never deprovision anyone: a guard stop (exit 3)."""
ENDS_IN_FAILURE = (SourceError, AuthenticationError, UnreachableError)
"""The source or the vendor could not be read or refused syncd (exit 4)."""


@dataclass(slots=True)
class PushResult(CycleResult):
    # As recorded, never a password; a streamed first sync's new people are in the outbox only,
    # and a dry run's operations are those it did not hand to ``show`` (``run_push``).
    plan: list[Operation] = field(default_factory=list)
    planned: dict[str, int] = field(default_factory=dict)  # a dry run's operations, by kind
    forecast: Forecast | None = None  # a dry run's: what the push would meet
    notes: list[str] = field(default_factory=list)  # why ``only``'s people got nothing

    @property
    def exit_code(self) -> int:
        """A dry run whose push the guard would stop exits 3, as that push would."""
        if self.forecast is not None and self.forecast.guard_stops:
            return EXIT_CODES[CycleOutcome.GUARDED]
        return EXIT_CODES[self.outcome]


Show = Callable[[Operation], None]
"""Where a dry run hands each planned operation, as it is planned (``syncd plan --json``)."""


def run_push(
    settings: PushSettings, *, dry_run: bool = False, show: Show | None = None
) -> PushResult:
    """One cycle; never raises for a vendor, source or record problem: the result says it.

    A dry run hands each operation to ``show`` as it is planned, a streamed first sync's a
    chunk at a time, and keeps none; without ``show`` they are kept in ``PushResult.plan``."""
    return cycle.exclusively(
        settings, DIRECTION, lambda: _PushCycle(settings, dry_run, show).run(), PushResult
    )


class OutboxCycle(ABC):
    """A cycle that writes through the push's outbox and sender (a push, a reconciliation):
    its run row, its steps, how they can end, and its report."""

    direction = DIRECTION
    result_type: type[CycleResult] = CycleResult

    def __init__(self, settings: PushSettings) -> None:
        self.s = settings
        self.calls_before = settings.adapter.api_calls
        self.sender = Sender(settings)
        self.began = time.monotonic()

    def run(self) -> Any:
        shown = Progress(self.s.connector, self.direction, self._calls_made)
        with progress.tracking(shown):
            self.sender.progress = shown
            return self._run_recorded()

    def _calls_made(self) -> int:
        return self.s.adapter.api_calls - self.calls_before

    def _run_recorded(self) -> Any:
        s = self.s
        run_id, _aborted = cycle.start_run(s.engine, s.connector, self.direction)
        context = log_context(
            connector=s.connector, direction=self.direction, vendor=s.adapter.vendor, run_id=run_id
        )
        with context:
            log.info(
                f"{self.direction}_started", connector=s.connector, run_id=run_id, **self.started()
            )
            result = cycle.run_steps(
                lambda: self._run(run_id),
                lambda outcome, message: self.result_type(outcome, run_id, message=message),
                guards=ENDS_IN_GUARD,
                failures=ENDS_IN_FAILURE,
            )
            if self.sender.stopped_early:
                result.stopped_early()
            self._finish(result)
        return result

    def started(self) -> dict[str, Any]:
        """What the start line says besides the connector and the run."""
        return {}

    @abstractmethod
    def _run(self, run_id: int) -> Any:
        """The cycle's own steps, to its result."""

    @abstractmethod
    def _finish(self, result: Any) -> None:
        """Count what was done into ``result`` and close the run (``close_run``)."""


class _PushCycle(OutboxCycle):
    result_type = PushResult

    def __init__(self, settings: PushSettings, dry_run: bool, show: Show | None = None) -> None:
        super().__init__(settings)
        self.dry_run = dry_run
        self.show = show
        self.records_seen = 0
        self.invalid = 0
        self.notes: list[str] = []

    def started(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run}

    def _run(self, run_id: int) -> PushResult:
        try:
            return self._push(run_id)
        finally:
            self.s.adapter.end_adoption()  # a listing read to adopt never outlives the cycle

    def _push(self, run_id: int) -> PushResult:
        s = self.s
        resumed = None if self.dry_run else resume(s, self.sender)  # lost creates looked up afresh
        if resumed is not None and (self.sender.stopped_early or s.stop.is_set()):
            return self._stopped_before_reading(run_id)
        remembers_scope = not self.dry_run and s.only is None  # a dry run shows the reasons
        with s.engine.connect() as conn:
            digests = store.link_digests(conn, s.connector)
            outside = scope.out_of_scope_digests(conn, s.connector) if remembers_scope else None
        if digests.snapshot_due and not self.dry_run:  # before the reading takes any out
            with s.engine.begin() as conn:
                snapshots.keep(conn, s.connector, digests.linked_items(), digests.read_at)
        s.adapter.begin_validation()
        reading = read_people(
            s.records(),
            s.key,
            s.mapper,
            s.adapter.validate,
            digests,
            s.only,
            source=s.source,
            stream_after=stream.stream_after(s),
            outside=outside,
        )
        self.records_seen = reading.records_seen
        self.invalid = len(reading.errors)
        # Every chunk of a streamed first sync adopts as its whole new people would, at once.
        s.adapter.begin_adoption(expected=len(reading.new_keys))
        plan = plan_changes(
            s.engine,
            s.connector,
            reading,
            digests,
            adapter=s.adapter,
            policy=s.policy,
            match=s.match,
            only=s.only,
            sent_this_cycle=resumed,
        )
        with s.engine.connect() as conn:
            verdict, approved = guard(conn, s.connector, plan, s.threshold, digests.linked)
        errors = [f"{e.hr_key}: {e.operation}: {e.reason}" for e in reading.errors]
        errors += self._only_misses(reading, plan)
        if plan.leavers_deferred:
            errors.append(
                f"{plan.leavers_deferred} people missing from {s.source} are not deactivated "
                f"this cycle: {reading.keyless} of its records have no usable {s.key!r}, and "
                "one of them may be such a person"
            )
        if self.dry_run:
            return self._preview(run_id, reading, plan, verdict, approved, errors)
        if verdict.tripped and not approved:
            log.warning(
                "guard_tripped",
                connector=s.connector,
                deprovisions=verdict.deprovisions,
                linked=verdict.linked,
                limit=verdict.limit,
            )
            self._record_errors(reading)
            shown = outbox.preview(plan, s.policy)
            return PushResult(
                CycleOutcome.GUARDED, run_id, errors=errors, message=verdict.reason, plan=shown
            )
        recorded = outbox.record(
            s.engine,
            s.connector,
            run_id,
            reading,
            plan,
            s.policy,
            consume_approval=verdict.tripped,
            logged=False,
        )
        new_people = stream.NewPeople(s, reading.new_keys, resumed)
        reading.new_keys = set()
        plan.release()
        reading.release()
        new_people.record(run_id, first_seq=len(recorded))
        s.adapter.end_adoption()
        counts = Counter(op.kind for op in recorded) + new_people.counts
        outbox.log_planned(s.connector, run_id, summary_of(counts), reading)
        if new_people.errors:  # the new people's records that do not map or validate
            self.invalid += len(new_people.errors)
            errors += [f"{e.hr_key}: {e.operation}: {e.reason}" for e in new_people.errors]
        if new_people.stopped:
            self.sender.stopped_early = True
            log_stopping(DIRECTION, s.connector, "people not yet planned wait for the next cycle")
        self.sender.run(plan.ops)
        if not self.sender.stopped_early:
            new_people.send(self.sender)
        tally = self.sender.tally
        failed = tally.counts["failed"] + self.invalid + tally.counts["unconfirmed"]
        outcome = CycleOutcome.PARTIAL if failed else CycleOutcome.SUCCESS
        return PushResult(
            outcome, run_id, errors=errors + tally.failures, plan=recorded, notes=self.notes
        )

    def _stopped_before_reading(self, run_id: int) -> PushResult:
        """A shutdown during the resume (or before it): the source is not read nor a plan
        made, which at a first sync's size would take as long as a stop may wait; what the
        outbox still holds goes in the next cycle, which plans after sending it."""
        self.sender.stopped_early = True
        log_stopping(DIRECTION, self.s.connector, "nothing read or planned this cycle")
        return PushResult(CycleOutcome.SUCCESS, run_id, notes=self.notes)

    def _preview(
        self,
        run_id: int,
        reading: Reading,
        plan: Plan,
        verdict: GuardVerdict,
        approved: bool,
        errors: list[str],
    ) -> PushResult:
        """A dry run: each operation shown as the outbox would record it (no password), a
        streamed first sync's new people a chunk at a time, and only what the table and the
        forecast need kept; nothing is recorded."""
        s = self.s
        kept: list[Operation] = []
        show = self.show or kept.append
        counts = forecast.PlanCounts()

        def shown(part: Plan) -> None:
            ops = outbox.preview(part, s.policy)
            counts.add(ops)
            for op in ops:
                show(op)

        shown(plan)
        out_of_scope, scope_reasons = len(reading.out_of_scope), dict(reading.scope_reasons)
        named = reading.errors_in_order  # the new people's go before the repeated keys'
        new_people = stream.NewPeople(s, reading.new_keys)
        reading.new_keys = set()
        plan.ops = []
        plan.release()
        reading.release()
        new_people.preview(shown)
        if new_people.errors:  # the new people's records that do not map or validate
            self.invalid += len(new_people.errors)
            errors[named:named] = [
                f"{e.hr_key}: {e.operation}: {e.reason}" for e in new_people.errors
            ]
        outcome, message = CycleOutcome.DRY_RUN, verdict.reason
        if new_people.stopped:
            log_stopping(DIRECTION, s.connector, "the plan shown is not whole")
            outcome, message = (
                CycleOutcome.STOPPED,
                "stopped by a shutdown request: the plan shown is not whole",
            )
        unusable, unlisted = forecast.check_targets(counts, s.adapter)
        return PushResult(
            outcome,
            run_id,
            errors=errors,
            message=message,
            plan=kept,
            planned=summary_of(counts.kinds),
            forecast=Forecast(  # what the push would meet (a dry run's only reads)
                estimate=forecast.estimate_counts(counts.kinds, s.adapter.capabilities, s.limits),
                guard=verdict,  # new people bring no deactivation: the rest's is the whole's
                approved=approved,
                unusable=unusable,
                unlisted=unlisted,
                out_of_scope=out_of_scope,
                scope_reasons=scope_reasons,
            ),
            notes=self.notes,
        )

    def _only_misses(self, reading: Reading, plan: Plan) -> list[str]:
        """``--only`` keys that get nothing, and why: those not in HR or out of scope count as
        failed records; the unchanged are noted (``self.notes``)."""
        misses = []
        for hr_key in sorted(self.s.only or ()):
            idle = forecast.why_nothing(reading, hr_key, self.s.source)
            idle = idle or forecast.nothing_to_send(reading, hr_key, plan.ops)
            if idle is None or (idle.failed and hr_key in reading.held):
                continue  # planned, or held: its error already says why
            if idle.failed:
                misses.append(f"{hr_key}: only: {idle.reason}")
            else:
                self.notes.append(f"{hr_key}: {idle.reason}")
        self.invalid += len(misses)
        return misses

    def _record_errors(self, reading: Reading) -> None:
        with self.s.engine.begin() as conn:
            outbox.record_errors(conn, self.s.connector, reading.errors)

    def _finish(self, result: PushResult) -> None:
        s = self.s
        result.counts = sent_counts(
            self.sender.tally,
            records_seen=self.records_seen,
            invalid=self.invalid,
            api_calls=s.adapter.api_calls - self.calls_before,
        )
        close_run(s, DIRECTION, result, started=self.began)


def sent_counts(tally: Tally, *, records_seen: int, invalid: int, api_calls: int) -> dict[str, int]:
    """A cycle's ``sync_runs`` counts from what its sender did."""
    counts = tally.counts
    return {
        "records_seen": records_seen,
        "created": counts["created"],
        "updated": counts["updated"],
        "deactivated": counts["deactivated"],
        "reactivated": counts["reactivated"],
        "deleted": counts["deleted"],
        "memberships": counts["memberships"],
        "failed": counts["failed"] + invalid,
        "api_calls": api_calls,
    }


def close_run(
    settings: PushSettings,
    direction: str,
    result: CycleResult,
    *,
    started: float,
    **extra: Any,
) -> None:
    """Close the run row and the status row with the outbox's counts; log and measure it."""
    s = settings
    with s.engine.begin() as conn:
        pending = store.count_operations(conn, s.connector, _OPEN)
        status = cycle.finish_run(
            conn,
            s.connector,
            direction,
            result,
            pending=pending,
            failed=store.count_operations(conn, s.connector, [OpState.FAILED]),
        )
    record_pending(s.connector, pending)
    cycle.report(s.connector, direction, result, status, started=started, **extra)


def approve(engine: Engine, connector: str) -> None:
    """``syncd approve``: the next guarded push of ``connector`` goes ahead once."""
    with engine.begin() as conn:
        store.set_status(conn, connector, DIRECTION, approved=True)


def retry(engine: Engine, connector: str) -> int:
    """``syncd retry``: failed operations go back in the queue for the next cycle."""
    with engine.begin() as conn:
        count = store.requeue_failed(conn, connector)
        store.set_status(conn, connector, DIRECTION, failed_ops=0)
    return count

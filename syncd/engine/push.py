"""One push cycle of one connector (SPEC §4): resume, plan, guard, record, send, report."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import Engine

from syncd.engine import planner
from syncd.engine.diff import DiffPolicy
from syncd.engine.executor import Executor, JobPolling, link_for_create
from syncd.engine.guard import Threshold, check
from syncd.engine.lease import connector_lease
from syncd.engine.plan import summary
from syncd.http import AuthenticationError, UnreachableError
from syncd.metrics import record_cycle_metrics
from syncd.model import LinkStatus, Operation, OpKind, OpState
from syncd.shutdown import ShuttingDown
from syncd.state import results, store
from syncd.vendors.base import Adapter

log = structlog.get_logger(__name__)


class CycleOutcome:
    SUCCESS = "success"
    PARTIAL = "partial"  # ran, but some records or operations failed (exit 1)
    GUARDED = "guarded"  # the guard stopped it before any write (exit 3)
    FAILED = "failed"  # could not run: source, vendor or store unreachable (exit 4)
    DRY_RUN = "dry_run"
    BUSY = "busy"  # another process holds this connector's lease
    STOPPED = "stopped"  # the process was asked to stop; what is left waits for the next cycle


STOPPED_MESSAGE = "stopped by a shutdown request; what was not sent waits for the next cycle"

EXIT_CODES = {
    CycleOutcome.SUCCESS: 0,
    CycleOutcome.DRY_RUN: 0,
    CycleOutcome.PARTIAL: 1,
    CycleOutcome.GUARDED: 3,
    CycleOutcome.FAILED: 4,
    CycleOutcome.BUSY: 0,
    CycleOutcome.STOPPED: 1,  # the CLI exits 128 + signal number instead
}


@dataclass(slots=True)
class PushSettings:
    """Everything one connector's push needs, built from the configuration (or by a test)."""

    connector: str
    engine: Engine
    adapter: Adapter
    mapper: planner.MapperLike
    key: str
    records: Callable[[], Iterable[Any]]  # opens the source afresh for each cycle
    policy: DiffPolicy = field(default_factory=DiffPolicy)
    threshold: Threshold = field(default_factory=lambda: Threshold.parse(None))
    match: str | None = None
    polling: JobPolling = field(default_factory=JobPolling)
    stop: threading.Event = field(default_factory=threading.Event)
    only: frozenset[str] | None = None  # HR keys to push on demand; None: everyone


@dataclass(slots=True)
class PushResult:
    outcome: str
    run_id: int | None = None
    plan: list[Operation] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    message: str = ""

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]

    @property
    def plan_summary(self) -> dict[str, int]:
        return summary(self.plan)


def run_push(settings: PushSettings, *, dry_run: bool = False) -> PushResult:
    """One cycle; never raises for a vendor, source or record problem: the result says it."""
    with connector_lease(settings.engine, f"{settings.connector}:push") as held:
        if not held:
            message = f"{settings.connector}: another process is running this connector's push"
            log.info("push_busy", connector=settings.connector)
            return PushResult(CycleOutcome.BUSY, message=message)
        return _Cycle(settings, dry_run).run()


class _Cycle:
    def __init__(self, settings: PushSettings, dry_run: bool) -> None:
        self.s = settings
        self.dry_run = dry_run
        self.calls_before = settings.adapter.api_calls
        self.executor = Executor(
            connector=settings.connector,
            engine=settings.engine,
            adapter=settings.adapter,
            policy=settings.policy,
            match=settings.match,
            polling=settings.polling,
            stop=settings.stop,
        )
        self.records_seen = 0
        self.invalid = 0

    def run(self) -> PushResult:
        s = self.s
        with s.engine.begin() as conn:
            results.close_abandoned_runs(conn, s.connector, "push")
            run_id = store.start_run(conn, s.connector, "push")
            store.set_status(
                conn,
                s.connector,
                "push",
                state="running",
                last_started_at=store.now(),
                last_run_id=run_id,
            )
        log.info("push_started", connector=s.connector, run_id=run_id, dry_run=self.dry_run)
        try:
            result = self._run(run_id)
        except planner.SourceEmpty as error:
            result = PushResult(CycleOutcome.FAILED, run_id, message=str(error))
        except (AuthenticationError, UnreachableError) as error:
            result = PushResult(CycleOutcome.FAILED, run_id, message=str(error))
        except _source_errors() as error:
            result = PushResult(CycleOutcome.FAILED, run_id, message=str(error))
        except ShuttingDown:
            result = PushResult(CycleOutcome.STOPPED, run_id, message=STOPPED_MESSAGE)
        finished = result.outcome in (CycleOutcome.SUCCESS, CycleOutcome.PARTIAL)
        if self.executor.stopped_early and finished:
            result.outcome, result.message = CycleOutcome.STOPPED, STOPPED_MESSAGE
        self._finish(result)
        return result

    def _run(self, run_id: int) -> PushResult:
        s = self.s
        if not self.dry_run:
            self.executor.resume(write_only=self._write_only_fields)
        plan = planner.build_plan(
            connector=s.connector,
            engine=s.engine,
            records=s.records(),
            key=s.key,
            mapper=s.mapper,
            adapter=s.adapter,
            policy=s.policy,
            match=s.match,
            only=s.only,
        )
        self.records_seen = plan.records_seen
        self.invalid = len(plan.errors)
        with s.engine.connect() as conn:
            linked = store.count_links(conn, s.connector, [LinkStatus.LINKED])
            approved = bool((store.get_status(conn, s.connector, "push") or {}).get("approved"))
        verdict = check(plan.ops, linked, s.threshold)
        errors = [f"{e.hr_key}: {e.operation}: {e.reason}" for e in plan.errors]
        if self.dry_run:
            return PushResult(
                CycleOutcome.DRY_RUN, run_id, plan.ops, errors=errors, message=verdict.reason
            )
        if verdict.tripped and not approved:
            log.warning(
                "guard_tripped",
                connector=s.connector,
                deprovisions=verdict.deprovisions,
                linked=verdict.linked,
                limit=verdict.limit,
            )
            self._record_plan_errors(plan)
            return PushResult(
                CycleOutcome.GUARDED, run_id, plan.ops, errors=errors, message=verdict.reason
            )
        self._record(run_id, plan, consume_approval=verdict.tripped)
        self.executor.run(plan.ops)
        tally = self.executor.tally
        failed = tally.counts["failed"] + self.invalid
        outcome = CycleOutcome.PARTIAL if failed else CycleOutcome.SUCCESS
        return PushResult(outcome, run_id, plan.ops, errors=errors + tally.failures)

    def _write_only_fields(self, hr_keys: set[str]) -> dict[str, dict[str, Any]]:
        s = self.s
        return planner.render_fields(
            s.records(), s.key, s.mapper, hr_keys, s.policy.write_only_fields
        )

    def _record(self, run_id: int, plan: planner.Plan, consume_approval: bool) -> None:
        """The outbox write: the plan, pending links and hashes, in one transaction."""
        s = self.s
        stored_ops = [_without_write_only(op, s.policy) for op in plan.ops]
        with s.engine.begin() as conn:
            store.record_operations(conn, s.connector, run_id, stored_ops, plan.source_hashes)
            for op, stored in zip(plan.ops, stored_ops, strict=True):
                op.id = stored.id
            for link in plan.adopted.values():
                store.save_link(conn, s.connector, link)
            creating = {op.hr_key for op in plan.ops if op.kind is OpKind.CREATE}
            for hr_key in creating:
                store.save_link(conn, s.connector, link_for_create(plan.desired[hr_key], s.policy))
            store.set_source_hashes(
                conn,
                s.connector,
                {k: h for k, h in plan.source_hashes.items() if k not in creating},
            )
            # A leaver who comes back with the very same HR record must be re-rendered.
            leavers = {
                op.hr_key
                for op in plan.ops
                if op.kind.is_deprovision and op.hr_key not in plan.desired
            }
            store.forget_source_hashes(conn, s.connector, leavers)
            self._record_plan_errors(plan, conn)
            store.resolve_errors(conn, s.connector, plan.valid_keys, ("source", "map", "validate"))
            if consume_approval:
                store.set_status(conn, s.connector, "push", approved=False)
        log.info(
            "push_planned",
            connector=s.connector,
            run_id=run_id,
            **summary(plan.ops),
            unchanged=plan.unchanged,
            invalid=len(plan.errors),
        )

    def _record_plan_errors(self, plan: planner.Plan, conn=None) -> None:
        if conn is None:
            with self.s.engine.begin() as own:
                return self._record_plan_errors(plan, own)
        for error in plan.errors:
            store.record_error(conn, self.s.connector, error.hr_key, error.operation, error.reason)
            log.warning(
                "record_rejected",
                connector=self.s.connector,
                hr_key=error.hr_key,
                stage=error.operation,
                reason=error.reason,
            )
        return None

    def _finish(self, result: PushResult) -> None:
        s = self.s
        tally = self.executor.tally.counts
        counts = {
            "records_seen": self.records_seen,
            "created": tally["created"],
            "updated": tally["updated"],
            "deactivated": tally["deactivated"],
            "reactivated": tally["reactivated"],
            "deleted": tally["deleted"],
            "memberships": tally["memberships"],
            "failed": tally["failed"] + self.invalid,
            "api_calls": s.adapter.api_calls - self.calls_before,
        }
        result.counts = counts
        state = {CycleOutcome.GUARDED: "guarded", CycleOutcome.FAILED: "failed"}.get(
            result.outcome, "idle"
        )
        finished = store.now()
        with s.engine.begin() as conn:
            store.finish_run(conn, result.run_id, result.outcome, counts, result.message or None)
            values: dict[str, Any] = {
                "state": state,
                "last_finished_at": finished,
                "pending_ops": store.count_operations(
                    conn,
                    s.connector,
                    [OpState.PENDING, OpState.SENT, OpState.UNKNOWN, OpState.WAITING],
                ),
                "failed_ops": store.count_operations(conn, s.connector, [OpState.FAILED]),
                "last_error": result.message or (result.errors[0] if result.errors else None),
            }
            if result.outcome in (CycleOutcome.SUCCESS, CycleOutcome.PARTIAL):
                values["last_success_at"] = finished
            store.set_status(conn, s.connector, "push", **values)
        record_cycle_metrics(s.connector, "push", values)
        log.info(
            "push_finished",
            connector=s.connector,
            run_id=result.run_id,
            outcome=result.outcome,
            **counts,
        )


def _without_write_only(op: Operation, policy: DiffPolicy) -> Operation:
    """The copy of an operation the outbox keeps: never a password."""
    if not policy.write_only_fields or not set(op.fields) & policy.write_only_fields:
        return op
    fields = {k: v for k, v in op.fields.items() if k not in policy.write_only_fields}
    return Operation(op.kind, op.hr_key, op.remote_id, fields, op.changed, op.target)


def _source_errors() -> tuple[type[BaseException], ...]:
    try:
        from syncd.sources.base import SourceError
    except ImportError:  # sources not installed in a minimal test environment
        return ()
    return (SourceError,)


def approve(engine: Engine, connector: str) -> None:
    """``syncd approve``: the next guarded push of ``connector`` goes ahead once."""
    with engine.begin() as conn:
        store.set_status(conn, connector, "push", approved=True)


def retry(engine: Engine, connector: str) -> int:
    """``syncd retry``: failed operations go back in the queue for the next cycle."""
    with engine.begin() as conn:
        count = store.requeue_failed(conn, connector)
        store.set_status(conn, connector, "push", failed_ops=0)
    return count

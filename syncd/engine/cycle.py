"""What every cycle shares, push and pull alike: lease, run row, status row, outcome, exit code.

A cycle of one connector and direction runs alone (the lease), leaves one
``sync_runs`` row and keeps its ``sync_status`` row current: ``running`` while
it runs, then the outcome's state with the counts a dashboard reads (SPEC §5).
It ends with one summary line in the log (and, when it failed, an error line
saying why first), and in the metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import structlog
from sqlalchemy import Connection, Engine

from syncd.metrics import record_cycle, record_unlinked
from syncd.shutdown import ShuttingDown
from syncd.state import store
from syncd.state.lease import connector_lease, cycle_lease

log = structlog.get_logger(__name__)

Result = TypeVar("Result")


class CycleOutcome:
    SUCCESS = "success"
    PARTIAL = "partial"  # ran, but some records or operations failed (exit 1)
    GUARDED = "guarded"  # the guard stopped it before any write (exit 3)
    FAILED = "failed"  # could not run: source, vendor, sink or store unreachable (exit 4)
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

_STATES = {CycleOutcome.GUARDED: "guarded", CycleOutcome.FAILED: "failed"}  # else idle
_RAN = (CycleOutcome.SUCCESS, CycleOutcome.PARTIAL)  # outcomes a shutdown can cut short

METRIC_OUTCOMES = {
    CycleOutcome.SUCCESS: "success",
    CycleOutcome.PARTIAL: "partial",
    CycleOutcome.FAILED: "failed",
    CycleOutcome.GUARDED: "guarded",
    CycleOutcome.STOPPED: "stopped",
}
"""``syncd_cycles_total``'s outcome label; a dry run is no cycle of the service's, and a
cycle held back or found busy is counted ``skipped`` by the daemon."""


@dataclass(slots=True)
class CycleResult:
    outcome: str
    run_id: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    message: str = ""
    status: int | None = None  # the vendor's HTTP status, when its answer ended the cycle

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]

    def stopped_early(self) -> None:
        """A finished cycle that a shutdown cut short is reported as stopped."""
        if self.outcome in _RAN:
            self.outcome, self.message = CycleOutcome.STOPPED, STOPPED_MESSAGE


class Leased(Protocol):
    """What a cycle's settings name for its lease: the store and the connector."""

    engine: Engine
    connector: str


def exclusively(
    settings: Leased,
    direction: str,
    cycle: Callable[[], Result],
    result_type: Callable[..., Result],
) -> Result:
    """Run ``cycle`` holding the connector's lease for ``direction``; else a ``result_type``
    that says it is busy.

    A reconciliation holds the push's lease (``cycle_lease``): both write through one outbox.
    """
    connector = settings.connector
    lease = cycle_lease(connector, direction)
    with connector_lease(settings.engine, lease) as held:
        if not held:
            log.info(f"{direction}_busy", connector=connector, direction=direction)
            holder = lease.rpartition(":")[2]
            message = f"{connector}: another process is running this connector's {holder}"
            return result_type(CycleOutcome.BUSY, message=message)
        return cycle()


def start_run(engine: Engine, connector: str, direction: str) -> tuple[int, int]:
    """The new run's id, and how many runs a dead process left open (now ``aborted``)."""
    with engine.begin() as conn:
        aborted = store.close_abandoned_runs(conn, connector, direction)
        run_id = store.start_run(conn, connector, direction)
        store.set_status(
            conn,
            connector,
            direction,
            state="running",
            last_started_at=store.now(),
            last_run_id=run_id,
        )
    return run_id, aborted


def finish_run(
    conn: Connection,
    connector: str,
    direction: str,
    result: CycleResult,
    *,
    pending: int,
    failed: int,
    **more: Any,
) -> dict[str, Any]:
    """Close the run row and set the status row; returns the status values for the metrics.

    ``more`` are further ``sync_status`` columns a direction keeps (a pull's
    ``unlinked_results``).
    """
    finished = store.now()
    store.finish_run(conn, result.run_id, result.outcome, result.counts, result.message or None)
    values: dict[str, Any] = {
        "state": _STATES.get(result.outcome, "idle"),
        "last_finished_at": finished,
        "pending_ops": pending,
        "failed_ops": failed,
        "last_error": result.message or (result.errors[0] if result.errors else None),
        **more,
    }
    if result.outcome == CycleOutcome.SUCCESS:  # a partial cycle left failures behind
        values["last_success_at"] = finished
    store.set_status(conn, connector, direction, **values)
    return values


def log_stopping(direction: str, connector: str, leaves: str, **details: Any) -> None:
    """Say that a shutdown request ends the cycle early, and what ``leaves`` for the next one."""
    log.info(
        f"{direction}_stopping",
        connector=connector,
        reason=f"shutdown requested; {leaves}",
        **details,
    )


def report(
    connector: str,
    direction: str,
    result: CycleResult,
    status: dict[str, Any],
    *,
    started: float,
    **extra: Any,
) -> None:
    """The cycle's metrics and its one ``<direction>_finished`` summary line (info), after
    an error line saying why when it failed. ``started`` is its ``time.monotonic()``."""
    seconds = time.monotonic() - started
    which = {"connector": connector, "direction": direction, "run_id": result.run_id}
    if result.outcome == CycleOutcome.FAILED:
        cause = {"status": result.status} if result.status is not None else {}
        log.error(f"{direction}_failed", **which, reason=result.message, **cause)
    if result.outcome in METRIC_OUTCOMES:
        outcome = METRIC_OUTCOMES[result.outcome]
        record_cycle(connector, direction, outcome, seconds, status.get("last_success_at"))
    if direction == "pull" and "unlinked_results" in status:
        record_unlinked(connector, status["unlinked_results"] or 0)
    log.info(
        f"{direction}_finished",
        **which,
        outcome=result.outcome,
        duration_s=round(seconds, 3),
        **extra,
        **result.counts,
    )


def run_steps(
    steps: Callable[[], Result],
    ended: Callable[[str, str], Result],
    *,
    guards: tuple[type[Exception], ...] = (),
    failures: tuple[type[Exception], ...] = (),
) -> Result:
    """A cycle's steps, or the result of how they ended early: ``ended(outcome, message)``.

    ``guards`` stop a cycle for safety (exit 3), ``failures`` end it because a part could
    not be reached (exit 4), a stop request leaves the rest for the next cycle. Anything
    else is a bug and propagates.
    """
    try:
        return steps()
    except guards as error:
        return ended(CycleOutcome.GUARDED, str(error))
    except failures as error:
        result = ended(CycleOutcome.FAILED, str(error))
        if isinstance(result, CycleResult):
            result.status = getattr(error, "status", None)
        return result
    except ShuttingDown:
        return ended(CycleOutcome.STOPPED, STOPPED_MESSAGE)

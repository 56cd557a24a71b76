"""One scheduled cycle of one connector and direction, as the daemon runs it.

The CLI's ``syncd sync`` and the daemon share the engines and ``syncd.assemble``; what
is added here is what a long-running process needs: an unexpected error is logged
with its connector and never stops the scheduler, the adapter is closed after each
cycle, a failed cycle puts its connector and direction in quarantine (logged with
its reason and the next attempt, from the first failure on, and in
``syncd_quarantined``), and ``next_run_at`` in ``sync_status`` says when the
connector runs again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from sqlalchemy import Engine

from syncd.assemble import pull_once, push_once
from syncd.assemble.reconcile import reconcile_once
from syncd.config import Config
from syncd.daemon.backoff import Quarantine
from syncd.engine.cycle import CycleOutcome, CycleResult
from syncd.logs import redactor
from syncd.metrics import CYCLES, QUARANTINED
from syncd.state import store

log = structlog.get_logger(__name__)

NextRun = Callable[[], datetime | None]


class CycleRunner:
    """Runs push, pull and reconcile cycles for the scheduler, sharing one state-store engine."""

    def __init__(self, config: Config, engine: Engine, stop: threading.Event) -> None:
        self.config = config
        self.engine = engine
        self.stop = stop
        self._running = 0
        self._idle = threading.Condition()
        self.quarantine = Quarantine()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no cycle runs; False if some still ran after ``timeout`` seconds."""
        with self._idle:
            return self._idle.wait_for(lambda: self._running == 0, timeout)

    def push(self, name: str, next_run: NextRun) -> None:
        self._guarded(name, "push", next_run, self._push)

    def pull(self, name: str, next_run: NextRun) -> None:
        self._guarded(name, "pull", next_run, self._pull)

    def reconcile(self, name: str, next_run: NextRun) -> None:
        self._guarded(name, "reconcile", next_run, self._reconcile)

    def _reconcile(self, name: str) -> CycleResult:
        """A scheduled reconciliation acts on its policies (``report`` ones only report)."""
        return reconcile_once(self.config, name, self.engine, apply=True, stop=self.stop)

    def _push(self, name: str) -> CycleResult:
        return push_once(self.config, name, self.engine, stop=self.stop)

    def _pull(self, name: str) -> CycleResult:
        return pull_once(self.config, name, self.engine, stop=self.stop)

    def _guarded(
        self, name: str, direction: str, next_run: NextRun, cycle: Callable[[str], CycleResult]
    ) -> None:
        waiting = self.quarantine.waiting_until(name, direction, datetime.now(UTC))
        if waiting is not None:
            log.info("cycle_held_back", connector=name, direction=direction, until=waiting)
            CYCLES.labels(name, direction, "skipped").inc()
            return
        with self._idle:
            if self.stop.is_set():
                return
            self._running += 1
        result = CycleResult(CycleOutcome.FAILED)
        try:
            result = cycle(name)
        except Exception as error:  # a bug or a lost store must not stop the other connectors
            reason = redactor.redact_text(f"{type(error).__name__}: {error}")
            log.exception("cycle_crashed", connector=name, direction=direction, reason=reason)
            CYCLES.labels(name, direction, "failed").inc()  # its engine could not count it
            result.message = reason
            self._set_status(name, direction, state="failed", last_error=reason[:500])
        finally:
            self._note_result(name, direction, result, next_run)
            with self._idle:
                self._running -= 1
                self._idle.notify_all()

    def _note_result(
        self, name: str, direction: str, result: CycleResult, next_run: NextRun
    ) -> None:
        """Quarantine bookkeeping, and when the connector runs next, in sync_status."""
        if result.outcome == CycleOutcome.BUSY:
            CYCLES.labels(name, direction, "skipped").inc()
        now = datetime.now(UTC)
        failed = result.outcome == CycleOutcome.FAILED
        in_a_row = self.quarantine.record(name, direction, failed, now, result.message)
        QUARANTINED.labels(name, direction).set(1 if failed else 0)
        held_until = self.quarantine.waiting_until(name, direction, now)
        upcoming = None if self.stop.is_set() else next_run()
        if upcoming is not None and held_until is not None and held_until > upcoming:
            upcoming = held_until
        if failed:
            log.warning(
                "cycle_quarantined",
                connector=name,
                direction=direction,
                run_id=result.run_id,
                failures_in_a_row=in_a_row,
                reason=result.message,
                next_attempt_at=upcoming or held_until,
            )
        self._set_status(name, direction, next_run_at=upcoming)

    def _set_status(self, name: str, direction: str, **values: object) -> None:
        try:
            with self.engine.begin() as conn:
                store.set_status(conn, name, direction, **values)
        except Exception as error:
            log.warning(
                "status_not_saved",
                connector=name,
                direction=direction,
                reason=redactor.redact_text(str(error)),
            )

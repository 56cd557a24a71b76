"""One pull cycle of one connector (SPEC §4): LMS learning results into the HR sink.

Exactly once per change: a result is written only when its content hash differs
from what this sink last accepted (``delivered_results``), and what the sink
accepted is recorded, with the page's cursor, in one state-store transaction
*after* ``Sink.write`` returned. A crash between the two re-sends that batch
once on the next cycle; rows carry the stable ``result_id``, so an upserting
sink (sql, csv rewrite) ends with one row per result and an append-only one
(csv append, http) with at most one repeated copy the receiver can drop.

A result whose LMS user is linked to no HR person is never dropped: it is
reported in ``sync_errors`` (``hr_key`` ``lms:<lms user id>``, operation
``pull``), parked in the state store, and delivered in the first cycle after
the person is linked.

Outcomes and exit codes are the push cycle's: ``success`` 0; ``partial`` 1
(results of unknown users or rejected results, listed by ``syncd errors``);
``failed`` 4 when the vendor could not be reached or authenticated *or the sink
refused or could not be reached*: nothing of the refused batch is marked
delivered and the next cycle reads again from the saved cursor; ``busy`` 0.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import structlog
from sqlalchemy import Connection, Engine

from syncd.engine.lease import connector_lease
from syncd.engine.push import EXIT_CODES, STOPPED_MESSAGE, CycleOutcome
from syncd.http import VendorError
from syncd.metrics import record_cycle_metrics
from syncd.model import LearningResult
from syncd.shutdown import ShuttingDown
from syncd.sink_protocol import Sink, SinkError
from syncd.state import results as delivered
from syncd.state import store
from syncd.vendors.base import Adapter, PullPage

log = structlog.get_logger(__name__)

DIRECTION = "pull"
OPERATION = "pull"  # sync_errors.operation of results whose LMS user is not linked
REJECT_OPERATION = "validate"  # ... and of results that cannot be identified at all
DEFAULT_BATCH_SIZE = 500
_COURSES_IN_REASON = 5


@dataclass(slots=True)
class PullSettings:
    """Everything one connector's pull needs; the caller opens and closes ``sink``."""

    connector: str
    engine: Engine
    adapter: Adapter
    sink: Sink
    sink_name: str  # recorded in delivered_results.sink: a new sink gets everything again
    stop: threading.Event = field(default_factory=threading.Event)
    batch_size: int = DEFAULT_BATCH_SIZE


@dataclass(slots=True)
class PullResult:
    outcome: str
    run_id: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    message: str = ""

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]


def run_pull(settings: PullSettings) -> PullResult:
    """One cycle; never raises for a vendor, sink or record problem: the result says it."""
    with connector_lease(settings.engine, f"{settings.connector}:pull") as held:
        if not held:
            message = f"{settings.connector}: another process is running this connector's pull"
            log.info("pull_busy", connector=settings.connector)
            return PullResult(CycleOutcome.BUSY, message=message)
        return _PullCycle(settings).run()


def unknown_user_key(lms_user_id: str) -> str:
    """The ``sync_errors.hr_key`` of an LMS user no HR person is linked to."""
    return f"lms:{lms_user_id}"


class _PullCycle:
    def __init__(self, settings: PullSettings) -> None:
        self.s = settings
        self.cursor_name = delivered.cursor_name(settings.sink_name)
        self.calls_before = settings.adapter.api_calls
        sink_batch = getattr(settings.sink, "max_batch", None) or settings.batch_size
        self.batch_size = max(1, min(settings.batch_size, sink_batch))
        self.records_seen = 0
        self.delivered = 0
        # LMS user id -> {result_id: course label}: results kept for a person not yet linked.
        self.unknown: dict[str, dict[str, str]] = defaultdict(dict)
        # LMS user ids the adapter reported as unmapped without yielding their results.
        self.unreported: set[str] = set()
        self.stopped_early = False  # a shutdown ended the cycle before the last page
        # error key -> reason, for results that cannot be delivered at all.
        self.rejected: dict[str, list[str]] = defaultdict(list)

    # --- the cycle ---------------------------------------------------------------------------

    def run(self) -> PullResult:
        s = self.s
        with s.engine.begin() as conn:
            aborted = delivered.close_abandoned_runs(conn, s.connector, DIRECTION)
            run_id = store.start_run(conn, s.connector, DIRECTION)
            store.set_status(
                conn,
                s.connector,
                DIRECTION,
                state="running",
                last_started_at=store.now(),
                last_run_id=run_id,
            )
        log.info("pull_started", connector=s.connector, run_id=run_id, sink=s.sink_name)
        if aborted:
            log.warning("pull_previous_run_aborted", connector=s.connector, runs=aborted)
        try:
            self._run()
        except SinkError as error:
            result = PullResult(CycleOutcome.FAILED, run_id, message=str(error))
        except VendorError as error:
            result = PullResult(CycleOutcome.FAILED, run_id, message=f"{s.connector}: {error}")
        except ShuttingDown:
            result = PullResult(CycleOutcome.STOPPED, run_id, message=STOPPED_MESSAGE)
        except Exception as error:
            # A bug, or the state store went away: record what can be recorded, then re-raise.
            message = f"pull stopped by an unexpected {type(error).__name__}; see the log"
            try:
                self._finish(PullResult(CycleOutcome.FAILED, run_id, message=message))
            except Exception:
                log.warning("pull_finish_failed", connector=s.connector, run_id=run_id)
            raise
        else:
            errors = self._error_lines()
            outcome = CycleOutcome.PARTIAL if self.failed else CycleOutcome.SUCCESS
            result = PullResult(outcome, run_id, errors=errors)
            if self.stopped_early:
                result.outcome, result.message = CycleOutcome.STOPPED, STOPPED_MESSAGE
        self._finish(result)
        return result

    def _run(self) -> None:
        s = self.s
        with s.engine.connect() as conn:
            links = delivered.remote_links(conn, s.connector)
            cursor = delivered.load_cursor(conn, s.connector, self.cursor_name)
        self._deliver_parked(links)
        for page in s.adapter.pull(cursor, links):
            self._take_page(page, links)
            if s.stop.is_set():
                self.stopped_early = True
                log.info(
                    "pull_stopping",
                    connector=s.connector,
                    reason="shutdown requested; the next cycle continues from the saved cursor",
                )
                return

    @property
    def failed(self) -> int:
        unknown_results = sum(len(found) for found in self.unknown.values())
        rejected = sum(len(reasons) for reasons in self.rejected.values())
        return unknown_results + len(self.unreported - set(self.unknown)) + rejected

    # --- results parked by an earlier cycle ------------------------------------------------------

    def _deliver_parked(self, links: dict[str, str]) -> None:
        """Deliver parked results whose LMS user is now linked; the rest stay parked."""
        s = self.s
        ready: list[LearningResult] = []
        with s.engine.connect() as conn:
            for result in delivered.parked(conn, s.connector):
                hr_key = links.get(result.lms_user_id)
                if hr_key is None:
                    self.unknown[result.lms_user_id][result.result_id] = _course_label(result)
                    continue
                result.hr_key = hr_key
                ready.append(result)
        if not ready:
            return
        fresh = self._fresh(ready)
        batches = _chunks(fresh, self.batch_size)
        for batch in batches:
            self._write(batch)
            with s.engine.begin() as conn:
                self._record_delivery(conn, batch)
                delivered.unpark(conn, s.connector, [r.result_id for r in batch])
        with s.engine.begin() as conn:  # the ones the sink already had
            delivered.unpark(conn, s.connector, [r.result_id for r in ready])
            self._resolve_unknown(conn, ready)
        log.info("pull_parked_delivered", connector=s.connector, results=len(fresh))

    # --- one page --------------------------------------------------------------------------------

    def _take_page(self, page: PullPage, links: dict[str, str]) -> None:
        s = self.s
        self.records_seen += len(page.results)
        known: list[LearningResult] = []
        unknown: list[LearningResult] = []
        for result in page.results:
            result.connector = s.connector
            if not result.lms_user_id or not result.course_id:
                self._reject(result)
                continue
            if not result.hr_key:
                result.hr_key = links.get(result.lms_user_id)
            if result.hr_key:
                known.append(result)
            else:
                unknown.append(result)
                self.unknown[result.lms_user_id][result.result_id] = _course_label(result)
        self.unreported.update(str(user) for user in page.unknown_users)
        fresh = self._fresh(known)
        batches = _chunks(fresh, self.batch_size)
        for number, batch in enumerate(batches, start=1):
            self._write(batch)
            with s.engine.begin() as conn:
                self._record_delivery(conn, batch)
                if number == len(batches):
                    self._close_page(conn, page, unknown)
        if not batches:
            with s.engine.begin() as conn:
                self._close_page(conn, page, unknown)
        log.info(
            "pull_page",
            connector=s.connector,
            read=len(page.results),
            delivered=len(fresh),
            unchanged=len(known) - len(fresh),
            unknown_user=len(unknown),
        )

    def _close_page(
        self, conn: Connection, page: PullPage, unknown: Sequence[LearningResult]
    ) -> None:
        """Park what could not be delivered yet, then move the cursor past the page."""
        delivered.park(conn, self.s.connector, unknown)
        delivered.save_cursor(conn, self.s.connector, self.cursor_name, page.cursor)

    def _fresh(self, results: Iterable[LearningResult]) -> list[LearningResult]:
        """New or changed results (the latest copy of each), in the order first seen."""
        latest: dict[str, LearningResult] = {}
        for result in results:
            latest[result.result_id] = result
        if not latest:
            return []
        with self.s.engine.connect() as conn:
            accepted = delivered.delivered_hashes(conn, self.s.connector, self.s.sink_name, latest)
        return [r for rid, r in latest.items() if accepted.get(rid) != r.content_hash()]

    def _write(self, batch: Sequence[LearningResult]) -> None:
        """Hand one batch to the sink; SinkError leaves everything unrecorded."""
        self.s.sink.write(batch)
        self.delivered += len(batch)

    def _record_delivery(self, conn: Connection, batch: Sequence[LearningResult]) -> None:
        delivered.mark_delivered(conn, self.s.connector, self.s.sink_name, batch)
        self._resolve_unknown(conn, batch)

    def _resolve_unknown(self, conn: Connection, results: Iterable[LearningResult]) -> None:
        users = {unknown_user_key(r.lms_user_id) for r in results}
        store.resolve_errors(
            conn, self.s.connector, users, (OPERATION, REJECT_OPERATION), direction=DIRECTION
        )

    def _reject(self, result: LearningResult) -> None:
        missing = [name for name in ("lms_user_id", "course_id") if not getattr(result, name)]
        key = unknown_user_key(result.lms_user_id) if result.lms_user_id else ""
        self.rejected[key].append(
            f"a result of LMS user {result.lms_user_id or '?'} in course "
            f"{result.course_id or '?'} has no {' and no '.join(missing)}: "
            "it cannot be identified, so it is not delivered"
        )

    # --- the report ------------------------------------------------------------------------------

    def _error_rows(self) -> dict[tuple[str, str], str]:
        """(sync_errors hr_key, operation) -> reason for what this cycle could not deliver."""
        rows: dict[tuple[str, str], str] = {}
        for user, courses in sorted(self.unknown.items()):
            labels = sorted(set(courses.values()))
            listed = ", ".join(labels[:_COURSES_IN_REASON])
            if len(labels) > _COURSES_IN_REASON:
                listed += f" and {len(labels) - _COURSES_IN_REASON} more"
            rows[unknown_user_key(user), OPERATION] = (
                f"LMS user {user} has {len(courses)} result(s) (course {listed}) but no HR "
                "person is linked to that LMS account; they are kept and delivered once "
                "the person is linked"
            )
        for user in sorted(self.unreported - set(self.unknown)):
            rows[unknown_user_key(user), OPERATION] = (
                f"LMS user {user} has results but no HR person is linked to that LMS "
                "account; the adapter skipped them (delivered once the person is linked "
                "and the results are read again)"
            )
        for key, reasons in sorted(self.rejected.items()):
            more = f" (and {len(reasons) - 1} more)" if len(reasons) > 1 else ""
            rows[key, REJECT_OPERATION] = reasons[-1] + more
        return rows

    def _error_lines(self) -> list[str]:
        return [f"{key}: {reason}" for (key, _), reason in self._error_rows().items()]

    def _finish(self, result: PullResult) -> None:
        s = self.s
        counts = {
            "records_seen": self.records_seen,
            "delivered": self.delivered,
            "failed": self.failed,
            "api_calls": s.adapter.api_calls - self.calls_before,
        }
        result.counts = counts
        state = "failed" if result.outcome == CycleOutcome.FAILED else "idle"
        finished = store.now()
        with s.engine.begin() as conn:
            for (key, operation), reason in self._error_rows().items():
                store.record_error(conn, s.connector, key, operation, reason, direction=DIRECTION)
            store.finish_run(conn, result.run_id, result.outcome, counts, result.message or None)
            values = {
                "state": state,
                "last_finished_at": finished,
                "pending_ops": delivered.count_parked(conn, s.connector),
                "failed_ops": delivered.count_open_errors(conn, s.connector, DIRECTION),
                "last_error": result.message or (result.errors[0] if result.errors else None),
            }
            if result.outcome in (CycleOutcome.SUCCESS, CycleOutcome.PARTIAL):
                values["last_success_at"] = finished
            store.set_status(conn, s.connector, DIRECTION, **values)
        record_cycle_metrics(s.connector, DIRECTION, values)
        log.info(
            "pull_finished",
            connector=s.connector,
            run_id=result.run_id,
            outcome=result.outcome,
            sink=s.sink_name,
            **counts,
        )


def _course_label(result: LearningResult) -> str:
    return f"{result.course_id} ({result.course_name})" if result.course_name else result.course_id


def _chunks(items: Sequence[LearningResult], size: int) -> list[list[LearningResult]]:
    return [list(items[start : start + size]) for start in range(0, len(items), size)]

"""One pull cycle of one connector (SPEC §4): LMS learning results into the HR sink.

Its steps: results parked by an earlier cycle whose person is now linked go
first; then the adapter's pages since the saved cursor, each page's results
identified (``identify``) and delivered (``deliver``), and the cursor moved
past the page only once the sink accepted it.

Outcomes and exit codes are the push cycle's (``cycle``): ``success`` 0, results
of unlinked LMS accounts included (``identify``: parked and counted apart, never a
failure); ``partial`` 1 (results that cannot be identified, listed by ``syncd
errors``); ``failed`` 4 when the vendor could not be reached or
authenticated *or the sink refused or could not be reached*: nothing of the
refused batch is marked delivered and the next cycle reads again from the saved
cursor; ``busy`` 0.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import structlog
from sqlalchemy import Connection

from syncd.engine import cycle
from syncd.engine.cycle import STOPPED_MESSAGE, CycleOutcome, CycleResult
from syncd.engine.pull.certifications import record_expiring
from syncd.engine.pull.deliver import Delivery
from syncd.engine.pull.identify import DIRECTION, Unidentified, identify, resolve_unknown
from syncd.engine.pull.settings import PullSettings
from syncd.http.errors import VendorError
from syncd.logs import log_context
from syncd.model import LearningResult
from syncd.shutdown import ShuttingDown
from syncd.sink_protocol import SinkError
from syncd.state import parked, store
from syncd.state import results as delivered
from syncd.vendors.base import PullPage

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class PullResult(CycleResult):
    pass


def run_pull(settings: PullSettings) -> PullResult:
    """One cycle; never raises for a vendor, sink or record problem: the result says it."""
    return cycle.exclusively(settings, DIRECTION, lambda: _PullCycle(settings).run(), PullResult)


class _PullCycle:
    def __init__(self, settings: PullSettings) -> None:
        self.s = settings
        self.cursor_name = delivered.cursor_name(settings.sink_name)
        self.calls_before = settings.adapter.api_calls
        self.delivery = Delivery(settings)
        self.unidentified = Unidentified()
        self.records_seen = 0
        self.stopped_early = False  # a shutdown ended the cycle before the last page
        self.began = time.monotonic()

    def run(self) -> PullResult:
        s = self.s
        run_id, aborted = cycle.start_run(s.engine, s.connector, DIRECTION)
        context = log_context(
            connector=s.connector, direction=DIRECTION, vendor=s.adapter.vendor, run_id=run_id
        )
        with context:
            return self._cycle(run_id, aborted)

    def _cycle(self, run_id: int, aborted: int) -> PullResult:
        s = self.s
        log.info("pull_started", connector=s.connector, run_id=run_id, sink=s.sink_name)
        if aborted:
            log.warning("pull_previous_run_aborted", connector=s.connector, runs=aborted)
        try:
            self._run()
        except SinkError as error:
            result = PullResult(CycleOutcome.FAILED, run_id, message=str(error))
        except VendorError as error:
            result = PullResult(
                CycleOutcome.FAILED, run_id, message=f"{s.connector}: {error}", status=error.status
            )
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
            errors = [f"{key}: {why}" for (key, _), why in self.unidentified.error_rows().items()]
            failed = self.unidentified.failed
            outcome = CycleOutcome.PARTIAL if failed else CycleOutcome.SUCCESS
            result = PullResult(outcome, run_id, errors=errors)
            if self.stopped_early:
                result.stopped_early()
        self._finish(result)
        return result

    def _run(self) -> None:
        s = self.s
        with s.engine.connect() as conn:
            links = delivered.remote_links(conn, s.connector)
            cursor = delivered.load_cursor(conn, s.connector, self.cursor_name)
        self._deliver_parked(links)
        for page in s.adapter.pull(cursor):
            self._take_page(page, links)
            if s.stop.is_set():
                self.stopped_early = True
                leaves = "the next cycle continues from the saved cursor"
                cycle.log_stopping(DIRECTION, s.connector, leaves)
                return

    def _deliver_parked(self, links: Mapping[str, str]) -> None:
        """Deliver parked results whose LMS user is now linked; the rest stay parked."""
        s = self.s
        ready: list[LearningResult] = []
        with s.engine.connect() as conn:
            for result in parked.parked(conn, s.connector):
                result = identify(result, s.connector, links)
                if result.hr_key is None:
                    self.unidentified.not_linked(result)
                else:
                    ready.append(result)
        if not ready:
            return

        def let_go(conn: Connection, batch: list[LearningResult], _last: bool) -> None:
            parked.unpark(conn, s.connector, [r.result_id for r in batch])

        fresh = self.delivery.deliver(ready, let_go)
        with s.engine.begin() as conn:  # the ones the sink already had
            parked.unpark(conn, s.connector, [r.result_id for r in ready])
            resolve_unknown(conn, s.connector, ready)
        log.info("pull_parked_delivered", connector=s.connector, results=len(fresh))

    def _take_page(self, page: PullPage, links: Mapping[str, str]) -> None:
        s = self.s
        self.records_seen += len(page.results)
        known: list[LearningResult] = []
        unknown: list[LearningResult] = []
        for result in page.results:
            if self.unidentified.rejects(result):
                continue
            result = identify(result, s.connector, links)
            if result.hr_key:
                known.append(result)
            else:
                unknown.append(result)
                self.unidentified.not_linked(result)
        self.unidentified.unreported.update(str(user) for user in page.unknown_users)

        def close_page(conn: Connection, _batch: list[LearningResult], last: bool) -> None:
            if last:
                self._close_page(conn, page, unknown)

        fresh = self.delivery.deliver(known, close_page)
        if not fresh:
            with s.engine.begin() as conn:
                self._close_page(conn, page, unknown)
        log.info(
            "pull_page",
            connector=s.connector,
            read=len(page.results),
            delivered=len(fresh),
            unchanged=len(known) - len(fresh),
            unlinked=len(unknown),
        )

    def _close_page(
        self, conn: Connection, page: PullPage, unknown: Sequence[LearningResult]
    ) -> None:
        """Park what could not be delivered yet, then move the cursor past the page."""
        parked.park(conn, self.s.connector, unknown)
        delivered.save_cursor(conn, self.s.connector, self.cursor_name, page.cursor)

    def _finish(self, result: PullResult) -> None:
        s = self.s
        reported = s.unlinked == "report"
        result.counts = {
            "records_seen": self.records_seen,
            "delivered": self.delivery.delivered,
            "failed": self.unidentified.failed,
            "api_calls": s.adapter.api_calls - self.calls_before,
            "unlinked": self.unidentified.unlinked_results if reported else 0,
        }
        with s.engine.begin() as conn:
            for (key, operation), reason in self.unidentified.error_rows().items():
                store.record_error(conn, s.connector, key, operation, reason, direction=DIRECTION)
            status = cycle.finish_run(
                conn,
                s.connector,
                DIRECTION,
                result,
                pending=0,  # a pull's only backlog is its parked results: unlinked, apart
                failed=store.count_open_errors(conn, s.connector, DIRECTION),
                unlinked_results=parked.count_parked(conn, s.connector) if reported else 0,
            )
        if reported and self.unidentified.unlinked_accounts:
            log.info(
                "pull_unlinked",
                connector=s.connector,
                accounts=self.unidentified.unlinked_accounts,
                results=self.unidentified.unlinked_results,
                kept=status["unlinked_results"],
                reason="no HR person is linked to these LMS accounts (pull.unlinked: report); "
                "their results are kept and delivered once linked",
            )
        cycle.report(
            s.connector, DIRECTION, result, status, started=self.began, sink=s.sink_name
        )
        record_expiring(s.engine, s.connector, s.sink_name, s.expiring_within)

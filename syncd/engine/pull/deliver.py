"""Pull step 3, deliver: identified results into the sink, exactly once per change.

A result is written only when its content hash differs from what this sink last
accepted (``delivered_results``), and what the sink accepted is recorded, with
whatever must move with it (the page's cursor, parked copies let go), in one
state-store transaction *after* ``Sink.write`` returned. A crash between the two
re-sends that batch once on the next cycle; rows carry the stable ``result_id``,
so an upserting sink (sql, csv rewrite) ends with one row per result, csv append
skips a row the file holds already, and an HTTP receiver may get one repeated copy,
which it can drop by ``result_id``. ``SinkError`` leaves the refused batch unrecorded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from sqlalchemy import Connection

from syncd.engine.pull.identify import resolve_unknown
from syncd.engine.pull.settings import PullSettings
from syncd.model import LearningResult
from syncd.state import results as delivered

Accepted = Callable[[Connection, list[LearningResult], bool], None]
"""Recorded with each accepted batch, in its transaction: (conn, batch, is it the last)."""


class Delivery:
    def __init__(self, settings: PullSettings) -> None:
        self.s = settings
        # A batch is all-or-nothing only within what the sink takes in one write.
        sink_batch = settings.sink.max_batch or settings.batch_size
        self.batch_size = max(1, min(settings.batch_size, sink_batch))
        self.delivered = 0  # results the sink accepted this cycle

    def deliver(
        self, results: Iterable[LearningResult], accepted: Accepted | None = None
    ) -> list[LearningResult]:
        """Write the new or changed ``results`` batch by batch; the ones written."""
        fresh = self._fresh(results)
        batches = _chunks(fresh, self.batch_size)
        for number, batch in enumerate(batches, start=1):
            self.s.sink.write(batch)
            self.delivered += len(batch)
            with self.s.engine.begin() as conn:
                delivered.mark_delivered(conn, self.s.connector, self.s.sink_name, batch)
                resolve_unknown(conn, self.s.connector, batch)
                if accepted is not None:
                    accepted(conn, batch, number == len(batches))
        return fresh

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


def _chunks(items: Sequence[LearningResult], size: int) -> list[list[LearningResult]]:
    return [list(items[start : start + size]) for start in range(0, len(items), size)]

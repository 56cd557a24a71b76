"""Push step 0: finish what an earlier cycle recorded but did not see through.

Jobs still running when it ended are awaited, and creates whose answer was lost are
looked up afresh (adopted where the LMS has them, else made pending to go again). The
rest is then sent in the recorded plan's order (by outbox id). An outbox of more than
``BATCH`` operations (a first sync cut short) is read back ``BATCH`` at a time, each batch
sent before the next is read (``readback``), so it is never held whole; what went is kept
for the planner in a few integers an operation (``SentOps``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import structlog

from syncd.engine.push import outbox
from syncd.engine.push.readback import send_batches
from syncd.engine.push.send import Sender
from syncd.engine.push.sent import SentOps
from syncd.engine.push.settings import PushSettings
from syncd.model import Operation
from syncd.state import store

log = structlog.get_logger(__name__)

BATCH = 10_000
"""Open operations read back and sent together; an outbox with fewer is read in one go."""


def resume(settings: PushSettings, sender: Sender) -> SentOps:
    """Send what the outbox holds open and is due now; what was handed to the sender (only
    up to a shutdown, after which the cycle plans nothing and the rest stays open)."""
    s = settings
    sent = SentOps(s.engine, s.policy.write_only_fields)
    due = store.now()  # one instant: what a batch sent and escrowed is not read again
    with s.engine.connect() as conn:
        count = store.count_open_operations(conn, s.connector, due=due)
        if not count:
            return sent
        whole = count < BATCH
        if whole:
            work = outbox.open_work(store.open_operations(conn, s.connector, due=due))
        else:
            work = outbox.open_work(store.unfinished_sends(conn, s.connector, due=due))
    log.info("outbox_resume", connector=s.connector, operations=count)
    sender.await_jobs(work.waiting)
    resend = sender.recover_lost_creates(work.lost_creates)  # made pending in the outbox
    if whole:
        to_send = sorted(work.to_send + resend, key=lambda op: op.id or 0)
        batches = iter([to_send])
        carrying = {op.hr_key for op in to_send if op.kind in outbox.CARRYING}
    else:
        awaited = {op.id for ops in work.waiting.values() for op in ops}
        batches = _read_back(s, due, awaited)
        carrying = _carrying(s, due) if s.policy.write_only_fields else set()
    del work, resend
    send_batches(sender, s, batches, carrying, noted=sent.add)
    return sent  # a stopped resume's is not whole: its cycle plans nothing (``run``)


def _read_back(
    settings: PushSettings, due: datetime, awaited: set[int | None]
) -> Iterator[list[Operation]]:
    """The open operations to send again in plan order, those of ``BATCH`` outbox rows at a
    time: those of the jobs just awaited stay out (one held back again waits for the next
    cycle)."""
    s, after = settings, 0
    while True:
        with s.engine.connect() as conn:
            upto = store.id_window_end(conn, after, BATCH)
            rows = store.open_operations(conn, s.connector, due=due, after=after, upto=upto)
        ops = [op for op in outbox.open_work(rows).to_send if op.id not in awaited]
        del rows
        if ops:
            yield ops
        if upto is None:
            return
        after = upto


def _carrying(settings: PushSettings, due: datetime) -> set[str]:
    with settings.engine.connect() as conn:
        return store.open_keys(conn, settings.connector, outbox.CARRYING, due=due)

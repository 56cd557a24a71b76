"""Recorded operations read back from the outbox a batch at a time, and sent batch by batch.

A streamed first sync sends its recorded chunks this way (``stream``), and a cycle resumes
an outbox left unsent this way (``resume``): only one batch's operations are ever held.
The outbox never keeps write-only fields (passwords), so a batch's operations that carry
them get theirs rendered afresh from the source (``WriteOnly``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from syncd.engine.cycle import log_stopping
from syncd.engine.push import outbox
from syncd.engine.push.read import rendered_people
from syncd.engine.push.send import Sender
from syncd.engine.push.settings import DIRECTION, PushSettings
from syncd.model import Operation

READ_AHEAD = 20_000
"""People whose write-only fields the read in step holds for later batches; past that, a
batch's people still missing are looked for by a read of their own."""


def send_batches(
    sender: Sender,
    settings: PushSettings,
    batches: Iterator[list[Operation]],
    carrying: set[str],
    *,
    announced: bool = False,
    noted: Callable[[list[Operation]], None] | None = None,
) -> None:
    """Send each batch read back, in order, before the next is read; ``carrying`` are the HR
    keys of the people whose operations carry write-only fields (emptied as they are read
    from the source). ``noted`` is given
    each batch as it goes (write-only fields included). A shutdown or a stop of the sender
    leaves the batches not yet read in ``batches``, and in the outbox for the next cycle.
    ``announced``: the progress shown already counts them."""
    secrets = WriteOnly(settings, carrying)
    while not (sender.stopped_early or settings.stop.is_set()):
        ops = next(batches, None)
        if ops is None:
            return
        ops = secrets.given(ops)
        if noted is not None:
            noted(ops)
        sender.run(ops, announced=announced)
    if not sender.stopped_early:
        sender.stopped_early = True
        log_stopping(DIRECTION, settings.connector, "the rest stays in the outbox")


class WriteOnly:
    """Operations read back from the outbox, given their write-only fields from the source
    as the whole plan had them (``outbox.as_planned``): creates, and adopted accounts'
    updates and reactivations (``outbox.CARRYING``).

    The source is read once, in step with the batches (a streamed plan follows its order):
    the fields of people read ahead of their batch wait here, at most ``READ_AHEAD`` of
    them. A batch's people not found by then (later in the source than that, or gone from
    it) are looked for by a read of the source of their own. A record that no longer
    renders leaves its operations without them, as they would have gone when recorded.
    """

    def __init__(self, settings: PushSettings, wanted: set[str]) -> None:
        self.settings = settings
        self.hidden = settings.policy.write_only_fields
        self.wanted = wanted if self.hidden else set()  # not yet read in step; emptied as read
        self.found: dict[str, dict[str, Any]] = {}
        self.people = _write_only_fields(settings, self.wanted) if self.wanted else iter(())

    def given(self, ops: list[Operation]) -> list[Operation]:
        carrying = {op.hr_key for op in ops if op.kind in outbox.CARRYING}
        if not self.hidden or not carrying:
            return ops
        missing = carrying - self.found.keys()
        while missing and self.wanted and len(self.found) < READ_AHEAD:
            person = next(self.people, None)
            if person is None:
                break
            hr_key, fields = person
            self.found[hr_key] = fields
            missing.discard(hr_key)
        if missing:
            self.wanted.difference_update(missing)  # the read in step no longer looks for them
            self.found.update(_write_only_fields(self.settings, missing))
        # A person's operations are all in one batch: theirs are let go once given.
        given = {k: fields for k in carrying if (fields := self.found.pop(k, None))}
        return [
            outbox.as_planned(op, given[op.hr_key])
            if op.kind in outbox.CARRYING and op.hr_key in given
            else op
            for op in ops
        ]


def _write_only_fields(
    settings: PushSettings, wanted: set[str]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each wanted person's write-only fields as its first record renders them now;
    ``wanted`` loses each key as its record is read."""
    s = settings
    for desired in rendered_people(s.records(), s.key, s.mapper, wanted, consume=True):
        yield desired.hr_key, outbox.write_only_of(desired, s.policy)

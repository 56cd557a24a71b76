"""A first sync too large to hold whole: its new people planned, recorded and sent in chunks.

The guard decides before any write, so ``read`` counts first: it reads the whole
source, and once more than ``CHUNK`` people have no link it keeps only their keys
(``Reading.new_keys``) and renders no more of them: a new person's scope is all the
count needs. Such people can bring no deactivation or deletion (only a create and its
memberships, or an adopted account's reactivation, update and memberships), so the
guard's count over the rest of the plan is the count of the whole. Once the guard let
it go and the rest is recorded, the source is read again: each chunk of new people is
rendered, validated, adopted where the LMS already has them, diffed, and recorded with
its links and errors in one transaction, then dropped. The chunks' validation goes on
with the counting read's pass, as a whole plan's would: a new person claiming a value
a changed, linked person claimed there (an e-mail) is held before any call, with the
same reason. The pass keeps only the values claimed (the vendor's validator), never
the people, and the linked ones' are those of the people who changed.

Sending reads the outbox back a recorded chunk at a time (``readback``). The outbox never
keeps write-only fields (passwords), so a chunk's creates, and its adopted accounts'
updates and reactivations, get theirs rendered afresh from one more read of the source, in
step with the chunks (only about one chunk's are ever held): each operation goes as the
whole plan would have sent it (``outbox.as_planned``).

A crash between chunks leaves the recorded people linked PENDING with their record's
hash: the next cycle resumes their operations and reads them as unchanged, and
plans the people still without a link. A vendor whose ``arrange`` orders across
people (HowNow: managers before their reports) is planned whole, never in chunks.

A dry run (``syncd plan``) plans its chunks the same way (``NewPeople.preview``), with
the same read-only calls to adopt, and records none of them: each chunk is shown and
counted, then dropped, so a plan of a million new people is never held whole.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import Connection

from syncd.engine.diff import diff_user
from syncd.engine.push import outbox
from syncd.engine.push.forecast import estimate_counts
from syncd.engine.push.order import order
from syncd.engine.push.plan import Plan, adopt_existing_accounts, not_sent_already
from syncd.engine.push.read import MapperLike, RecordError
from syncd.engine.push.readback import send_batches
from syncd.engine.push.send import Sender
from syncd.engine.push.sent import SentOps
from syncd.engine.push.settings import PushSettings
from syncd.mapping import MappingError
from syncd.model import DesiredUser, Operation
from syncd.sources.base import key_text
from syncd.state import store

log = structlog.get_logger(__name__)

RESOLVED = ("source", "map", "validate")

CHUNK = 10_000
"""People planned, recorded and sent together when a first sync is streamed; a sync
with no more new people than this is planned whole."""


def stream_after(settings: PushSettings) -> int | None:
    """How many new people a push keeps rendered before it streams; None: it never does.

    ``--only`` shows or sends the whole plan as it always has (a few people), and a
    vendor that orders across people needs the whole plan to do it. A dry run streams as
    the push would, and shows each chunk as it is planned (``NewPeople.preview``)."""
    if settings.only is not None:
        return None
    if settings.adapter.capabilities.arranges_across_people:
        return None
    return CHUNK


@dataclass(slots=True)
class NewPeople:
    """The streamed people of one push: recorded chunk by chunk, then sent chunk by chunk."""

    settings: PushSettings
    keys: set[str]  # still to be planned; emptied as they are
    sent_this_cycle: SentOps | None = None
    chunks: list[tuple[int, int]] = field(default_factory=list)  # ids first..last, recorded
    counts: Counter = field(default_factory=Counter)  # operations recorded, by kind
    errors: list[RecordError] = field(default_factory=list)  # records that do not map or validate
    errors_recorded: int = 0
    carrying: set[str] = field(default_factory=set)  # whose operations need write-only fields
    stopped: bool = False  # a shutdown came while recording: the rest waits for the next cycle

    def record(self, run_id: int, first_seq: int) -> None:
        """Plan and record every chunk, each in its own transaction."""
        if not self.keys:
            return  # not streamed: the source is not read again
        with _collection_paused():
            self._record(run_id, first_seq)

    def _record(self, run_id: int, first_seq: int) -> None:
        s = self.settings
        seq = first_seq  # no new validation pass: the read's goes on (uniqueness)
        for plan in self._planned():
            with s.engine.begin() as conn:
                outbox.record_people(conn, s.connector, run_id, plan, s.policy, seq)
                self._record_errors(conn)
                if store.count_open_errors(conn, s.connector, "push"):  # none at a first sync
                    store.resolve_errors(conn, s.connector, set(plan.desired), RESOLVED)
            seq += len(plan.ops)
            ids = [op.id or 0 for op in plan.ops]
            self.chunks.append((min(ids), max(ids)))
            self.counts.update(op.kind for op in plan.ops)
            if s.policy.write_only_fields:
                self.carrying.update(op.hr_key for op in plan.ops if op.kind in outbox.CARRYING)
            log.debug("push_chunk_recorded", connector=s.connector, people=len(plan.desired))
        with s.engine.begin() as conn:
            self._record_errors(conn)

    def preview(self, shown: Callable[[Plan], None]) -> None:
        """A dry run's: plan every chunk as ``record`` would and hand it to ``shown``, then
        let it go; nothing is recorded (the records that fail are in ``errors``)."""
        if not self.keys:
            return
        with _collection_paused():
            for plan in self._planned():
                shown(plan)

    def _planned(self) -> Iterator[Plan]:
        """Each chunk's plan in turn: rendered, validated, adopted where the LMS has its
        people (read-only calls), diffed and ordered; a chunk with nothing to do is skipped."""
        s = self.settings
        for people in _chunks(self._rendered(), CHUNK):
            if s.stop.is_set():  # safe between chunks: the rest have no link, planned next time
                self.stopped = True
                return
            plan = Plan(desired=people)
            adopt_existing_accounts(plan, s.adapter, s.match)
            ops: list[Operation] = []
            for hr_key, desired in people.items():
                ops += diff_user(desired, plan.links.get(hr_key), s.policy)
            plan.ops = s.adapter.arrange(order(not_sent_already(ops, self.sent_this_cycle)))
            if plan.ops:
                yield plan

    def _record_errors(self, conn: Connection) -> None:
        outbox.record_errors(conn, self.settings.connector, self.errors[self.errors_recorded :])
        self.errors_recorded = len(self.errors)

    def send(self, sender: Sender) -> None:
        """Send the recorded chunks in order, each read back from the outbox."""
        s = self.settings
        if not self.chunks:
            return
        at_limits = estimate_counts(self.counts, s.adapter.capabilities, s.limits).seconds
        sender.progress.plan(sum(self.counts.values()), at_limits)
        send_batches(sender, s, self._read_back(), self.carrying, announced=True)

    def _read_back(self) -> Iterator[list[Operation]]:
        s = self.settings
        for first_id, last_id in self.chunks:
            with s.engine.connect() as conn:
                ops = store.pending_operations_between(conn, s.connector, first_id, last_id)
            yield ops

    def _rendered(self) -> Iterator[DesiredUser]:
        """The new people as the source renders them now, in its order; a record that does
        not render or validate is left out and named, as the counting read would have."""
        s = self.settings
        fingerprint, key, keys, errors = s.mapper.fingerprint, s.key, self.keys, self.errors
        render, validate = _scoped_renderer(s.mapper), s.adapter.validate
        for record in s.records():
            value = record.value(key)  # ``keyed``'s key: a CSV cell is text, one strip
            hr_key = (value.strip() or None) if type(value) is str else key_text(value)
            if hr_key is None or hr_key not in keys:
                continue
            keys.discard(hr_key)  # the first record of a key, as the read took
            if record.problem:
                continue  # changed since the read: planned by the next cycle
            try:
                desired = render(hr_key, record.data, record.digest(fingerprint))
            except MappingError as error:
                errors.append(RecordError(hr_key, "map", str(error.reason)))
                continue
            if desired is None:
                continue  # out of scope since the read: planned by the next cycle
            reasons = validate(desired)
            if reasons:
                errors.append(RecordError(hr_key, "validate", "; ".join(reasons)))
                continue
            yield desired


@contextmanager
def _collection_paused() -> Iterator[None]:
    """Python's cyclic garbage collector held off while the chunks are planned and recorded.

    A chunk's people, operations and rows (hundreds of thousands of objects) live until it
    is recorded, and each automatic collection walks them and everything else the process
    holds, over and over: 8% of a first sync's time. Reference counting frees them (none
    forms a cycle), so nothing waits for a collection. The pause is the whole process's
    (another connector's cycle meanwhile included): automatic collection resumes as it was
    afterwards, and collects whatever waited."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


ScopedRender = Callable[[str, dict[str, Any], int], DesiredUser | None]


def _scoped_renderer(mapper: MapperLike) -> ScopedRender:
    """The mapper's ``render_in_scope`` (scope and render on one Jinja context), or the
    same two steps one after the other for a mapper without it."""
    combined = getattr(mapper, "render_in_scope", None)
    if combined is not None:
        return combined

    def render(hr_key: str, data: dict[str, Any], digest: int) -> DesiredUser | None:
        if not mapper.in_scope(data):
            return None
        return mapper.render(hr_key, data, digest)

    return render


def _chunks(people: Iterator[DesiredUser], size: int) -> Iterator[dict[str, DesiredUser]]:
    chunk: dict[str, DesiredUser] = {}
    for desired in people:
        chunk[desired.hr_key] = desired
        if len(chunk) == size:
            yield chunk
            chunk = {}
    if chunk:
        yield chunk

"""Push step 3, outbox: the plan recorded before anything is sent, and read back after a crash.

The outbox is the only place write-only fields (passwords) are handled: the
recorded copy of an operation never holds one (nor names one as changed), and
a create read back to be sent again has them rendered afresh from the source
(``readback``).
The diff itself never compares them, and links never keep them (``diff``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import structlog
from sqlalchemy import Connection, Engine

from syncd.engine.diff import DiffPolicy, stored_fields
from syncd.engine.push.order import summary
from syncd.engine.push.plan import Plan
from syncd.engine.push.read import Reading, RecordError
from syncd.model import DesiredUser, LinkState, LinkStatus, Operation, OpKind, OpState
from syncd.state import scope, store

log = structlog.get_logger(__name__)


def record(
    engine: Engine,
    connector: str,
    run_id: int,
    reading: Reading,
    plan: Plan,
    policy: DiffPolicy,
    *,
    consume_approval: bool,
    logged: bool = True,
) -> list[Operation]:
    """Write the plan, pending links and hashes in one transaction; the copies recorded.

    The plan's own operations get the ids of their rows; they keep write-only
    fields, which go to the vendor but never to the store. Rows are built a batch
    at a time, never the whole plan's at once. With ``logged`` False the caller logs
    ``push_planned`` once the streamed new people are recorded too (``stream``).
    """
    with engine.begin() as conn:
        recorded = record_people(conn, connector, run_id, plan, policy)
        # A leaver who comes back with the very same HR record must be re-rendered.
        leavers = {
            op.hr_key for op in plan.ops if op.kind.is_deprovision and op.hr_key not in plan.desired
        }
        store.forget_source_hashes(conn, connector, leavers)
        record_errors(conn, connector, reading.errors)
        if reading.outside_found or reading.outside_dropped:
            scope.save_out_of_scope(conn, connector, reading.outside_found, reading.outside_dropped)
        if store.count_open_errors(conn, connector, "push"):  # none at a first sync
            resolved = ("source", "map", "validate")
            store.resolve_errors(conn, connector, reading.valid_keys, resolved)
        if consume_approval:
            store.set_status(conn, connector, "push", approved=False)
    if logged:
        log_planned(connector, run_id, summary(plan.ops), reading)
    return recorded


def record_people(
    conn: Connection,
    connector: str,
    run_id: int,
    plan: Plan,
    policy: DiffPolicy,
    first_seq: int = 0,
) -> list[Operation]:
    """Record ``plan``'s operations (numbered from ``first_seq`` in the run), the links of the
    accounts it adopts and creates, and its people's hashes; the copies recorded."""
    recorded = [_recorded_copy(op, policy) for op in plan.ops]
    desired = plan.desired

    def source_hash(hr_key: str) -> int | None:
        person = desired.get(hr_key)
        return person.source_hash if person is not None else None

    store.record_operations(conn, connector, run_id, recorded, source_hash, first_seq)
    for op, copy in zip(plan.ops, recorded, strict=True):
        op.id = copy.id
    store.save_links(conn, connector, plan.adopted.values())
    creating = {op.hr_key for op in plan.ops if op.kind is OpKind.CREATE}
    # The links ``link_for_create`` gives, written without building them.
    store.save_pending_links(conn, connector, ((k, desired[k].source_hash) for k in creating))
    store.set_source_hashes(
        conn,
        connector,
        ((k, d.source_hash) for k, d in desired.items() if k not in creating),
    )
    return recorded


def log_planned(connector: str, run_id: int, counts: dict[str, int], reading: Reading) -> None:
    """The plan is recorded: what it holds, by kind (``summary``)."""
    log.info(
        "push_planned",
        connector=connector,
        run_id=run_id,
        **counts,
        unchanged=reading.unchanged,
        invalid=len(reading.errors),
    )


def preview(plan: Plan, policy: DiffPolicy) -> list[Operation]:
    """The operations as the outbox would record them (a dry run shows no password)."""
    return [_recorded_copy(op, policy) for op in plan.ops]


def record_errors(conn: Connection, connector: str, errors: Iterable[RecordError]) -> None:
    for error in errors:
        store.record_error(conn, connector, error.hr_key, error.operation, error.reason)
        log.warning(
            "record_rejected",
            connector=connector,
            hr_key=error.hr_key,
            stage=error.operation,
            reason=error.reason,
        )


def link_for_create(desired: DesiredUser, policy: DiffPolicy) -> LinkState:
    """The PENDING link recorded with a create, remembering the planned HR record's hash."""
    return LinkState(
        hr_key=desired.hr_key,
        remote_id=None,
        fields=stored_fields({}, policy),
        active=False,
        status=LinkStatus.PENDING,
        source_hash=desired.source_hash,
    )


# --- read back -------------------------------------------------------------------------------


@dataclass(slots=True)
class OpenWork:
    """What an earlier cycle recorded but did not see through, by what it still needs."""

    waiting: dict[str, list[Operation]] = field(default_factory=lambda: defaultdict(list))
    lost_creates: list[Operation] = field(default_factory=list)  # sent, answer lost
    to_send: list[Operation] = field(default_factory=list)

    def __len__(self) -> int:
        waiting = sum(len(ops) for ops in self.waiting.values())
        return waiting + len(self.lost_creates) + len(self.to_send)


def open_work(open_ops: Iterable[tuple[Operation, OpState, str | None]]) -> OpenWork:
    """Open operations (``store.open_operations``, ``unfinished_sends``) by what they need."""
    work = OpenWork()
    for op, state, job_id in open_ops:
        if state is OpState.WAITING and job_id:
            work.waiting[job_id].append(op)
        elif state in (OpState.SENT, OpState.UNKNOWN) and op.kind is OpKind.CREATE:
            work.lost_creates.append(op)
        else:
            work.to_send.append(op)
    return work


def write_only_of(desired: DesiredUser, policy: DiffPolicy) -> dict[str, Any]:
    """The write-only fields of a person as rendered: what the outbox never keeps."""
    return {k: v for k, v in desired.fields.items() if k in policy.write_only_fields}


def given_fields(op: Operation, fields: dict[str, Any]) -> Operation:
    """``op`` carrying ``fields`` too, named as changed: a create given back its passwords."""
    return replace(
        op, fields={**op.fields, **fields}, changed=tuple(sorted({*op.changed, *fields}))
    )


CARRYING = frozenset({OpKind.CREATE, OpKind.UPDATE, OpKind.REACTIVATE})
"""The kinds the diff plans with a person's whole rendered fields, write-only ones too."""


def as_planned(op: Operation, fields: dict[str, Any]) -> Operation:
    """``op`` given back the write-only ``fields`` it was planned with (``CARRYING``).

    A create sends them (named as changed); an update or a reactivation only carries
    them, never naming them changed (they are never re-sent), as the diff planned it:
    a vendor that checks an operation's fields before sending sees them all."""
    if op.kind is OpKind.CREATE:
        return given_fields(op, fields)
    return replace(op, fields={**op.fields, **fields})


def _recorded_copy(op: Operation, policy: DiffPolicy) -> Operation:
    """The copy of an operation the outbox keeps: never a write-only field, by value or name."""
    hidden = policy.write_only_fields
    if not hidden or hidden.isdisjoint(op.fields):  # no set built an operation
        return op
    return Operation(
        op.kind,
        op.hr_key,
        op.remote_id,
        {k: v for k, v in op.fields.items() if k not in hidden},
        tuple(name for name in op.changed if name not in hidden),
        op.target,
    )

"""The queries the engine needs, over SQLAlchemy Core, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from itertools import islice
from typing import Any, TypeVar

from sqlalchemy import Connection, Table, and_, func, insert, or_, select, update

from syncd.collector import make_old
from syncd.model import (
    LinkDigests,
    LinkState,
    LinkStatus,
    Operation,
    OpKind,
    OpState,
    stable_hash,
)
from syncd.state import snapshots
from syncd.state.bulk import BulkWriter
from syncd.state.db import dialect_insert
from syncd.state.digests import paged_digests
from syncd.state.tables import jobs, links, operations, sync_errors, sync_runs, sync_status

CHUNK = 500
T = TypeVar("T")
OPEN_STATES = (OpState.PENDING, OpState.SENT, OpState.UNKNOWN, OpState.WAITING)


def now() -> datetime:
    return datetime.now(UTC)


def chunked(items: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    """``items`` in lists of at most ``size`` (``CHUNK``: an ``IN (...)`` each database
    takes), taken as they come: a million rows are never all built at once."""
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


def upsert(
    conn: Connection,
    table: Table,
    values: Mapping[str, Any],
    keys: Sequence[str],
    update_columns: Iterable[str] | None = None,
) -> None:
    """Insert ``values`` or update the row with the same ``keys`` (both dialects)."""
    maker = dialect_insert(conn.dialect.name)
    statement = maker(table).values(**values)
    columns = [c for c in (update_columns or values) if c not in keys]
    if columns:
        statement = statement.on_conflict_do_update(
            index_elements=list(keys), set_={c: statement.excluded[c] for c in columns}
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=list(keys))
    conn.execute(statement)


def upsert_many(
    conn: Connection,
    table: Table,
    rows: list[dict[str, Any]],
    keys: Sequence[str],
    kept: Sequence[str] = (),
) -> None:
    """Insert ``rows`` or update those with the same ``keys``, all columns but ``kept``
    (both dialects)."""
    if not rows:
        return
    maker = dialect_insert(conn.dialect.name)
    statement = maker(table)
    columns = [name for name in rows[0] if name not in keys and name not in kept]
    statement = statement.on_conflict_do_update(
        index_elements=list(keys), set_={c: statement.excluded[c] for c in columns}
    )
    conn.execute(statement, rows)


# --- links ---------------------------------------------------------------------------------


def link_digests(conn: Connection, connector: str) -> LinkDigests:
    """HR key -> source digest of every link, and the statuses other than ``linked``: all a
    no-change cycle needs in memory, one small integer a person.

    The ``linked`` ones come from the connector's snapshot when it matches the links
    (``snapshots``), else are gathered by the database a page at a time (``digests``) and
    ``snapshot_due`` is set; those in each other status are gathered the same way (the
    deactivated are every leaver a store ever had).
    """
    digests = LinkDigests()
    digests.read_at = now()
    make_old()  # it is about to hold every link (``collector``)
    changed = snapshots.recall(conn, connector, digests)
    if changed is None:
        for keys, values in paged_digests(conn, connector, LinkStatus.LINKED.value):
            digests.update(zip(keys, values, strict=True))
    digests.linked = len(digests)
    digests.snapshot_due = changed is None or changed > snapshots.rewrite_after(len(digests))
    statuses = digests.statuses
    for status in LinkStatus:
        if status is LinkStatus.LINKED:
            continue
        for keys, values in paged_digests(conn, connector, status.value):
            digests.update(zip(keys, values, strict=True))
            statuses.update(dict.fromkeys(keys, status))
    return digests


def _link_from_row(row: Any) -> LinkState:
    return LinkState(
        hr_key=row.hr_key,
        remote_id=row.remote_id,
        fields=row.fields or {},
        active=bool(row.active),
        groups=frozenset(row.groups or ()),
        courses=frozenset(row.courses or ()),
        status=LinkStatus(row.status),
        source_hash=row.source_hash,
    )


def load_links(conn: Connection, connector: str, keys: Iterable[str]) -> dict[str, LinkState]:
    """Full links of ``keys`` (chunked, so a large plan never builds one huge IN list)."""
    found: dict[str, LinkState] = {}
    keys = list(keys)
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        query = select(links).where(links.c.connector == connector, links.c.hr_key.in_(chunk))
        for row in conn.execute(query):
            found[row.hr_key] = _link_from_row(row)
    return found


def iter_links(
    conn: Connection, connector: str, statuses: Iterable[LinkStatus]
) -> Iterator[LinkState]:
    query = select(links).where(
        links.c.connector == connector, links.c.status.in_([s.value for s in statuses])
    )
    for row in conn.execution_options(yield_per=2_000).execute(query):
        yield _link_from_row(row)


def save_link(conn: Connection, connector: str, link: LinkState) -> None:
    save_links(conn, connector, [link])


def save_links(conn: Connection, connector: str, saved: Iterable[LinkState]) -> None:
    """Insert or update these links, ``OUTBOX_BATCH`` rows an ``executemany`` through the
    driver's cursor, built a batch at a time (a first sync's million PENDING links as rows at
    once was the peak of its memory; SQLAlchemy's per-row parameter processing was most of
    the time it took to write them)."""
    writer, statement, stamped = _link_upsert(conn)
    dumps = writer.dumps
    for batch in chunked(saved, OUTBOX_BATCH):
        rows = [_link_row(connector, link, stamped, dumps) for link in batch]
        writer.executemany(statement, rows)


def save_pending_links(
    conn: Connection, connector: str, hashes: Iterable[tuple[str, int | None]]
) -> None:
    """``save_links`` of the PENDING links of accounts being created (no remote id, fields,
    groups or courses; inactive), given as (key, source hash): the same rows, without a
    ``LinkState`` built for each of a first sync's million."""
    writer, statement, stamped = _link_upsert(conn)
    dumps = writer.dumps
    empty_fields, empty_list = _empty_json(dumps, dict), _empty_json(dumps, list)
    pending = LinkStatus.PENDING.value
    for batch in chunked(hashes, OUTBOX_BATCH):
        rows = [
            (
                connector,
                hr_key,
                None,
                pending,
                False,
                empty_fields,
                EMPTY_FIELDS_HASH,
                empty_list,
                empty_list,
                source_hash,
                stamped,
                stamped,
            )
            for hr_key, source_hash in batch
        ]
        writer.executemany(statement, rows)


def _link_upsert(conn: Connection) -> tuple[BulkWriter, str, Any]:
    """The writer, the upsert of ``LINK_COLUMNS`` and the stamp of a ``save_links``."""
    writer = BulkWriter(conn)
    updated = [c for c in LINK_COLUMNS if c not in ("connector", "hr_key", "created_at")]
    statement = writer.upsert_sql(links, LINK_COLUMNS, ("connector", "hr_key"), updated)
    return writer, statement, writer.timestamp(links.c.updated_at, now())


LINK_COLUMNS = (
    "connector",
    "hr_key",
    "remote_id",
    "status",
    "active",
    "fields",
    "fields_hash",
    "groups",
    "courses",
    "source_hash",
    "created_at",
    "updated_at",
)
"""The columns ``save_links`` writes, in the order of ``_link_row``'s tuples."""


def _link_row(
    connector: str, link: LinkState, stamp: Any, dumps: Callable[[Any], str]
) -> tuple[Any, ...]:
    if link.fields:
        fields = dict(link.fields)
        fields_json, fields_hash = dumps(fields), stable_hash(fields)
    else:  # every PENDING link of a first sync: serialised and hashed once, not a million times
        fields_json, fields_hash = _empty_json(dumps, dict), EMPTY_FIELDS_HASH
    return (
        connector,
        link.hr_key,
        link.remote_id,
        link.status.value,
        link.active,
        fields_json,
        fields_hash,
        dumps(sorted(link.groups)) if link.groups else _empty_json(dumps, list),
        dumps(sorted(link.courses)) if link.courses else _empty_json(dumps, list),
        link.source_hash,
        stamp,
        stamp,
    )


EMPTY_FIELDS_HASH = stable_hash({})


@lru_cache(maxsize=8)
def _empty_json(dumps: Callable[[Any], str], kind: type[dict] | type[list]) -> str:
    """``dumps`` of an empty ``kind``, worked out once per serialiser."""
    return dumps(kind())


def set_source_hashes(
    conn: Connection, connector: str, hashes: Iterable[tuple[str, int | None]]
) -> None:
    """Remember that these people's current HR records (key, hash) have been planned for."""
    writer = BulkWriter(conn)
    mark = writer.placeholder
    quote = writer.quote
    statement = (
        f"UPDATE {quote(links.name)} SET {quote('source_hash')} = {mark}, "
        f"{quote('updated_at')} = {mark} "
        f"WHERE {quote('connector')} = {mark} AND {quote('hr_key')} = {mark}"
    )
    stamped = writer.timestamp(links.c.updated_at, now())
    for batch in chunked(hashes, OUTBOX_BATCH):
        writer.executemany(statement, [(h, stamped, connector, k) for k, h in batch])


def _bind(name: str):
    from sqlalchemy import bindparam

    return bindparam(name)


def forget_source_hashes(
    conn: Connection, connector: str, keys: Iterable[str] | None = None
) -> int:
    """Make the next cycle re-render these people (all when ``keys`` is None)."""
    condition = links.c.connector == connector
    if keys is not None:
        keys = list(keys)
        if not keys:  # a cycle with no leaver: no statement
            return 0
        condition = and_(condition, links.c.hr_key.in_(keys))
    return conn.execute(update(links).where(condition).values(source_hash=None)).rowcount


def count_links(conn: Connection, connector: str, statuses: Iterable[LinkStatus]) -> int:
    query = (
        select(func.count())
        .select_from(links)
        .where(links.c.connector == connector, links.c.status.in_([s.value for s in statuses]))
    )
    return int(conn.execute(query).scalar_one())


# --- operations (the outbox) ---------------------------------------------------------------


OUTBOX_BATCH = 5_000
"""Rows written per batch: operations to the outbox (their ids found a batch at a time),
links, source hashes."""

OPERATION_COLUMNS = (
    "connector",
    "run_id",
    "seq",
    "kind",
    "hr_key",
    "target",
    "remote_id",
    "payload",
    "state",
    "attempts",
    "created_at",
    "updated_at",
)
"""The columns ``record_operations`` writes, in the order of its rows."""


def record_operations(
    conn: Connection,
    connector: str,
    run_id: int,
    ops: Sequence[Operation],
    source_hash: Callable[[str], int | None],
    first_seq: int = 0,
) -> None:
    """Write the plan before anything is sent, ``OUTBOX_BATCH`` rows at a time (one INSERT
    an operation took 815 s for a million), through the driver (``BulkWriter``); ids are
    set on ``ops``. A plan recorded in parts numbers each part's operations on from
    ``first_seq``."""
    writer = BulkWriter(conn)
    stamped = writer.timestamp(operations.c.created_at, now())
    payload = _payload_text(writer.dumps)
    pending = OpState.PENDING.value
    sequence = _id_sequence(writer) if ops else None
    for offset in range(0, len(ops), OUTBOX_BATCH):
        batch = ops[offset : offset + OUTBOX_BATCH]
        start = first_seq + offset
        rows = [
            (
                connector,
                run_id,
                seq,
                op.kind._value_,  # ``.value``, without the enum property's call
                op.hr_key,
                op.target,
                op.remote_id,
                payload(op.fields, op.changed, source_hash(op.hr_key)),
                pending,
                0,
                stamped,
                stamped,
            )
            for seq, op in enumerate(batch, start)
        ]
        if sequence is not None:
            # COPY returns no ids: they are drawn from the table's own sequence first (as
            # COPY would draw them, in the rows' order) and written with the rows.
            drawn = _drawn_ids(writer, sequence, len(batch))
            rows = [(*row, op_id) for row, op_id in zip(rows, drawn, strict=True)]
            writer.insert(operations, (*OPERATION_COLUMNS, "id"), rows)
            for op, op_id in zip(batch, drawn, strict=True):
                op.id = op_id
            continue
        # Inserted without RETURNING (SQLite would return ids a row a statement): every row
        # it wrote has an id above the largest before it.
        floor = conn.execute(select(func.max(operations.c.id))).scalar() or 0
        writer.insert(operations, OPERATION_COLUMNS, rows)
        consecutive = None if writer.is_postgres else _consecutive_ids(conn, floor, len(batch))
        if consecutive is not None:
            for op, op_id in zip(batch, consecutive, strict=True):
                op.id = op_id
            continue
        ids = _ids_by_seq(writer, connector, run_id, floor, start, start + len(batch))
        for seq, op in enumerate(batch, start):
            op.id = ids[seq]


def _id_sequence(writer: BulkWriter) -> str | None:
    """The sequence the outbox's ids come from, on PostgreSQL (None elsewhere, or if its
    ids come from none)."""
    if not writer.is_postgres:
        return None
    query = f"SELECT pg_get_serial_sequence({writer.placeholder}, 'id')"
    ((name,),) = writer.fetchall(query, (writer.quote(operations.name),))
    return None if name is None else str(name)


def _drawn_ids(writer: BulkWriter, sequence: str, count: int) -> list[int]:
    """``count`` new ids from ``sequence``, smallest first: the ids of the rows about to be
    written, one query instead of reading them back after (which PostgreSQL, its table
    not yet analysed, answered by walking every row of the connector's outbox)."""
    mark = writer.placeholder
    query = (
        f"SELECT nextval(CAST({mark} AS regclass)) AS id FROM generate_series(1, {mark}) "
        "ORDER BY id"
    )
    return [int(op_id) for (op_id,) in writer.fetchall(query, (sequence, count))]


Payload = Callable[[Mapping[str, Any], Sequence[str], int | None], str]


def _payload_text(dumps: Callable[[Any], str]) -> Payload:
    """An operation's payload as ``dumps`` writes ``{"fields": ..., "changed": [...],
    "source_hash": ...}``.

    With ``json.dumps`` (its default separators) the text of a dict is its items' texts
    joined, so it is put together from parts: a membership's empty fields, the few
    distinct ``changed`` lists and the hash are never serialised a million times, and no
    dict is built for a row. Any other serialiser is given the dict itself.
    """
    if dumps is not json.dumps:
        return lambda fields, changed, digest: dumps(
            {"fields": dict(fields), "changed": list(changed), "source_hash": digest}
        )
    names: dict[Sequence[str], str] = {}

    def payload(fields: Mapping[str, Any], changed: Sequence[str], digest: int | None) -> str:
        if not fields:
            fields_text = "{}"
        else:
            fields_text = dumps(fields if type(fields) is dict else dict(fields))
        if type(changed) is not tuple:  # only a tuple is kept as a key
            changed_text = dumps(list(changed))
        elif (changed_text := names.get(changed)) is None:
            changed_text = dumps(list(changed))
            if len(names) < _PAYLOAD_NAMES:
                names[changed] = changed_text
        digest_text = int.__repr__(digest) if type(digest) is int else dumps(digest)
        return (
            f'{{"fields": {fields_text}, "changed": {changed_text}, "source_hash": {digest_text}}}'
        )

    return payload


_PAYLOAD_NAMES = 1_000
"""Distinct ``changed`` lists whose text ``_payload_text`` keeps (a plan has a few)."""


def _consecutive_ids(conn: Connection, floor: int, count: int) -> range | None:
    """On SQLite, the ids of the ``count`` rows just inserted above ``floor``, in the order
    they were inserted, when they are ``floor + 1`` on; None if they are not.

    SQLite gives each new row an id above every one the table holds, and the transaction
    holds its only write lock: the ``count`` rows it wrote are above ``floor``, so when
    the largest id is ``floor + count`` they are all the rows there, one after the other.
    One index read instead of reading every id back (``_ids_by_seq``, whose query SQLite
    answers by walking every row of the connector's outbox).
    """
    high = conn.execute(select(func.max(operations.c.id))).scalar() or 0
    return range(floor + 1, high + 1) if high - floor == count else None


def _ids_by_seq(
    writer: BulkWriter, connector: str, run_id: int, floor: int, start: int, end: int
) -> dict[int, int]:
    """The ids above ``floor`` of the run's operations with ``start <= seq < end``, by seq."""
    mark, quote = writer.placeholder, writer.quote
    query = (
        f"SELECT {quote('seq')}, {quote('id')} FROM {quote(operations.name)} "
        f"WHERE {quote('id')} > {mark} AND {quote('connector')} = {mark} "
        f"AND {quote('run_id')} = {mark} AND {quote('seq')} >= {mark} "
        f"AND {quote('seq')} < {mark} ORDER BY {quote('id')}"
    )
    rows = writer.fetchall(query, (floor, connector, run_id, start, end))
    return {seq: int(op_id) for seq, op_id in rows}


def _op_from_row(row: Any) -> Operation:
    payload = row.payload or {}
    return Operation(
        kind=OpKind(row.kind),
        hr_key=row.hr_key,
        remote_id=row.remote_id,
        fields=payload.get("fields") or {},
        changed=tuple(payload.get("changed") or ()),
        target=row.target,
        id=int(row.id),
        attempts=int(row.attempts),
    )


def open_operations(
    conn: Connection,
    connector: str,
    due: datetime | None = None,
    *,
    after: int = 0,
    upto: int | None = None,
) -> list[tuple[Operation, OpState, str | None]]:
    """Unfinished operations in plan order, with their state and job id; with ``due``,
    those waiting for a later attempt (``next_attempt_at`` after it) are left out. Only
    those with ids above ``after`` and up to ``upto``: a large outbox is read back a window
    of ids at a time (``id_window_end``)."""
    query = (
        select(operations)
        .where(
            operations.c.connector == connector,
            operations.c.state.in_([s.value for s in OPEN_STATES]),
            operations.c.id > after,
        )
        .order_by(operations.c.id)
    )
    if upto is not None:
        query = query.where(operations.c.id <= upto)
    return [(_op_from_row(r), OpState(r.state), r.job_id) for r in conn.execute(_due(query, due))]


def id_window_end(conn: Connection, after: int, size: int) -> int | None:
    """The id of the outbox's ``size``-th row after id ``after`` (any connector's, any
    state's), walked on the primary key; None when fewer rows follow. A window's open rows
    are then read through their own index: with ``ORDER BY id LIMIT`` instead, SQLite read
    and sorted every open row above ``after`` for each batch."""
    query = (
        select(operations.c.id)
        .where(operations.c.id > after)
        .order_by(operations.c.id)
        .offset(size - 1)
        .limit(1)
    )
    found = conn.execute(query).scalar()
    return None if found is None else int(found)


def unfinished_sends(
    conn: Connection, connector: str, due: datetime | None = None
) -> list[tuple[Operation, OpState, str | None]]:
    """The open operations an earlier send left in the air, in plan order: those waiting on
    a job, and creates whose answer was lost (``open_operations``' other rows are sent
    again as they are)."""
    states = operations.c.state
    query = (
        select(operations)
        .where(
            operations.c.connector == connector,
            or_(
                and_(states == OpState.WAITING.value, operations.c.job_id.is_not(None)),
                and_(
                    states.in_([OpState.SENT.value, OpState.UNKNOWN.value]),
                    operations.c.kind == OpKind.CREATE.value,
                ),
            ),
        )
        .order_by(operations.c.id)
    )
    return [(_op_from_row(r), OpState(r.state), r.job_id) for r in conn.execute(_due(query, due))]


def count_open_operations(conn: Connection, connector: str, due: datetime | None = None) -> int:
    """How many rows ``open_operations`` would read."""
    query = (
        select(func.count())
        .select_from(operations)
        .where(
            operations.c.connector == connector,
            operations.c.state.in_([s.value for s in OPEN_STATES]),
        )
    )
    return int(conn.execute(_due(query, due)).scalar_one())


def open_keys(
    conn: Connection, connector: str, kinds: Iterable[OpKind], due: datetime | None = None
) -> set[str]:
    """The HR keys of the open operations of ``kinds`` that are sent again as they are (none
    waiting on a job): whose write-only fields a resumed outbox renders."""
    query = select(operations.c.hr_key).where(
        operations.c.connector == connector,
        operations.c.kind.in_([kind.value for kind in kinds]),
        operations.c.state.in_([s.value for s in OPEN_STATES]),
        or_(operations.c.state != OpState.WAITING.value, operations.c.job_id.is_(None)),
    )
    return {row[0] for row in conn.execute(_due(query, due))}


def _due(query: Any, due: datetime | None) -> Any:
    """``query`` less the operations waiting for a later attempt than ``due``."""
    if due is None:
        return query
    waiting = operations.c.next_attempt_at
    return query.where(or_(waiting.is_(None), waiting <= due))


def operations_by_id(conn: Connection, ids: Iterable[int]) -> list[Operation]:
    """The recorded operations with these ids, in plan order, whatever their state."""
    found: list[Operation] = []
    for batch in chunked(sorted(set(ids))):
        query = select(operations).where(operations.c.id.in_(batch))
        found += [_op_from_row(row) for row in conn.execute(query)]
    return sorted(found, key=lambda op: op.id or 0)


def pending_operations_between(
    conn: Connection, connector: str, first_id: int, last_id: int
) -> list[Operation]:
    """The operations with ids ``first_id``..``last_id`` still to be sent, in plan order: a
    streamed plan is read back a recorded chunk at a time, never whole."""
    query = (
        select(operations)
        .where(
            operations.c.connector == connector,
            operations.c.id >= first_id,
            operations.c.id <= last_id,
            operations.c.state == OpState.PENDING.value,
        )
        .order_by(operations.c.id)
    )
    return [_op_from_row(row) for row in conn.execute(query)]


def mark_operations(
    conn: Connection,
    ids: Iterable[int],
    state: OpState,
    *,
    error: str | None = None,
    job_id: str | None = None,
    remote_id: str | None = None,
    count_attempt: bool = False,
    attempts: int | None = None,
    next_attempt_at: datetime | None = None,
) -> None:
    """Set these operations' state, and what is given; ``next_attempt_at`` is always
    written (None: as soon as a cycle comes), it belongs to the state it comes with."""
    ids = list(ids)
    if not ids:
        return
    values: dict[str, Any] = {
        "state": state.value,
        "updated_at": now(),
        "next_attempt_at": next_attempt_at,
    }
    if error is not None:
        values["error"] = error
    if job_id is not None:
        values["job_id"] = job_id
    if remote_id is not None:
        values["remote_id"] = remote_id
    if count_attempt:
        values["attempts"] = operations.c.attempts + 1
    if attempts is not None:
        values["attempts"] = attempts
    for start in range(0, len(ids), CHUNK):
        conn.execute(
            update(operations)
            .where(operations.c.id.in_(ids[start : start + CHUNK]))
            .values(**values)
        )


def confirm_operations(
    conn: Connection, confirmed: Sequence[tuple[int | None, str | None]]
) -> None:
    """Mark these operations done, each with the account id its answer gave (None keeps the
    one recorded): one statement for the lot."""
    if not confirmed:
        return
    statement = (
        update(operations)
        .where(operations.c.id == _bind("op_id"))
        .values(
            state=OpState.DONE.value,
            updated_at=now(),
            next_attempt_at=None,
            remote_id=func.coalesce(_bind("answered_id"), operations.c.remote_id),
        )
    )
    conn.execute(statement, [{"op_id": i, "answered_id": r} for i, r in confirmed])


def set_operation_remote_id(conn: Connection, op_id: int | None, remote_id: str) -> None:
    """The account an operation acts on, learnt after it was recorded (its create's answer)."""
    if op_id is not None:
        conn.execute(update(operations).where(operations.c.id == op_id).values(remote_id=remote_id))


def requeue_failed(conn: Connection, connector: str) -> int:
    """``syncd retry``: failed operations go back to pending with fresh attempts.

    Their people's source hashes are forgotten too, so the next cycle also
    re-diffs them against what the LMS confirmed.
    """
    keys = [
        r.hr_key
        for r in conn.execute(
            select(operations.c.hr_key).where(
                operations.c.connector == connector, operations.c.state == OpState.FAILED.value
            )
        )
    ]
    forget_source_hashes(conn, connector, set(keys))
    # A create sent again makes its person's link pending again, so the planner waits
    # for that create instead of planning a second one while its job still runs.
    creating = select(operations.c.hr_key).where(
        operations.c.connector == connector,
        operations.c.state == OpState.FAILED.value,
        operations.c.kind == OpKind.CREATE.value,
    )
    conn.execute(
        update(links)
        .where(
            links.c.connector == connector,
            links.c.status == LinkStatus.FAILED.value,
            links.c.hr_key.in_(creating),
        )
        .values(status=LinkStatus.PENDING.value)
    )
    result = conn.execute(
        update(operations)
        .where(operations.c.connector == connector, operations.c.state == OpState.FAILED.value)
        .values(
            state=OpState.PENDING.value,
            attempts=0,
            error=None,
            next_attempt_at=None,
            updated_at=now(),
        )
    )
    return result.rowcount


def count_operations(conn: Connection, connector: str, states: Iterable[OpState]) -> int:
    query = (
        select(func.count())
        .select_from(operations)
        .where(
            operations.c.connector == connector, operations.c.state.in_([s.value for s in states])
        )
    )
    return int(conn.execute(query).scalar_one())


# --- jobs -----------------------------------------------------------------------------------


def record_job(conn: Connection, connector: str, vendor: str, job_id: str, kind: str) -> None:
    upsert(
        conn,
        jobs,
        {
            "connector": connector,
            "vendor": vendor,
            "job_id": job_id,
            "kind": kind,
            "state": "waiting",
            "polls": 0,
            "submitted_at": now(),
        },
        ("connector", "job_id"),
        update_columns=(),
    )


def finish_job(
    conn: Connection, connector: str, job_id: str, state: str, detail: Any = None, polls: int = 0
) -> None:
    conn.execute(
        update(jobs)
        .where(jobs.c.connector == connector, jobs.c.job_id == job_id)
        .values(
            state=state,
            detail=detail,
            finished_at=now(),
            last_polled_at=now(),
            polls=jobs.c.polls + polls,
        )
    )


def jobs_submitted_at(
    conn: Connection, connector: str, job_ids: Sequence[str]
) -> dict[str, datetime]:
    """When each recorded job was sent (UTC); jobs the store does not know are left out."""
    rows = conn.execute(
        select(jobs.c.job_id, jobs.c.submitted_at).where(
            jobs.c.connector == connector, jobs.c.job_id.in_(list(job_ids))
        )
    )
    return {
        job_id: sent if sent.tzinfo else sent.replace(tzinfo=UTC)
        for job_id, sent in rows
        if sent is not None
    }


# --- runs, status, errors --------------------------------------------------------------------


def start_run(conn: Connection, connector: str, direction: str) -> int:
    result = conn.execute(
        insert(sync_runs).values(connector=connector, direction=direction, started_at=now())
    )
    return int(result.inserted_primary_key[0])


def finish_run(
    conn: Connection,
    run_id: int,
    outcome: str,
    counts: Mapping[str, int],
    detail: str | None = None,
) -> None:
    conn.execute(
        update(sync_runs)
        .where(sync_runs.c.id == run_id)
        .values(finished_at=now(), outcome=outcome, detail=detail, **counts)
    )


def close_abandoned_runs(conn: Connection, connector: str, direction: str) -> int:
    """Mark unfinished runs ``aborted``; call while holding the lease, so none can be alive."""
    return conn.execute(
        update(sync_runs)
        .where(
            sync_runs.c.connector == connector,
            sync_runs.c.direction == direction,
            sync_runs.c.finished_at.is_(None),
            sync_runs.c.outcome.is_(None),
        )
        .values(
            outcome="aborted",
            detail="the process ended before this cycle finished (killed or crashed)",
        )
    ).rowcount


def get_status(conn: Connection, connector: str, direction: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(sync_status).where(
            sync_status.c.connector == connector, sync_status.c.direction == direction
        )
    ).first()
    return dict(row._mapping) if row else None


def set_status(conn: Connection, connector: str, direction: str, **values: Any) -> None:
    """Set ``values`` on the status row, creating it (idle, no counts) when missing.

    One INSERT .. ON CONFLICT: two processes creating the row at once (replicas started
    together) both succeed, where reading first and then inserting let one of them die on
    the primary key.
    """
    row = {
        "connector": connector,
        "direction": direction,
        "state": "idle",
        "pending_ops": 0,
        "failed_ops": 0,
        "approved": False,
        **values,
    }
    upsert(conn, sync_status, row, ("connector", "direction"), update_columns=values)


def record_error(
    conn: Connection,
    connector: str,
    hr_key: str,
    operation: str,
    reason: str,
    direction: str = "push",
    operation_id: int | None = None,
    transient: bool = False,
    target: str | None = None,
) -> None:
    """One row per person, operation and ``target`` (the group, course or learning path of a
    membership or enrollment): repeated failures bump ``attempts``, and a person refused two
    courses keeps both reasons.

    ``transient``: the failure is the vendor's passing fault, tried again by itself
    (``syncd errors`` says so); else the record or the vendor's refusal must change.
    """
    stamp = now()
    # What makes the row this failure's, both to find it and to create it.
    identity = {
        "connector": connector,
        "direction": direction,
        "hr_key": hr_key,
        "operation": operation,
        "target": target or "",
    }
    updated = conn.execute(
        update(sync_errors)
        .where(*(sync_errors.c[name] == value for name, value in identity.items()))
        .values(
            reason=reason,
            last_seen_at=stamp,
            attempts=sync_errors.c.attempts + 1,
            resolved_at=None,
            operation_id=operation_id,
            transient=transient,
        )
    ).rowcount
    if not updated:
        conn.execute(
            insert(sync_errors).values(
                **identity,
                reason=reason,
                first_seen_at=stamp,
                last_seen_at=stamp,
                attempts=1,
                operation_id=operation_id,
                transient=transient,
            )
        )


def resolve_errors(
    conn: Connection,
    connector: str,
    hr_keys: Iterable[str],
    operations_: Iterable[str] | None = None,
    direction: str = "push",
) -> None:
    """Mark errors of these people solved (their record now passed or their operation worked)."""
    keys = list(hr_keys)
    for start in range(0, len(keys), CHUNK):
        condition = and_(
            sync_errors.c.connector == connector,
            sync_errors.c.direction == direction,
            sync_errors.c.hr_key.in_(keys[start : start + CHUNK]),
            sync_errors.c.resolved_at.is_(None),
        )
        if operations_ is not None:
            condition = and_(condition, sync_errors.c.operation.in_(list(operations_)))
        conn.execute(update(sync_errors).where(condition).values(resolved_at=now()))


def resolve_operation_error(conn: Connection, connector: str, op: Operation) -> None:
    """Mark the person's error of this operation's kind and target solved, now that ``op``
    worked: their errors about other groups or courses stay open.

    A row recorded by another operation of that kind and target that is still failed
    stays open too.
    """
    still_failed = select(operations.c.id).where(
        operations.c.connector == connector, operations.c.state == OpState.FAILED.value
    )
    conn.execute(
        update(sync_errors)
        .where(
            sync_errors.c.connector == connector,
            sync_errors.c.direction == "push",
            sync_errors.c.hr_key == op.hr_key,
            sync_errors.c.operation == op.kind.value,
            sync_errors.c.target == (op.target or ""),
            sync_errors.c.resolved_at.is_(None),
            or_(
                sync_errors.c.operation_id.is_(None),
                sync_errors.c.operation_id == op.id,
                sync_errors.c.operation_id.not_in(still_failed),
            ),
        )
        .values(resolved_at=now())
    )


def resolve_operation_errors(conn: Connection, connector: str, ops: Sequence[Operation]) -> None:
    """``resolve_operation_error`` for each of ``ops``, looking only at people who have an
    open push error at all (a first sync of a million has none to look at)."""
    open_errors: set[tuple[str, str]] = set()
    for keys in chunked({op.hr_key for op in ops}):
        query = select(sync_errors.c.hr_key, sync_errors.c.operation).where(
            sync_errors.c.connector == connector,
            sync_errors.c.direction == "push",
            sync_errors.c.hr_key.in_(keys),
            sync_errors.c.resolved_at.is_(None),
        )
        open_errors.update((key, operation) for key, operation in conn.execute(query))
    for op in ops:
        if (op.hr_key, op.kind.value) in open_errors:
            resolve_operation_error(conn, connector, op)


def count_open_errors(conn: Connection, connector: str, direction: str) -> int:
    """Unresolved ``sync_errors`` rows of one connector and direction (``failed_ops``)."""
    query = (
        select(func.count())
        .select_from(sync_errors)
        .where(
            sync_errors.c.connector == connector,
            sync_errors.c.direction == direction,
            sync_errors.c.resolved_at.is_(None),
        )
    )
    return int(conn.execute(query).scalar_one())

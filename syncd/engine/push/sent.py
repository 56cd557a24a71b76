"""What a cycle's resume handed to the sender, in three integers an operation.

The planner leaves out an operation that one the outbox sent earlier in the cycle already
covers (``plan.not_sent_already``). A resumed first sync sends a million operations before
the cycle plans, and holding them all for that comparison cost more than the resume. Each
is kept here as the hash of its (kind, person, target), its outbox id, and a digest of the
write-only values it was sent with (which the outbox never keeps); the few the plan could
repeat are read back from the outbox by id when the planner asks.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine

from syncd.model import Operation, OpKind
from syncd.state import store

Key = tuple[OpKind, str, str | None]
Covers = Callable[[Operation], bool]


class SentOps:
    """The operations a resume handed to the sender, noted batch by batch (``add``)."""

    def __init__(self, engine: Engine, hidden: frozenset[str]) -> None:
        self._engine = engine
        self._hidden = hidden  # the write-only fields
        self._runs: list[tuple[array, array, array]] = []  # a batch's each, sorted by key hash
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, ops: Iterable[Operation]) -> None:
        """Note operations as they were handed to the sender (write-only fields included)."""
        rows = sorted((_key_hash(op), op.id or 0, self._secret(op)) for op in ops)
        if rows:
            hashes, ids, secrets = zip(*rows, strict=True)
            self._runs.append((array("q", hashes), array("q", ids), array("q", secrets)))
            self._count += len(rows)

    def covers(self, ops: Sequence[Operation]) -> Covers:
        """Whether an operation of ``ops`` is covered by one noted here: one of the same kind,
        person and target (the last such) that carried every value it would send."""
        earlier = self._earlier(ops) if ops else {}
        if not earlier:
            return _nothing
        hidden = self._hidden

        def covered(op: Operation) -> bool:
            found = earlier.get((op.kind, op.hr_key, op.target))
            if found is None:
                return False
            before, secret = found
            shown = [name for name in op.changed if name not in hidden]
            if not all(
                name in before.fields and before.fields[name] == op.fields.get(name)
                for name in shown
            ):
                return False
            unseen = {name: op.fields.get(name) for name in op.changed if name in hidden}
            return not unseen or secret == _digest(unseen)

        return covered

    def _earlier(self, ops: Sequence[Operation]) -> dict[Key, tuple[Operation, int]]:
        """The noted operations with the key of one of ``ops``, read back from the outbox by id
        with the digest of their write-only values; the last of a key wins."""
        wanted: dict[int, int] = {}  # id -> secret
        if self._count <= len(ops):  # few noted (a retry's few): index them, not the plan
            noted: dict[int, list[tuple[int, int]]] = {}
            for hashes, ids, secrets in self._runs:
                for digest, op_id, secret in zip(hashes, ids, secrets, strict=True):
                    noted.setdefault(digest, []).append((op_id, secret))
            for op in ops:
                wanted.update(noted.get(_key_hash(op), ()))
        elif len(ops) * len(self._runs) <= self._count:  # a few planned: searched for a run
            for hashes, ids, secrets in self._runs:
                for op in ops:
                    for at in _positions(hashes, _key_hash(op)):
                        wanted[ids[at]] = secrets[at]
        else:  # many of both: every run scanned once
            planned = {_key_hash(op) for op in ops}
            for hashes, ids, secrets in self._runs:
                for at, digest in enumerate(hashes):
                    if digest in planned:
                        wanted[ids[at]] = secrets[at]
        if not wanted:
            return {}
        with self._engine.connect() as conn:
            read = store.operations_by_id(conn, wanted)
        return {(op.kind, op.hr_key, op.target): (op, wanted[op.id or 0]) for op in read}

    def _secret(self, op: Operation) -> int:
        """A digest of the write-only values ``op`` carries; 0 when it carries none."""
        if not self._hidden or self._hidden.isdisjoint(op.fields):
            return 0
        carried = {name: value for name, value in op.fields.items() if name in self._hidden}
        return _digest(carried) if carried else 0


def _positions(hashes: array, digest: int) -> range:
    """Where ``digest`` is in the sorted ``hashes``."""
    first = bisect_left(hashes, digest)
    return range(first, bisect_right(hashes, digest, lo=first))


def _key_hash(op: Operation) -> int:
    return hash((op.kind._value_, op.hr_key, op.target))


def _digest(values: Mapping[str, Any]) -> int:
    """Equal for equal values (in this process); never 0, which says none were carried."""
    return hash(tuple(sorted((name, repr(value)) for name, value in values.items()))) or 1


def _nothing(_op: Operation) -> bool:
    return False

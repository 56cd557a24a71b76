"""The order and the batches operations are sent in (SPEC §4.4). Pure functions.

Leavers' deactivations go first, then reactivations, creates and updates
(batched where the vendor has batch endpoints), then group memberships and
enrollments. Within a phase operations are sorted so that the same input
always gives the same plan.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import groupby
from operator import attrgetter

from syncd.model import Operation, OpKind
from syncd.vendors.base import Capabilities


def order(ops: Iterable[Operation]) -> list[Operation]:
    return sorted(ops, key=_SORT_KEY)


_SORT_KEY = attrgetter("sort_key")
"""``op.sort_key``, without a Python call of its own for each of a first sync's millions."""


def batches(ops: Sequence[Operation], capabilities: Capabilities) -> Iterator[list[Operation]]:
    """Consecutive runs of one kind, cut to the vendor's batch size for that kind.

    ``ops`` must already be ordered; a person's operations of different kinds
    never share a batch, so a reactivation is confirmed before its update.
    """
    for kind, run in groupby(ops, key=lambda op: op.kind):
        size = max(1, capabilities.batch_size(kind))
        chunk: list[Operation] = []
        for op in run:
            chunk.append(op)
            if len(chunk) == size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


def summary(ops: Iterable[Operation]) -> dict[str, int]:
    """Counts by kind, in execution order, for plan output."""
    return summary_of(Counter(op.kind for op in ops))


def summary_of(counts: Mapping[OpKind, int]) -> dict[str, int]:
    """``summary`` from the number of operations of each kind (a plan not held whole)."""
    return {
        kind.value: counts[kind]
        for kind in sorted(OpKind, key=lambda k: (k.phase, k.value))
        if counts[kind]
    }

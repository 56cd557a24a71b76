"""The order HowNow needs within one plan: managers first, reports moved before a manager leaves.

HowNow's upsert refuses a ``manager_id`` that does not exist or is not active
(digest §4.3 [L650]), and deactivation clears nothing on the reports side
(Q25), so within one plan:

1. a person's own operations keep their order (a rehire's reactivation before its update);
2. whoever makes a manager exist or active again (their create or reactivation) goes
   before every upsert naming them as manager;
3. every upsert naming someone as manager goes before that person's deactivation or
   deletion (it would be refused once they are gone);
4. an update that moves someone to another manager goes before every deactivation and
   deletion in the plan. The old manager is not in the operation (only the new one
   is), so all leavers wait for the moves; without such moves, leavers still go first.

Everything else keeps the engine's order (leavers, reactivations, creates and
updates). The result is a topological order; among operations free to go, the
engine's phase comes first, then the level in the management chain (everyone whose
manager is not created in this plan, then their reports, then theirs ...), then the
original position. Going level by level means a manager's job has usually ended
long before their reports are sent, so the adapter rarely has to wait for it. A
cycle in the data (two people managing each other) is broken at the earliest
operation still waiting, and HowNow's answer then says what is wrong.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Sequence

import syncd.vendors.hownow.users as users
from syncd.model import Operation, OpKind

UPSERTING = (OpKind.CREATE, OpKind.UPDATE, OpKind.REACTIVATE)
MAKES_ACTIVE = (OpKind.CREATE, OpKind.REACTIVATE)


def external_id_of(op: Operation) -> str:
    """Who an operation is about, as HowNow knows them (leavers carry only their remote id)."""
    return users.external_user_id(op.fields) or op.remote_id or op.hr_key


def arrange(ops: Sequence[Operation]) -> list[Operation]:
    count = len(ops)
    barrier = count  # a virtual node: manager moves -> barrier -> leavers
    successors: list[list[int]] = [[] for _ in range(count + 1)]
    waiting_on = [0] * (count + 1)
    parents: list[list[int]] = [[] for _ in range(count + 1)]  # who makes my manager exist

    def edge(before: int, after: int) -> None:
        if before != after:
            successors[before].append(after)
            waiting_on[after] += 1

    last_of_person: dict[str, int] = {}
    makers: dict[str, list[int]] = defaultdict(list)
    leavers: dict[str, list[int]] = defaultdict(list)
    for i, op in enumerate(ops):
        if op.hr_key in last_of_person:
            edge(last_of_person[op.hr_key], i)
        last_of_person[op.hr_key] = i
        if op.kind in MAKES_ACTIVE:
            makers[external_id_of(op)].append(i)
        elif op.kind.is_deprovision:
            leavers[external_id_of(op)].append(i)
    moves = False
    for i, op in enumerate(ops):
        if op.kind not in UPSERTING:
            continue
        manager = users.manager_external_id(op.fields)
        if manager is not None:
            for maker in makers.get(manager, ()):
                if maker != i:
                    edge(maker, i)
                    parents[i].append(maker)
            for leaver in leavers.get(manager, ()):
                edge(i, leaver)
        if op.kind is OpKind.UPDATE and "manager_id" in op.changed:
            edge(i, barrier)
            moves = True
    if moves:
        for indexes in leavers.values():
            for leaver in indexes:
                edge(barrier, leaver)
    phases = [op.kind.phase for op in ops] + [-1]  # the barrier goes as soon as it is free
    order = _topological(phases, parents, successors, waiting_on)
    return [ops[i] for i in order if i != barrier]


def _topological(
    phases: list[int],
    parents: list[list[int]],
    successors: list[list[int]],
    waiting_on: list[int],
) -> list[int]:
    """Kahn's algorithm; among free nodes the smallest (phase, level, position) goes first.

    A node's level is one more than its managers' makers' (all placed before it), so it is
    known when the node becomes free. A cycle is broken at its earliest node.
    """
    size = len(phases)
    levels = [0] * size
    done = [False] * size

    def key(node: int) -> tuple[int, int, int]:
        placed = [levels[p] for p in parents[node] if done[p]]
        levels[node] = 1 + max(placed) if placed else 0
        return (phases[node], levels[node], node)

    ready = [key(i) for i in range(size) if waiting_on[i] == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while len(order) < size:
        if not ready:
            stuck = next(i for i in range(size) if not done[i])
            waiting_on[stuck] = 0
            ready.append(key(stuck))
        *_, node = heapq.heappop(ready)
        if done[node]:
            continue
        done[node] = True
        order.append(node)
        for after in successors[node]:
            waiting_on[after] -= 1
            if waiting_on[after] == 0 and not done[after]:
                heapq.heappush(ready, key(after))
    return order

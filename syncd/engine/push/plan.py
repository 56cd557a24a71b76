"""Push step 2, plan: what the LMS must be told, as minimal ordered operations (SPEC §4 step 3).

The people the source changed are compared with their links (the diff), leavers
are found, accounts the LMS already has are adopted instead of created again,
and the operations are put in order; the guard then says whether the plan may go.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine

from syncd.engine.diff import DiffPolicy, diff_user, may_deprovision
from syncd.engine.guard import GuardVerdict, Threshold, check
from syncd.engine.push.order import order
from syncd.engine.push.read import Digests, Reading
from syncd.engine.push.sent import SentOps
from syncd.model import DesiredUser, LinkState, LinkStatus, Operation
from syncd.state import store
from syncd.vendors.base import Adapter


@dataclass(slots=True)
class Plan:
    """Everything a cycle decided, before anything is sent."""

    ops: list[Operation] = field(default_factory=list)
    desired: dict[str, DesiredUser] = field(default_factory=dict)  # changed people, planned now
    links: dict[str, LinkState] = field(default_factory=dict)  # their links (and leavers')
    adopted: dict[str, LinkState] = field(default_factory=dict)  # matched existing accounts
    deferred: int = 0  # people whose create is still in flight
    leavers_deferred: int = 0  # missing people not deactivated: some records had no key

    def release(self) -> None:
        """Forget the people once the operations are recorded (they keep what they send).

        ``desired`` may be the reading's own dict: it is let go, not emptied."""
        self.desired = {}
        for kept in (self.links, self.adopted):
            kept.clear()


def plan_changes(
    engine: Engine,
    connector: str,
    reading: Reading,
    digests: Digests,
    *,
    adapter: Adapter,
    policy: DiffPolicy,
    match: str | None,
    only: frozenset[str] | None = None,
    sent_this_cycle: SentOps | None = None,
) -> Plan:
    """The operations that bring the LMS in line with ``reading``, in the order they must go;
    none that ``sent_this_cycle`` (the outbox's, sent before planning) already covers."""
    # The reading's own people, never changed here: no copy of a million at a first sync.
    plan = Plan(desired=reading.desired)
    status = getattr(digests, "status", _linked)  # read_people left only gone or out of scope
    leavers = [
        k
        for k in digests
        if may_deprovision(status(k), policy)
        and (k not in reading.seen or k in reading.out_of_scope)
        and k not in reading.held
        and (only is None or k in only)
    ]
    if reading.keyless:
        # A record whose key is blank may be one of the people missing: none goes this time.
        gone = [k for k in leavers if k not in reading.seen]
        plan.leavers_deferred = len(gone)
        leavers = [k for k in leavers if k in reading.seen]
    with engine.connect() as conn:
        plan.links = store.load_links(conn, connector, [*plan.desired, *leavers])
    in_flight = {  # a create still in flight (a job not yet finished): decide once it has
        hr_key
        for hr_key, link in plan.links.items()
        if link.status is LinkStatus.PENDING and link.remote_id is None and hr_key in plan.desired
    }
    if in_flight:
        plan.desired = {k: v for k, v in plan.desired.items() if k not in in_flight}
        plan.deferred = len(in_flight)
    adopt_existing_accounts(plan, adapter, match)

    ops: list[Operation] = []
    for hr_key, desired in plan.desired.items():
        ops += diff_user(desired, plan.links.get(hr_key), policy)
    for hr_key in leavers:
        ops += diff_user(None, plan.links.get(hr_key), policy)
    plan.ops = adapter.arrange(order(not_sent_already(ops, sent_this_cycle)))
    return plan


def guard(
    conn: Connection,
    connector: str,
    plan: Plan,
    threshold: Threshold,
    linked: int | None = None,
) -> tuple[GuardVerdict, bool]:
    """The guard's verdict on ``plan``, and whether ``syncd approve`` let it go once.

    ``linked`` is the number of linked people when the cycle already counted them (the
    links it read, ``LinkDigests.linked``), else they are counted here."""
    if linked is None:
        linked = store.count_links(conn, connector, [LinkStatus.LINKED])
    approved = bool((store.get_status(conn, connector, "push") or {}).get("approved"))
    return check(plan.ops, linked, threshold), approved


def not_sent_already(ops: list[Operation], sent: SentOps | None) -> list[Operation]:
    """``ops`` less those an outbox operation sent this cycle already covers.

    ``syncd retry`` forgets its people's hashes, so they are diffed again after their
    requeued operations went: one the vendor refused again would otherwise be planned
    and sent a second time, and counted twice. An operation is covered by a sent one of
    the same kind, person and target that carried every value it would send (``SentOps``).
    """
    if not sent:
        return ops
    covered = sent.covers(ops)
    return [op for op in ops if not covered(op)]


def _linked(_hr_key: str) -> LinkStatus:
    """The status of a link in a plain digests mapping: ``store.link_digests`` keeps the
    others'."""
    return LinkStatus.LINKED


_NEVER_CREATED = (LinkStatus.FAILED, LinkStatus.DELETED)


def adopt_existing_accounts(plan: Plan, adapter: Adapter, match: str | None) -> None:
    """Link people about to be created to accounts the LMS already has (first sync)."""
    candidates = [
        desired
        for hr_key, desired in plan.desired.items()
        if desired.active
        and (
            plan.links.get(hr_key) is None
            or (
                plan.links[hr_key].status in _NEVER_CREATED and plan.links[hr_key].remote_id is None
            )
        )
    ]
    if not candidates:
        return
    found = adapter.match_existing(candidates, match)
    for hr_key, account in found.items():
        active = True if account.active is None else account.active
        link = LinkState(
            hr_key=hr_key,
            remote_id=account.remote_id,
            fields={},
            active=active,
            status=LinkStatus.LINKED if active else LinkStatus.DEACTIVATED,
        )
        plan.links[hr_key] = link
        plan.adopted[hr_key] = link

"""From the HR source to a plan: read, render, validate, diff, match (SPEC §4 steps 1-3).

Memory stays bounded by the number of *changed* people: for everyone else only
the HR key and a hash of (record, mapping) are held, and an unchanged hash
skips rendering, validation and the diff altogether.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from sqlalchemy import Engine

from syncd.engine.diff import DiffPolicy, diff_user
from syncd.engine.plan import order
from syncd.model import DesiredUser, LinkState, LinkStatus, Operation, OpKind, stable_hash
from syncd.state import store
from syncd.vendors.base import Adapter


class SourceEmpty(Exception):
    """The source gave no record: nothing is deprovisioned on an empty source (SPEC §6)."""


class MapperLike(Protocol):
    fingerprint: str

    def in_scope(self, record: dict[str, Any]) -> bool: ...

    def render(self, hr_key: str, record: dict[str, Any]) -> DesiredUser: ...


@dataclass(slots=True)
class RecordError:
    hr_key: str
    operation: str  # source | map | validate
    reason: str


@dataclass(slots=True)
class Plan:
    """Everything a cycle decided, before anything is sent."""

    ops: list[Operation] = field(default_factory=list)
    desired: dict[str, DesiredUser] = field(default_factory=dict)  # changed people only
    links: dict[str, LinkState] = field(default_factory=dict)  # their links (and leavers')
    adopted: dict[str, LinkState] = field(default_factory=dict)  # matched existing accounts
    errors: list[RecordError] = field(default_factory=list)
    valid_keys: set[str] = field(default_factory=set)  # rendered and validated this cycle
    records_seen: int = 0
    unchanged: int = 0
    deferred: int = 0

    @property
    def source_hashes(self) -> dict[str, str]:
        return {k: d.source_hash for k, d in self.desired.items()}


def record_hash(fingerprint: str, record: Mapping[str, Any]) -> str:
    """The hash the mapping also stamps on each DesiredUser: record + mapping together."""
    return stable_hash([fingerprint, record])


def build_plan(
    *,
    connector: str,
    engine: Engine,
    records: Iterable[Any],
    key: str,
    mapper: MapperLike,
    adapter: Adapter,
    policy: DiffPolicy,
    match: str | None,
    only: frozenset[str] | None = None,
) -> Plan:
    """Read the whole source and work out the minimal ordered operations.

    ``only`` limits the plan to these HR keys (provisioning on demand): the rest
    of the source is read, for duplicate keys, but neither changed nor removed.
    """
    plan = Plan()
    with engine.connect() as conn:
        digests = store.link_digests(conn, connector)
    seen: set[str] = set()
    held: set[str] = set()  # present in the source but unusable: neither updated nor removed
    duplicates: set[str] = set()
    out_of_scope: set[str] = set()

    adapter.begin_validation()
    for record in records:
        plan.records_seen += 1
        data = record.data
        hr_key = _key_of(data, key)
        if hr_key is None:
            plan.errors.append(
                RecordError(
                    f"<{record.position}>",
                    "source",
                    f"{record.position}: the record has no {key!r}",
                )
            )
            continue
        if hr_key in seen:
            duplicates.add(hr_key)
            continue
        seen.add(hr_key)
        if only is not None and hr_key not in only:
            continue
        problem = getattr(record, "problem", None)
        if problem:
            plan.errors.append(RecordError(hr_key, "source", f"{record.position}: {problem}"))
            held.add(hr_key)
            continue
        digest = digests.get(hr_key)
        if (
            digest is not None
            and digest[0] is not None
            and digest[0] == record_hash(mapper.fingerprint, data)
        ):
            plan.unchanged += 1
            continue
        desired = _render(mapper, hr_key, data, plan, out_of_scope, held)
        if desired is None:
            continue
        reasons = adapter.validate(desired)
        if reasons:
            plan.errors.append(RecordError(hr_key, "validate", "; ".join(reasons)))
            held.add(hr_key)
            continue
        plan.desired[hr_key] = desired
        plan.valid_keys.add(hr_key)

    if plan.records_seen == 0:
        raise SourceEmpty("the source gave no record; nothing is changed or deprovisioned")
    for hr_key in duplicates if only is None else duplicates & only:
        plan.errors.append(
            RecordError(
                hr_key,
                "source",
                f"{key} {hr_key!r} appears more than once in the source; "
                "none of its records is used until it is unique",
            )
        )
        plan.desired.pop(hr_key, None)
        plan.valid_keys.discard(hr_key)
        held.add(hr_key)

    existing = (LinkStatus.LINKED.value, LinkStatus.DEACTIVATED.value)
    leavers = [
        k
        for k, (_h, status) in digests.items()
        if status in existing and (k not in seen or k in out_of_scope) and k not in held
        and (only is None or k in only)
    ]
    with engine.connect() as conn:
        plan.links = store.load_links(conn, connector, [*plan.desired, *leavers])
    for hr_key, link in plan.links.items():
        if link.status is LinkStatus.PENDING and link.remote_id is None and hr_key in plan.desired:
            # Its create is still in flight (a job not yet finished): decide once it has.
            del plan.desired[hr_key]
            plan.deferred += 1
    _adopt_existing_accounts(plan, adapter, match)

    ops: list[Operation] = []
    for hr_key, desired in plan.desired.items():
        ops += diff_user(desired, plan.links.get(hr_key), policy)
    for hr_key in leavers:
        ops += diff_user(None, plan.links.get(hr_key), policy)
    plan.ops = adapter.arrange(order(ops))
    return plan


def render_fields(
    records: Iterable[Any], key: str, mapper: MapperLike, wanted: set[str], fields: frozenset[str]
) -> dict[str, dict[str, Any]]:
    """``fields`` of the people in ``wanted`` as their source records render now.

    For creates resumed after a crash: the outbox never keeps write-only fields
    such as a mapped initial password, so they are rendered again from the source.
    A record that no longer renders is left out (the create then goes without).
    """
    from syncd.mapping import MappingError

    found: dict[str, dict[str, Any]] = {}
    for record in records:
        hr_key = _key_of(record.data, key)
        if hr_key not in wanted or hr_key in found:
            continue
        try:
            desired = mapper.render(hr_key, record.data)
        except MappingError:
            continue
        found[hr_key] = {name: desired.fields[name] for name in fields if name in desired.fields}
        if len(found) == len(wanted):
            break
    return found


def _key_of(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _render(
    mapper: MapperLike,
    hr_key: str,
    data: dict[str, Any],
    plan: Plan,
    out_of_scope: set[str],
    held: set[str],
) -> DesiredUser | None:
    from syncd.mapping import MappingError

    try:
        if not mapper.in_scope(data):
            out_of_scope.add(hr_key)
            return None
        return mapper.render(hr_key, data)
    except MappingError as error:
        plan.errors.append(RecordError(hr_key, "map", str(error.reason)))
        held.add(hr_key)
        return None


_NEVER_CREATED = (LinkStatus.FAILED, LinkStatus.DELETED)


def _adopt_existing_accounts(plan: Plan, adapter: Adapter, match: str | None) -> None:
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


def creates_of(plan: Plan) -> list[Operation]:
    return [op for op in plan.ops if op.kind is OpKind.CREATE]


def without_write_only(fields: Mapping[str, Any], policy: DiffPolicy) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if k not in policy.write_only_fields}


def pending_link(desired: DesiredUser) -> LinkState:
    """The link a create leaves until the vendor confirms it."""
    return replace(
        LinkState(hr_key=desired.hr_key, remote_id=None, fields={}, active=False),
        status=LinkStatus.PENDING,
        source_hash=desired.source_hash,
    )

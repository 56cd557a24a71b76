"""The diff: desired state vs. what was last pushed, as operations. Pure functions.

No database, no HTTP, no clock: ``diff_user`` looks at one person's desired
state and link and answers the minimal operations; ``apply_ops`` is its
inverse, used by the engine to update links once operations are confirmed
(and by the property tests: applying a plan to the old state gives the new).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from syncd.model import DesiredUser, LinkState, LinkStatus, Operation, OpKind

ON_MISSING = ("deactivate", "delete", "ignore")


@dataclass(frozen=True, slots=True)
class DiffPolicy:
    """Connector settings the diff obeys."""

    on_missing: str = "deactivate"
    unenroll_removed: bool = False  # removing a course from the mapping unenrolls (loses progress)
    write_only_fields: frozenset[str] = frozenset()  # sent on create, never compared or stored
    leaver_groups: str = "keep"  # users.on_leave.groups: "remove" also takes leavers out of groups


def stored_fields(fields: Mapping[str, Any], policy: DiffPolicy) -> dict[str, Any]:
    """The fields a link keeps: everything but write-only fields such as passwords."""
    return {k: v for k, v in fields.items() if k not in policy.write_only_fields}


def changed_fields(desired: Mapping[str, Any], pushed: Mapping[str, Any], policy: DiffPolicy):
    """Names of fields whose desired value differs from the last pushed one, sorted."""
    return tuple(
        sorted(
            name
            for name, value in desired.items()
            if name not in policy.write_only_fields and pushed.get(name, _ABSENT) != value
        )
    )


_ABSENT = object()

_EXISTS = (LinkStatus.LINKED, LinkStatus.DEACTIVATED, LinkStatus.PENDING)


def diff_user(
    desired: DesiredUser | None, link: LinkState | None, policy: DiffPolicy
) -> list[Operation]:
    """The operations that bring one person's LMS account from ``link`` to ``desired``.

    ``desired`` None means the person left the source or the scope.
    """
    exists = link is not None and link.status in _EXISTS
    if desired is None:
        return _deprovision(link, policy) if exists else []
    if not exists:
        return _provision(desired) if desired.active else []
    assert link is not None
    remote_id = link.remote_id
    if not desired.active:
        if link.active:
            deactivate = Operation(OpKind.DEACTIVATE, desired.hr_key, remote_id)
            return [deactivate, *_leaving(link, policy)]
        return []
    ops: list[Operation] = []
    if not link.active:
        ops.append(Operation(OpKind.REACTIVATE, desired.hr_key, remote_id, dict(desired.fields)))
    changed = changed_fields(desired.fields, link.fields, policy)
    if changed:
        ops.append(
            Operation(OpKind.UPDATE, desired.hr_key, remote_id, dict(desired.fields), changed)
        )
    ops.extend(_memberships(desired, link.groups, link.courses, remote_id, policy))
    return ops


def _provision(desired: DesiredUser) -> list[Operation]:
    """A create carries the desired fields themselves, not a copy (nothing changes an
    operation's fields in place): a first sync holds a million of them."""
    fields, key, none = desired.fields, desired.hr_key, _NO_FIELDS
    ops = [Operation(OpKind.CREATE, key, None, fields, _names(tuple(fields)))]
    # ``_memberships`` of an account with none: every group added, then every course
    # enrolled, each by name (its order, without a sort key an operation).
    ops += [Operation(OpKind.GROUP_ADD, key, None, none, target=g) for g in sorted(desired.groups)]
    ops += [Operation(OpKind.ENROLL, key, None, none, target=c) for c in sorted(desired.courses)]
    return ops


_NO_FIELDS: Mapping[str, Any] = {}
"""The fields of every membership operation: one shared empty mapping, not a new dict each
(a first sync has a million of them; nothing changes an operation's fields in place)."""


@lru_cache(maxsize=64)
def _names(names: tuple[str, ...]) -> tuple[str, ...]:
    """Field names sorted, one tuple shared by every create with the same fields."""
    return tuple(sorted(names))


def may_deprovision(status: LinkStatus, policy: DiffPolicy) -> bool:
    """Whether a person gone from the source or the scope can still get an operation while
    their link is in ``status``: an account syncd deactivated is only ever deleted after
    (``on_missing: delete``). So a cycle loads no link of the people who left long ago and
    are already deactivated: they accumulate for years, and would be loaded every cycle."""
    if status is LinkStatus.DEACTIVATED:
        return policy.on_missing == "delete"
    return status is LinkStatus.LINKED


def _deprovision(link: LinkState | None, policy: DiffPolicy) -> list[Operation]:
    assert link is not None
    if policy.on_missing == "delete":
        return [Operation(OpKind.DELETE, link.hr_key, link.remote_id)]
    if policy.on_missing == "deactivate" and link.active:
        return [Operation(OpKind.DEACTIVATE, link.hr_key, link.remote_id), *_leaving(link, policy)]
    return []


def _leaving(link: LinkState, policy: DiffPolicy) -> list[Operation]:
    """A deactivated leaver's group removals under ``on_leave.groups: remove`` (never courses:
    unenrolling would discard their progress)."""
    if policy.leaver_groups != "remove":
        return []
    return [
        Operation(OpKind.GROUP_REMOVE, link.hr_key, link.remote_id, target=group)
        for group in sorted(link.groups)
    ]


def _memberships(
    desired: DesiredUser,
    groups: frozenset[str],
    courses: frozenset[str],
    remote_id: str | None,
    policy: DiffPolicy,
) -> list[Operation]:
    key, none = desired.hr_key, _NO_FIELDS
    ops = [
        Operation(OpKind.GROUP_REMOVE, key, remote_id, none, target=g)
        for g in groups - desired.groups
    ]
    ops += [
        Operation(OpKind.GROUP_ADD, key, remote_id, none, target=g) for g in desired.groups - groups
    ]
    if policy.unenroll_removed:
        ops += [
            Operation(OpKind.UNENROLL, key, remote_id, none, target=c)
            for c in courses - desired.courses
        ]
    ops += [
        Operation(OpKind.ENROLL, key, remote_id, none, target=c) for c in desired.courses - courses
    ]
    return sorted(ops, key=lambda op: op.sort_key)


def apply_ops(
    link: LinkState | None,
    ops: Sequence[Operation],
    policy: DiffPolicy,
    desired: DesiredUser | None = None,
) -> LinkState | None:
    """The link after ``ops`` all succeeded; ``desired`` supplies the source hash to remember."""
    for op in ops:
        link = _apply(link, op, policy)
    if link is not None and desired is not None:
        link = replace(link, source_hash=desired.source_hash)
    return link


def _apply(link: LinkState | None, op: Operation, policy: DiffPolicy) -> LinkState | None:
    kind = op.kind
    if kind is OpKind.CREATE:
        return LinkState(
            hr_key=op.hr_key,
            remote_id=op.remote_id,
            fields=stored_fields(op.fields, policy),
            active=True,
            status=LinkStatus.LINKED,
        )
    if link is None:
        raise ValueError(f"{op.describe()}: no link to apply it to")
    if kind is OpKind.UPDATE:
        fields = dict(link.fields)
        fields.update({name: op.fields[name] for name in op.changed})
        return replace(link, fields=fields)
    if kind is OpKind.REACTIVATE:
        return replace(link, active=True, status=LinkStatus.LINKED)
    if kind is OpKind.DEACTIVATE:
        return replace(link, active=False, status=LinkStatus.DEACTIVATED)
    if kind is OpKind.DELETE:
        return replace(
            link, active=False, status=LinkStatus.DELETED, groups=frozenset(), courses=frozenset()
        )
    target = op.target or ""
    if kind is OpKind.GROUP_ADD:
        return replace(link, groups=link.groups | {target})
    if kind is OpKind.GROUP_REMOVE:
        return replace(link, groups=link.groups - {target})
    if kind is OpKind.ENROLL:
        return replace(link, courses=link.courses | {target})
    if kind is OpKind.UNENROLL:
        return replace(link, courses=link.courses - {target})
    raise ValueError(f"unknown operation kind {kind}")

"""Checks no single model can make: cross references, duplicate names, capabilities, templates."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from syncd.config.models import EnrollmentRule, GroupRule, PullConfig, UsersConfig
from syncd.config.problems import RawPath, _Problems
from syncd.vendors.targets import LearningPoolTarget, TargetConfig


def _cross_check(data: dict, problems: _Problems) -> None:
    sources = data.get("sources") if isinstance(data.get("sources"), dict) else {}
    sinks = data.get("sinks") if isinstance(data.get("sinks"), dict) else {}
    connectors = data.get("connectors")
    if not isinstance(connectors, list):
        return
    first_index: dict[str, int] = {}
    for i, raw in enumerate(connectors):
        if not isinstance(raw, dict):
            continue
        here: RawPath = ("connectors", i)
        name = raw.get("name")
        if isinstance(name, str):
            if name in first_index:
                other = first_index[name]
                problems.add(
                    (*here, "name"),
                    f"duplicate connector name {name!r} (connectors[{other}] has it too)",
                )
            else:
                first_index[name] = i
        source = raw.get("source")
        if isinstance(source, str) and source not in sources:
            problems.add((*here, "source"), _unknown_reference("source", source, sources))
        pull = raw.get("pull")
        if (
            isinstance(pull, dict)
            and isinstance(pull.get("sink"), str)
            and pull["sink"] not in sinks
        ):
            problems.add((*here, "pull", "sink"), _unknown_reference("sink", pull["sink"], sinks))
        parts = _ConnectorParts.of(raw)
        for relative, message in _connector_problems(parts, problems.format(here)):
            problems.add(here + relative, message)


def _unknown_reference(kind: str, name: str, defined: Mapping[str, Any]) -> str:
    known = ", ".join(sorted(defined)) or "none"
    return f"unknown {kind} {name!r}; defined {kind}s: {known}"


@dataclass(frozen=True, slots=True)
class _ConnectorParts:
    """The parts of one connector that validate on their own (None: invalid or absent).

    Checking parts separately lets one pass report a vendor capability problem or a
    template error even when another key of the same connector is wrong too.
    """

    scope: str | None
    target: Any
    users: UsersConfig | None
    groups: list[GroupRule]
    enrollments: list[EnrollmentRule]
    pull: PullConfig | None

    @classmethod
    def of(cls, raw: dict) -> _ConnectorParts:
        scope = raw.get("scope")
        return cls(
            scope=scope if isinstance(scope, str) else None,
            target=_valid(_TARGET, raw.get("target")),
            users=_valid(_USERS, raw.get("users")),
            groups=_valid(_GROUPS, raw.get("groups", [])) or [],
            enrollments=_valid(_ENROLLMENTS, raw.get("enrollments", [])) or [],
            pull=_valid(_PULL, raw.get("pull")),
        )


_TARGET: TypeAdapter[Any] = TypeAdapter(TargetConfig)
_USERS = TypeAdapter(UsersConfig)
_GROUPS = TypeAdapter(list[GroupRule])
_ENROLLMENTS = TypeAdapter(list[EnrollmentRule])
_PULL = TypeAdapter(PullConfig)


def _valid(adapter: TypeAdapter[Any], value: Any) -> Any:
    if value is None:
        return None
    try:
        return adapter.validate_python(value)
    except ValidationError:
        return None  # reported by the whole-document validation


def _connector_problems(parts: _ConnectorParts, label: str) -> list[tuple[RawPath, str]]:
    """What a connector asks that its vendor cannot do, and templates that do not compile.

    ``label`` is the connector's printed path (``connectors[talentlms]``), quoted in advice.
    """
    from syncd.mapping import template_problems

    found: list[tuple[RawPath, str]] = []
    if parts.target is not None:
        found += _capability_problems(parts, label)
    users = parts.users
    if users is not None and users.match is not None and users.match not in users.fields:
        fields = ", ".join(users.fields)
        found.append((("users", "match"), f"{users.match!r} is not one of users.fields ({fields})"))
    for problem in template_problems(parts.scope, users, parts.groups, parts.enrollments):
        found.append((_split_relative(problem.path), problem.message))
    return found


def _capability_problems(parts: _ConnectorParts, label: str) -> list[tuple[RawPath, str]]:
    from syncd.vendors.registry import (
        capabilities_for,
        missing_reason,
        user_operations,
        vendor_info,
    )

    target = parts.target
    vendor = target.type
    info = vendor_info(vendor)
    caps = capabilities_for(target)
    found: list[tuple[RawPath, str]] = []
    configurable = isinstance(target, LearningPoolTarget)

    def lacks(path: RawPath, what: str, capability: str, remedy: str) -> None:
        reason = missing_reason(target, capability)
        if configurable and reason.startswith("target.endpoints"):
            remedy = f"configure them or {remedy}"
        found.append((path, f"{vendor} cannot {what} ({reason}); {remedy}"))

    if parts.groups and not caps.groups:
        lacks(("groups",), "write group memberships", "groups", f"remove {label}.groups")
    if parts.enrollments and not caps.enrollments:
        remedy = f"remove {label}.enrollments"
        lacks(("enrollments",), "write course enrollments", "enrollments", remedy)
    if parts.users is not None and parts.users.on_missing == "delete" and not caps.delete:
        remedy = "use on_missing: deactivate or ignore"
        lacks(("users", "on_missing"), "delete users", "delete", remedy)
    if parts.pull is not None and not caps.pull:
        lacks(("pull",), "read learning results", "pull", f"remove {label}.pull")
    for i, rule in enumerate(parts.groups):
        if rule.kind not in info.group_kinds:
            lacks(("groups", i, "kind"), f"write {rule.kind}es", "branches", "use kind: group")
        if rule.create_missing and not info.creates_groups:
            remedy = "create them in the LMS and set create_missing: false"
            lacks(("groups", i, "create_missing"), "create groups", "create_groups", remedy)
    for i, rule in enumerate(parts.enrollments):
        if rule.learning_paths and caps.enrollments and not info.learning_paths:
            remedy = f"remove {label}.enrollments[{i}].learning_paths"
            path: RawPath = ("enrollments", i, "learning_paths")
            lacks(path, "enroll in learning paths", "learning_paths", remedy)
    if parts.users is not None:
        found += _user_operation_problems(
            target, parts.users, user_operations(target), missing_reason
        )
    return found


def _user_operation_problems(
    target: Any, users: UsersConfig, available: frozenset[str], missing_reason: Any
) -> list[tuple[RawPath, str]]:
    """Account operations a push needs but the target lacks (only Learning Pool can lack them)."""
    needed = {"user_create": "create users", "user_update": "update users"}
    always_active = users.active is True or (
        isinstance(users.active, str) and users.active.strip().lower() in ("true", "yes", "1")
    )
    if users.on_missing != "ignore" or not always_active:
        needed["user_deactivate"] = "deactivate users"
        needed["user_reactivate"] = "reactivate users"
    if users.match is not None:
        needed["users_list"] = f"find existing accounts by {users.match}"
    return [
        (
            ("target", "endpoints"),
            f"{target.type} cannot {what} ({missing_reason(target, operation)}); "
            "configure that endpoint",
        )
        for operation, what in needed.items()
        if operation not in available
    ]


def _split_relative(path: str) -> RawPath:
    """``groups[0].from`` -> ("groups", 0, "from")."""
    parts: list[str | int] = []
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        parts.append(int(index) if index else name)
    return tuple(parts)

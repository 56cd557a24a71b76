"""Checks no single model can make: cross references, duplicate names, per-connector checks.

What a connector asks of its vendor and whether its templates compile need the vendors'
declarations and the mapping compiler, which sit above the configuration: those checks
are given to the loader (by ``syncd.assemble``) as ``ConnectorCheck`` functions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from syncd.config.problems import RawPath, _Problems
from syncd.config.schema.models import EnrollmentRule, GroupRule, PullConfig, UsersConfig
from syncd.config.schema.reconcile import ReconcileConfig
from syncd.config.schema.targets import TargetConfig


def _cross_check(
    data: dict, problems: _Problems, connector_checks: Sequence[ConnectorCheck]
) -> None:
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
        parts = ConnectorParts.of(raw)
        label = problems.format(here)
        for check in connector_checks:
            for relative, message in check(parts, label):
                problems.add(here + relative, message)


def _unknown_reference(kind: str, name: str, defined: Mapping[str, Any]) -> str:
    known = ", ".join(sorted(defined)) or "none"
    return f"unknown {kind} {name!r}; defined {kind}s: {known}"


@dataclass(frozen=True, slots=True)
class ConnectorParts:
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
    reconcile: ReconcileConfig | None = None

    @classmethod
    def of(cls, raw: dict) -> ConnectorParts:
        scope = raw.get("scope")
        return cls(
            scope=scope if isinstance(scope, str) else None,
            target=_valid(_TARGET, raw.get("target")),
            users=_valid(_USERS, raw.get("users")),
            groups=_valid(_GROUPS, raw.get("groups", [])) or [],
            enrollments=_valid(_ENROLLMENTS, raw.get("enrollments", [])) or [],
            pull=_valid(_PULL, raw.get("pull")),
            reconcile=_valid(_RECONCILE, raw.get("reconcile")),
        )


_TARGET: TypeAdapter[Any] = TypeAdapter(TargetConfig)
_USERS = TypeAdapter(UsersConfig)
_GROUPS = TypeAdapter(list[GroupRule])
_ENROLLMENTS = TypeAdapter(list[EnrollmentRule])
_PULL = TypeAdapter(PullConfig)
_RECONCILE = TypeAdapter(ReconcileConfig)


def _valid(adapter: TypeAdapter[Any], value: Any) -> Any:
    if value is None:
        return None
    try:
        return adapter.validate_python(value)
    except ValidationError:
        return None  # reported by the whole-document validation


ConnectorCheck = Callable[[ConnectorParts, str], list[tuple[RawPath, str]]]
"""Problems of one connector at paths relative to it; the ``str`` is the connector's
printed path (``connectors[talentlms]``), quoted in advice."""


def match_problems(parts: ConnectorParts, label: str) -> list[tuple[RawPath, str]]:
    """``users.match`` must be one of the fields the mapping gives."""
    users = parts.users
    if users is not None and users.match is not None and users.match not in users.fields:
        fields = ", ".join(users.fields)
        return [(("users", "match"), f"{users.match!r} is not one of users.fields ({fields})")]
    return []


def email_field_problems(parts: ConnectorParts, label: str) -> list[tuple[RawPath, str]]:
    """``pull.xapi.actor.email_field`` names the pushed e-mail: one of the mapping's fields."""
    users, pull = parts.users, parts.pull
    field = pull.xapi.actor.email_field if pull is not None and pull.xapi is not None else None
    if users is None or field is None or field in users.fields:
        return []
    fields = ", ".join(users.fields)
    path: RawPath = ("pull", "xapi", "actor", "email_field")
    return [(path, f"{field!r} is not one of users.fields ({fields}), so no link holds it")]

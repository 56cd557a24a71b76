"""Checks of a connector that need more than the configuration: vendors and templates.

What a connector asks of its vendor is held to what the vendor's adapter declares
(``VendorFacts``), and its templates must compile. The configuration loader runs them
as connector checks; ``load_config`` and ``check`` here are the entry points the CLI,
the daemon and the demo use, so every command reports the same problems.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from syncd.assemble.vendors import vendor_facts
from syncd.config import Config, ConnectorCheck, ConnectorParts
from syncd.config import check as check_configuration
from syncd.config import load_config as load_configuration
from syncd.config.checks import email_field_problems, match_problems
from syncd.config.problems import RawPath
from syncd.config.schema.models import UsersConfig
from syncd.config.schema.targets import LearningPoolTarget
from syncd.mapping import template_problems as mapping_problems


def template_problems(parts: ConnectorParts, label: str) -> list[tuple[RawPath, str]]:
    """Templates of the connector that do not compile."""
    compiled = mapping_problems(parts.scope, parts.users, parts.groups, parts.enrollments)
    return [(_split_relative(problem.path), problem.message) for problem in compiled]


def capability_problems(parts: ConnectorParts, label: str) -> list[tuple[RawPath, str]]:
    """What a connector asks that its vendor (as its adapter declares it) cannot do."""
    target = parts.target
    if target is None:
        return []
    vendor = target.type
    info = vendor_facts(vendor)
    caps = info.capabilities_for(target)
    found: list[tuple[RawPath, str]] = [
        (("target", *key.split(".")), why) for key, why in info.unset(target)
    ]
    configurable = isinstance(target, LearningPoolTarget)

    def lacks(path: RawPath, what: str, capability: str, remedy: str) -> None:
        reason = info.missing_reason(target, capability)
        if configurable and reason.startswith("target"):
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
    if parts.pull is not None and parts.pull.reads_vendor and not caps.pull:
        remedy = f"remove {label}.pull, or read them from an LRS (pull.from: xapi)"
        lacks(("pull",), "read learning results", "pull", remedy)
    if parts.reconcile is not None and not caps.list_accounts:
        lacks(("reconcile",), "list its users", "list_accounts", f"remove {label}.reconcile")
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
            target, parts.users, info.user_operations(target), info.missing_reason
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
            "configure what it lacks",
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


CONNECTOR_CHECKS: tuple[ConnectorCheck, ...] = (
    capability_problems,
    match_problems,
    email_field_problems,
    template_problems,
)
"""Every per-connector check, in the order its problems are reported."""


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> Config:
    """The validated configuration at ``path``, or ConfigError listing every problem."""
    return load_configuration(path, environ, connector_checks=CONNECTOR_CHECKS)


def check(path: str | Path, environ: Mapping[str, str] | None = None) -> tuple[int, str]:
    """``syncd config check``: (0, resolved YAML with secrets masked) or (2, every problem)."""
    return check_configuration(path, environ, connector_checks=CONNECTOR_CHECKS)

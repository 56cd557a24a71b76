"""What each vendor can do, and where its adapter lives.

Configuration validation and the planner read these declarations instead of
branching on vendor names. Adapters are imported only when a connector needs one,
so validating a configuration never pulls in HTTP clients.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from syncd.model import OpKind
from syncd.vendors.base import Capabilities
from syncd.vendors.targets import LearningPoolTarget, TargetConfig

USER_OPERATIONS = ("users_list", "user_create", "user_update", "user_deactivate", "user_reactivate")
"""Account operations a push may need: all vendors have them, Learning Pool only if configured."""


@dataclass(frozen=True, slots=True)
class VendorInfo:
    """A vendor's declaration: capabilities, what its groups can be, and its adapter class.

    ``absent`` explains, per capability name, why the vendor lacks it: configuration
    errors quote it so a person knows it is the vendor, not syncd, that says no.
    """

    name: str
    capabilities: Capabilities
    adapter: str  # "module:Class", imported lazily
    group_kinds: frozenset[str] = frozenset({"group"})
    creates_groups: bool = False
    learning_paths: bool = False
    absent: Mapping[str, str] = field(default_factory=dict)


_NOT_DOCUMENTED = "its API documents no such operation"

VENDORS: dict[str, VendorInfo] = {
    "talentlms": VendorInfo(
        name="talentlms",
        capabilities=Capabilities(
            groups=True,
            enrollments=True,
            delete=True,
            async_jobs=True,
            pull=True,
            incremental_pull=True,
            batch_sizes={OpKind.CREATE: 100, OpKind.UPDATE: 100, OpKind.ENROLL: 100},
            write_only_fields=frozenset({"password"}),
        ),
        adapter="syncd.vendors.talentlms:TalentLMSAdapter",
        group_kinds=frozenset({"group", "branch"}),
        creates_groups=True,
        learning_paths=True,
    ),
    "hownow": VendorInfo(
        name="hownow",
        capabilities=Capabilities(
            delete=True, async_jobs=True, pull=True, learning_records_sink=True
        ),
        adapter="syncd.vendors.hownow:HowNowAdapter",
        absent={
            "groups": _NOT_DOCUMENTED,
            "enrollments": _NOT_DOCUMENTED,
            "incremental_pull": "its API offers no changed-since read",
        },
    ),
    "ilms": VendorInfo(
        name="ilms",
        capabilities=Capabilities(
            groups=True,
            enrollments=True,
            pull=True,
            # F016 (password) by code or name: sent on create only, never stored or compared.
            write_only_fields=frozenset({"F016", "f016", "password"}),
        ),
        adapter="syncd.vendors.ilms:ILMSAdapter",
        creates_groups=False,
        learning_paths=True,  # iLMS curricula
        absent={
            "delete": "its API only deactivates users",
            "create_groups": "its API documents no group creation; create them in iLMS first",
            "incremental_pull": "its API offers no changed-since read",
        },
    ),
    "learningpool": VendorInfo(
        name="learningpool",
        capabilities=Capabilities(),  # the real set depends on the configured endpoints
        adapter="syncd.vendors.learningpool:LearningPoolAdapter",
        absent={
            "delete": "syncd deactivates Learning Pool users, as Learning Pool recommends",
            "create_groups": "no group creation endpoint is configurable",
            "learning_paths": "no learning path enrolment endpoint is configurable",
        },
    ),
}

_NO_BRANCHES = "only TalentLMS has branches"
_NO_LEARNING_PATHS = "its API documents no learning path enrolment"

# Learning Pool: which configured endpoints make up each capability.
_LEARNINGPOOL_NEEDS: dict[str, tuple[str, ...]] = {
    "groups": ("groups_list", "group_member_add", "group_member_remove"),
    "enrollments": ("enrolment_create",),
    "pull": ("completions_list",),
}


def vendor_info(vendor: str) -> VendorInfo:
    try:
        return VENDORS[vendor]
    except KeyError:
        raise ValueError(
            f"unknown vendor {vendor!r}; known: {', '.join(sorted(VENDORS))}"
        ) from None


def capabilities_for(target: TargetConfig) -> Capabilities:
    """The capabilities of one configured target (Learning Pool's follow its endpoints)."""
    info = vendor_info(target.type)
    if not isinstance(target, LearningPoolTarget):
        return info.capabilities
    configured = target.endpoints.configured()
    have = {cap: all(e in configured for e in needs) for cap, needs in _LEARNINGPOOL_NEEDS.items()}
    feed = target.endpoints.completions_list
    return Capabilities(
        groups=have["groups"],
        enrollments=have["enrollments"],
        pull=have["pull"],
        incremental_pull=feed is not None and feed.since_param is not None,
    )


def user_operations(target: TargetConfig) -> frozenset[str]:
    """Which of ``USER_OPERATIONS`` the target can carry out."""
    if isinstance(target, LearningPoolTarget):
        return target.endpoints.configured() & frozenset(USER_OPERATIONS)
    return frozenset(USER_OPERATIONS)


def missing_reason(target: TargetConfig, capability: str) -> str:
    """Why ``target`` lacks ``capability``: quoted in configuration errors."""
    info = vendor_info(target.type)
    if isinstance(target, LearningPoolTarget):
        needs = _LEARNINGPOOL_NEEDS.get(capability)
        if needs:
            missing = [e for e in needs if e not in target.endpoints.configured()]
            return f"target.endpoints lacks {', '.join(missing)}"
        if capability in USER_OPERATIONS:
            return f"target.endpoints lacks {capability}"
    if capability == "branches":
        return _NO_BRANCHES
    if capability == "learning_paths" and capability not in info.absent:
        return _NO_LEARNING_PATHS
    return info.absent.get(capability, _NOT_DOCUMENTED)


def load_adapter_class(vendor: str) -> type:
    """Import and return the adapter class of ``vendor`` (only now, not at start-up)."""
    module_name, _, class_name = vendor_info(vendor).adapter.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, class_name)

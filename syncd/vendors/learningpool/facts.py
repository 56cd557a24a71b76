"""What Learning Pool can do: it follows what a connector configures.

Learning Pool's public documents leave most operations out, so each connector
configures the endpoints it has (``target.endpoints``), how its listings page
(``target.paging``) and how it deactivates (``target.deactivation``); a capability
exists when every key it needs is configured, and a configuration error names the
keys still missing.
"""

from __future__ import annotations

from dataclasses import dataclass

from syncd.config.schema.targets import LearningPoolTarget
from syncd.vendors.base import USER_OPERATIONS, Capabilities, VendorFacts

NOT_LISTED = "a user's enrolments are read only to settle a write (a call per user)"
TOKEN_PATH_UNSET = (
    "required: Learning Pool documents no token path; set the path its client-credentials "
    "token is requested at (e.g. /oauth/token)"
)
TOKEN_ENCODING_UNSET = (
    "required: Learning Pool documents no token request encoding; set form or json"
)
RECORDS_UNSET = "required: Learning Pool documents no response body; set {what}"
RECORD_PARTS: tuple[tuple[str, frozenset[str], str], ...] = (
    ("envelope", frozenset(), "the key answers wrap records in (e.g. data), or none"),
    (
        "user",
        frozenset(
            {
                "users_list",
                "user_get",
                "user_create",
                "user_update",
                "user_deactivate",
                "user_reactivate",
                "group_members_list",
            }
        ),
        "the user record's field names (id, unique, writable, ...)",
    ),
    ("group", frozenset({"groups_list"}), "the group record's field names (id, name)"),
    (
        "member_user_id",
        frozenset({"group_members_list"}),
        "the field of a group member record that holds the user's id",
    ),
    (
        "enrolment_course",
        frozenset({"user_enrolments_list"}),
        "the field(s) of an enrolment record that name the course",
    ),
    (
        "result",
        frozenset({"completions_list", "in_progress_list"}),
        "the results record's field names (user_id, course_id, updated_at, ...)",
    ),
)
"""Each part of ``target.records``, the endpoints whose answers need it, and what it is."""
PAGING = "paging"
DEACTIVATION = "deactivation"

NEEDS: dict[str, tuple[str, ...]] = {
    "groups": ("groups_list", "group_member_add", "group_member_remove", PAGING),
    "enrollments": ("enrolment_create",),
    "pull": ("completions_list", PAGING),
    "list_accounts": ("users_list", PAGING),
    "list_groups": ("groups_list", "group_members_list", PAGING),
    "users_list": ("users_list", PAGING),
    "user_create": ("user_create",),
    "user_update": ("user_update",),
    "user_deactivate": ("user_deactivate", DEACTIVATION),
    "user_reactivate": ("user_reactivate", DEACTIVATION),
}
"""Which keys of the target (endpoint names, ``paging``, ``deactivation``) each capability
and account operation needs."""


def configured(target: LearningPoolTarget) -> frozenset[str]:
    """The endpoint names configured, plus ``paging`` and ``deactivation`` when set."""
    extra = {PAGING: target.paging, DEACTIVATION: target.deactivation}
    return target.endpoints.configured() | {key for key, value in extra.items() if value}


def lacking(target: LearningPoolTarget, keys: tuple[str, ...]) -> str:
    """``target.endpoints lacks a, b and target lacks paging``: the keys still to set."""
    have = configured(target)
    endpoints = [k for k in keys if k not in have and k not in (PAGING, DEACTIVATION)]
    others = [k for k in keys if k not in have and k in (PAGING, DEACTIVATION)]
    parts = []
    if endpoints:
        parts.append(f"target.endpoints lacks {', '.join(endpoints)}")
    if others:
        parts.append(f"target lacks {', '.join(others)}")
    return " and ".join(parts)


@dataclass(frozen=True)
class LearningPoolFacts(VendorFacts):
    """Learning Pool's declaration, answered per configured target."""

    def capabilities_for(self, target: LearningPoolTarget) -> Capabilities:
        have = configured(target)
        can = {cap: all(k in have for k in NEEDS[cap]) for cap in NEEDS}
        feed = target.endpoints.completions_list
        return Capabilities(
            groups=can["groups"],
            enrollments=can["enrollments"],
            pull=can["pull"],
            incremental_pull=can["pull"] and feed is not None and feed.since_param is not None,
            list_accounts=can["list_accounts"],
            list_groups=can["list_groups"],
        )

    def unset(self, target: LearningPoolTarget) -> list[tuple[str, str]]:
        found = []
        if target.token_path is None:
            found.append(("token_path", TOKEN_PATH_UNSET))
        if target.token_encoding is None:
            found.append(("token_encoding", TOKEN_ENCODING_UNSET))
        have = target.endpoints.configured()
        for part, readers, what in RECORD_PARTS:
            if getattr(target.records, part) is None and (not readers or readers & have):
                found.append((f"records.{part}", RECORDS_UNSET.format(what=what)))
        return found

    def user_operations(self, target: LearningPoolTarget) -> frozenset[str]:
        have = configured(target)
        return frozenset(op for op in USER_OPERATIONS if all(k in have for k in NEEDS[op]))

    def missing_reason(self, target: LearningPoolTarget, capability: str) -> str:
        needs = NEEDS.get(capability)
        reason = lacking(target, needs) if needs else ""
        return reason or VendorFacts.missing_reason(self, target, capability)


FACTS = LearningPoolFacts(
    capabilities=Capabilities(),  # the real set depends on the configuration
    absent={
        "delete": "syncd deactivates Learning Pool users, as Learning Pool recommends",
        "create_groups": "no group creation endpoint is configurable",
        "learning_paths": "no learning path enrolment endpoint is configurable",
        "list_courses": NOT_LISTED,
    },
)

"""What Learning Pool can do: it follows the endpoints a connector configures.

Learning Pool's public documents leave most operations out, so each connector
configures the endpoints it has (``target.endpoints``); a capability exists when
every endpoint it needs is configured, and a configuration error names the keys
still missing.
"""

from __future__ import annotations

from dataclasses import dataclass

from syncd.config.schema.targets import LearningPoolTarget
from syncd.vendors.base import USER_OPERATIONS, Capabilities, VendorFacts

NOT_LISTED = "no configurable endpoint lists a group's members or a user's enrolments"

NEEDS: dict[str, tuple[str, ...]] = {
    "groups": ("groups_list", "group_member_add", "group_member_remove"),
    "enrollments": ("enrolment_create",),
    "pull": ("completions_list",),
    "list_accounts": ("users_list",),
}
"""Which configured endpoints make up each capability."""


@dataclass(frozen=True)
class LearningPoolFacts(VendorFacts):
    """Learning Pool's declaration, answered per configured target."""

    def capabilities_for(self, target: LearningPoolTarget) -> Capabilities:
        configured = target.endpoints.configured()
        have = {cap: all(e in configured for e in needs) for cap, needs in NEEDS.items()}
        feed = target.endpoints.completions_list
        return Capabilities(
            groups=have["groups"],
            enrollments=have["enrollments"],
            pull=have["pull"],
            incremental_pull=feed is not None and feed.since_param is not None,
            list_accounts=have["list_accounts"],
        )

    def user_operations(self, target: LearningPoolTarget) -> frozenset[str]:
        return target.endpoints.configured() & frozenset(USER_OPERATIONS)

    def missing_reason(self, target: LearningPoolTarget, capability: str) -> str:
        needs = NEEDS.get(capability)
        if needs:
            missing = [e for e in needs if e not in target.endpoints.configured()]
            return f"target.endpoints lacks {', '.join(missing)}"
        if capability in USER_OPERATIONS:
            return f"target.endpoints lacks {capability}"
        return VendorFacts.missing_reason(self, target, capability)


FACTS = LearningPoolFacts(
    capabilities=Capabilities(),  # the real set depends on the configured endpoints
    absent={
        "delete": "syncd deactivates Learning Pool users, as Learning Pool recommends",
        "create_groups": "no group creation endpoint is configurable",
        "learning_paths": "no learning path enrolment endpoint is configurable",
        "list_groups": NOT_LISTED,
        "list_courses": NOT_LISTED,
    },
)

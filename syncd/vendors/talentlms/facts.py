"""What TalentLMS can do, as its adapter declares it: read without loading the adapter.

Configuration checks and a push with nothing to send need only this, not the HTTP stack.
"""

from __future__ import annotations

from syncd.model import OpKind
from syncd.vendors.base import CallCost, Capabilities, VendorFacts

MATCH_FIELDS = ("email", "login")
DEFAULT_MATCH = "email"

NOT_LISTED = (
    "TalentLMS v2 shows a user's groups, branches and courses only one user at a time "
    "(GET /users/:id?resources=...)"
)


def match_field(match: str | None) -> str:
    """The account field existing accounts are found by; ValueError for one TalentLMS cannot."""
    match = match or DEFAULT_MATCH
    if match not in MATCH_FIELDS:
        raise ValueError(
            f"TalentLMS finds existing accounts by email or login only, not {match!r} (users.match)"
        )
    return match


FACTS = VendorFacts(
    capabilities=Capabilities(
        groups=True,
        enrollments=True,
        delete=True,
        async_jobs=True,
        pull=True,
        incremental_pull=True,
        batch_sizes={OpKind.CREATE: 100, OpKind.UPDATE: 100, OpKind.ENROLL: 100},
        # A batch is a task to poll; new accounts are read back 100 a listing page, updated
        # and enrolled people one GET each (docs/benchmarks.md, "TalentLMS calls").
        call_costs={
            OpKind.CREATE: CallCost(per_batch=3),
            OpKind.UPDATE: CallCost(per_batch=2, per_item=1),
            OpKind.ENROLL: CallCost(per_batch=2, per_item=1),
        },
        write_only_fields=frozenset({"password"}),
        list_accounts=True,
    ),
    group_kinds=frozenset({"group", "branch"}),
    creates_groups=True,
    learning_paths=True,
    absent={"list_groups": NOT_LISTED, "list_courses": NOT_LISTED},
    check_match=match_field,
)

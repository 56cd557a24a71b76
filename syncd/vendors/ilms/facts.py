"""What iLMS can do, as its adapter declares it: read without loading the adapter.

Configuration checks and a push with nothing to send need only this, not the HTTP stack.
"""

from __future__ import annotations

from syncd.vendors.base import Capabilities, VendorFacts
from syncd.vendors.ilms.fields import FIELDS, HIERARCHY, SEARCHABLE, code_of

DEFAULT_MATCH = ("F004", "F015")
"""Without ``users.match``: Employee ID (the digest's join key, §5 "Rec (identity)"), else
the e-mail address, whichever the mapping gives a person."""


def match_codes(match: str | None) -> tuple[str, ...]:
    """The field codes accounts are matched by: ``users.match`` (a code or a name), else
    ``DEFAULT_MATCH``."""
    if match is None:
        return DEFAULT_MATCH
    code = code_of(match)
    if code is None or code not in SEARCHABLE:
        searchable = ", ".join(f"{c} ({FIELDS[c].alias})" for c in ("F004", "F015"))
        raise ValueError(
            f"users.match: iLMS cannot find accounts by {match!r}; use a profile field such as "
            f"{searchable}"
        )
    if code in HIERARCHY:
        raise ValueError(f"users.match: {match!r} is shared by many people; use F004 or F015")
    return (code,)


FACTS = VendorFacts(
    capabilities=Capabilities(
        groups=True,
        enrollments=True,
        pull=True,
        # F016 (password) by code or name: sent on create only, never stored or compared.
        write_only_fields=frozenset({"F016", "f016", "password"}),
        list_accounts=True,
        list_groups=True,
        list_courses=True,
    ),
    creates_groups=False,
    learning_paths=True,  # iLMS curricula
    absent={
        "delete": "its API only deactivates users",
        "create_groups": "its API documents no group creation; create them in iLMS first",
        "incremental_pull": "its API offers no changed-since read",
    },
    check_match=match_codes,
)

"""Comparing what syncd sent with what TalentLMS shows, field by field, as TalentLMS writes it.

A batch item counts as applied only when a read shows every field that was sent
(``readback``). Values are compared the way the vendor returns them: emails and
logins without case or surrounding blanks (filters and uniqueness ignore case),
text without surrounding blanks, booleans and numbers by value whatever their JSON
form (the documents send ``"true"`` and ``true`` alike, digest §5.4), dates by their
``YYYY-MM-DD`` part, and a custom field missing from an account's list as empty.
Write-only fields (the password) are never shown, so never compared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from syncd.vendors.talentlms.fields import (
    as_bool,
    as_int,
    as_number,
    is_custom,
    preview,
    text_of,
)

LISTED = ("login", "email", "name", "surname")
"""The fields syncd sends that ``GET /users`` shows (digest §5.1); others need ``/users/:id``."""

WRITE_ONLY = frozenset({"password", "current_password"})


def norm(value: Any) -> str:
    """Emails and logins compare without case or surrounding blanks (as TalentLMS does)."""
    return "" if value is None else str(value).strip().casefold()


@dataclass(frozen=True, slots=True)
class Difference:
    """One field the account does not show as it was sent."""

    field: str
    sent: Any
    shown: Any

    def describe(self) -> str:
        return f"{self.field} (sent {preview(self.sent)}, TalentLMS has {preview(self.shown)})"


def same(name: str, sent: Any, shown: Any) -> bool:
    """Whether ``shown`` (as TalentLMS returns it) holds the value ``sent``."""
    if name in ("login", "email"):
        return norm(sent) == norm(shown)
    if name == "email_notifications":
        return as_bool(sent) == as_bool(shown)
    if name == "user_type_id":
        return as_int(sent) == as_int(shown)
    if name == "credits":
        return as_number(sent) == as_number(shown)
    if name == "deactivation_date":
        return text_of(sent).strip()[:10] == text_of(shown).strip()[:10]
    return text_of(sent).strip() == text_of(shown).strip()


def differences(
    sent: Mapping[str, Any], shown: Mapping[str, Any], *, whole_account: bool
) -> list[Difference]:
    """The fields of ``sent`` that ``shown`` does not hold, in the order sent.

    ``whole_account``: ``shown`` is ``GET /users/:id`` (every field, custom fields
    included); otherwise it is a listing item, which shows only ``LISTED``. A field
    the read does not show at all is not compared: nothing says it was refused.
    """
    found = []
    for name, value in sent.items():
        if name in WRITE_ONLY:
            continue
        custom = is_custom(name)
        if name not in LISTED and not whole_account:
            continue
        if name not in shown and not custom:
            continue
        if not same(name, value, shown.get(name, "")):
            found.append(Difference(name, value, shown.get(name, "")))
    return found

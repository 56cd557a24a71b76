"""``validate(user)`` for TalentLMS: the documented field rules, custom fields, unique emails.

The planner validates every changed person of a cycle, then matches and sends.
That run of ``validate`` calls is one *validation pass* (the engine starts it with
``Adapter.begin_validation``): inside it a second HR record with an email (or login)
already seen is refused, because TalentLMS requires both to be unique and would
refuse it anyway, later and less clearly. Duplicates against people who did not
change this cycle are caught by the vendor and reported per record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from syncd.http import VendorError
from syncd.model import DesiredUser
from syncd.vendors.talentlms.fields import (
    field_problems,
    is_custom,
    preview,
    required_problems,
    text_of,
    wire_value,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class CustomField:
    """One ``/user-fields`` definition, as far as validation needs it."""

    key: str
    name: str
    type: str
    choices: tuple[str, ...] = ()


def parse_definitions(items: list[dict[str, Any]]) -> dict[str, CustomField]:
    definitions: dict[str, CustomField] = {}
    for item in items:
        key = item.get("key")
        if not isinstance(key, str):
            continue
        values = item.get("dropdown_values")
        choices = ()
        if isinstance(values, list):
            choices = tuple(
                str(v.get("item")) for v in values if isinstance(v, dict) and "item" in v
            )
        definitions[key] = CustomField(
            key=key,
            name=str(item.get("name") or key),
            type=str(item.get("type") or "text"),
            choices=choices,
        )
    return definitions


class Validator:
    """Validates desired users; ``load_definitions`` reads ``/user-fields`` when first needed."""

    def __init__(self, load_definitions: Callable[[], dict[str, CustomField]]) -> None:
        self._load = load_definitions
        self._definitions: dict[str, CustomField] | None = None
        self._emails: dict[str, str] = {}
        self._logins: dict[str, str] = {}

    def begin_pass(self) -> None:
        """Forget the emails and logins seen: the next ``validate`` starts a new pass."""
        self._emails.clear()
        self._logins.clear()

    def validate(self, user: DesiredUser) -> list[str]:
        fields = user.fields
        reasons = required_problems(fields)
        for name, value in fields.items():
            reasons += field_problems(name, value)
        reasons += self._custom_problems(fields)
        reasons += self._duplicate_problems(user, register=not reasons)
        return reasons

    def _custom_problems(self, fields: Mapping[str, Any]) -> list[str]:
        custom = [name for name in fields if is_custom(name)]
        if not custom:
            return []
        definitions = self._definitions_or_none()
        if definitions is None:
            return []
        reasons = []
        for name in custom:
            definition = definitions.get(name)
            if definition is None:
                known = ", ".join(f"{d.key} ({d.name})" for d in definitions.values()) or "none"
                reasons.append(f"{name} is not a custom user field of this portal (it has {known})")
                continue
            value = text_of(wire_value(name, fields[name]))
            if definition.choices and value and value not in definition.choices:
                choices = ", ".join(definition.choices)
                reasons.append(
                    f"{name} ({definition.name}) is {preview(value)}; "
                    f"TalentLMS allows only: {choices}"
                )
        return reasons

    def _definitions_or_none(self) -> dict[str, CustomField] | None:
        if self._definitions is None:
            try:
                self._definitions = self._load()
            except VendorError as error:
                # Not fatal: the vendor still checks custom fields when they are sent.
                log.warning("talentlms_user_fields_unavailable", error=type(error).__name__)
                return None
        return self._definitions

    def _duplicate_problems(self, user: DesiredUser, *, register: bool) -> list[str]:
        """Emails/logins already claimed in this pass; a valid user's own are claimed."""
        reasons = []
        claims = []
        for name, seen in (("email", self._emails), ("login", self._logins)):
            given = text_of(user.fields.get(name)).strip()
            value = given.casefold()
            if not value:
                continue
            if value == given:  # kept for the whole pass: the field's own text, not a copy
                value = given
            other = seen.get(value)
            if other is not None and other != user.hr_key:
                reasons.append(
                    f"{name} {preview(user.fields.get(name))} is also the {name} of HR record "
                    f"{other}; TalentLMS requires every {name} to be unique"
                )
            claims.append((seen, value))
        if register and not reasons:
            for seen, value in claims:
                seen[value] = user.hr_key
        return reasons

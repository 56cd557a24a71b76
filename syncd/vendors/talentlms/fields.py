"""TalentLMS user fields: which exist, their documented rules, and how they go on the wire.

Rules come from the v2 documents (digest §5.3, §5.4, §6): ``login``, ``name``,
``surname`` and ``email`` are required, text fields hold at most 191 characters,
emails must be valid and unique, ``deactivation_date`` is ``YYYY-MM-DD``,
``user_type_id`` an integer, ``email_notifications`` a boolean. Custom fields are
written as ``custom_field_N`` (batch only). ``status`` is not a mapped field: the
connector's ``users.active`` decides it.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from datetime import date
from functools import lru_cache
from typing import Any

from syncd.model import flag_of

MAX_LENGTH = 191
REQUIRED = ("login", "name", "surname", "email")
TEXT_FIELDS = frozenset(
    {"login", "name", "surname", "email", "description", "timezone", "locale", "password"}
)
OTHER_FIELDS = frozenset({"email_notifications", "user_type_id", "credits", "deactivation_date"})
KNOWN_FIELDS = TEXT_FIELDS | OTHER_FIELDS
CUSTOM_FIELD = re.compile(r"^custom_field_(\d+)$")
NOT_MAPPABLE = {
    "status": "users.active decides whether the account is active",
    "active": "users.active decides whether the account is active",
    "id": "TalentLMS assigns account ids",
    "current_password": "syncd never changes passwords of existing accounts",
}
EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
LOCALE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})
_PREVIEW = 60


@lru_cache(maxsize=1024)
def is_custom(name: str) -> bool:
    """Asked of every field of every person validated: a mapping has a few names."""
    return CUSTOM_FIELD.match(name) is not None


def preview(value: Any) -> str:
    """A value quoted for a reason, cut short: enough to find it in the HR record."""
    text = repr(value)
    return text if len(text) <= _PREVIEW else text[: _PREVIEW - 4] + "...'"


def text_of(value: Any) -> str:
    return "" if value is None else str(value)


def as_bool(value: Any) -> bool | None:
    return flag_of(value, _TRUE, _FALSE)


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def as_number(value: Any) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return int(number) if number.is_integer() else number
    return None


@lru_cache(maxsize=1)
def _time_zones() -> frozenset[str]:
    try:
        return frozenset(zoneinfo.available_timezones())
    except Exception:  # no tz database on this machine: the check is skipped
        return frozenset()


_PLAIN_TEXT = TEXT_FIELDS - {"email", "password", "timezone", "locale"}
"""The text fields whose only rule is ``MAX_LENGTH``."""


def field_problems(name: str, value: Any) -> list[str]:
    """What is wrong with one field's value (required-ness is checked by the caller)."""
    if type(value) is str and name in _PLAIN_TEXT and len(value) <= MAX_LENGTH:
        return []  # what ``_text_problems`` finds in such text: asked of every person
    if name in NOT_MAPPABLE:
        return [f"users.fields.{name} cannot be mapped: {NOT_MAPPABLE[name]}"]
    if name in TEXT_FIELDS:
        return _text_problems(name, value)
    if name == "email_notifications":
        if as_bool(value) is None:
            return [f"email_notifications is {preview(value)}; TalentLMS expects true or false"]
        return []
    if name == "user_type_id":
        number = as_int(value)
        if number is None or number < 1:
            return [f"user_type_id is {preview(value)}; TalentLMS expects a user type id (1, 2 …)"]
        return []
    if name == "credits":
        number = as_number(value)
        if number is None or number < 0:
            return [f"credits is {preview(value)}; TalentLMS expects a number of 0 or more"]
        return []
    if name == "deactivation_date":
        return _date_problems(value)
    if is_custom(name):
        if value is not None and not isinstance(value, str | int | float | bool):
            return [f"{name} is {preview(value)}; a custom field holds text"]
        if len(text_of(value)) > MAX_LENGTH:
            return [_too_long(name, len(text_of(value)))]
        return []
    known = ", ".join(sorted(KNOWN_FIELDS))
    return [
        f"users.fields.{name} is not a TalentLMS user field (known: {known}, "
        "and custom fields as custom_field_N)"
    ]


def _too_long(name: str, length: int) -> str:
    return f"{name} is {length} characters long; TalentLMS allows at most {MAX_LENGTH}"


def _text_problems(name: str, value: Any) -> list[str]:
    if value is not None and not isinstance(value, str | int | float):
        return [f"{name} is {preview(value)}; TalentLMS expects text"]
    text = text_of(value)
    if len(text) > MAX_LENGTH:
        return [_too_long(name, len(text))]
    if name == "email" and text.strip() and not EMAIL.match(text.strip()):
        return [f"email {preview(text)} is not a valid email address"]
    if name == "password" and value is not None and not text:
        return ["password rendered empty; leave users.fields.password out to let syncd make one"]
    if name == "timezone" and text and _time_zones() and text not in _time_zones():
        return [f"timezone {preview(text)} is not an IANA time zone (e.g. Europe/Athens, UTC)"]
    if name == "locale" and text and not LOCALE.match(text):
        return [f"locale {preview(text)} is not a locale code (e.g. en-US)"]
    return []


def _date_problems(value: Any) -> list[str]:
    text = text_of(value).strip()
    if not text:
        return []
    if DATE.match(text):
        try:
            date.fromisoformat(text)
            return []
        except ValueError:
            pass
    return [f"deactivation_date is {preview(value)}; TalentLMS expects a date as YYYY-MM-DD"]


def required_problems(fields: Mapping[str, Any]) -> list[str]:
    reasons = []
    for name in REQUIRED:
        if name not in fields:
            reasons.append(f"{name} is required by TalentLMS; add users.fields.{name}")
        elif not text_of(fields[name]).strip():
            reasons.append(f"{name} is required by TalentLMS but rendered empty")
    return reasons


def wire_value(name: str, value: Any) -> Any:
    """A field's value as TalentLMS wants it (text, JSON booleans and numbers)."""
    if name in ("login", "email"):
        return text_of(value).strip()
    if name in TEXT_FIELDS:
        return text_of(value)
    if name == "email_notifications":
        return as_bool(value)
    if name == "user_type_id":
        return as_int(value)
    if name == "credits":
        return as_number(value)
    if name == "deactivation_date":
        text = text_of(value).strip()
        return text or None
    if is_custom(name):
        flag = as_bool(value) if isinstance(value, bool) else None
        if flag is not None:
            return "on" if flag else "off"  # v1's checkbox values
        return text_of(value)
    return value


def wire_fields(fields: Mapping[str, Any], names: Any = None) -> dict[str, Any]:
    """The named fields (default: all) ready for a request; unset values are left out."""
    chosen = fields.keys() if names is None else names
    body: dict[str, Any] = {}
    for name in chosen:
        if name not in fields or name in NOT_MAPPABLE:
            continue
        value = wire_value(name, fields[name])
        if value is not None:
            body[name] = value
    return body

"""Learning Pool user fields: which a mapping may set, the rules they must pass, the bodies.

The keys of ``users.fields`` are the API's own field names. Learning Pool publishes
none, so the names and rules below are the sandbox Simple API's, which follows the
platform's help centre wherever it speaks:

- ``username`` is required and unique (help centre), and may hold no spaces;
- ``email`` is required and must be a real address (help centre: used for resets);
- ``first_name`` and ``last_name`` are required;
- ``timezone`` is a PHP (IANA) zone name such as ``Europe/London`` (help centre);
- ``country`` is a 3-character ISO 3166 code, alpha (``GBR``) or numeric (``826``);
- ``language`` is a code such as ``en`` or ``en-GB``;
- lengths: 100 characters for names, usernames and ``external_id``, 255 for ``email``,
  ``function`` and ``organisation_reference`` (the sandbox's limits).

The field ``target.deactivation`` sets (an expiry date, as the help centre's "Expiration
vs Deletion" recommends, or a flag) is syncd's, through ``users.active``: a mapping may
not set it too.

Checking these before sending costs no call, names the field at fault, and keeps a
record the platform would refuse from ever being sent.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from datetime import date, datetime
from functools import cache
from typing import Any

WRITABLE = (
    "external_id",
    "username",
    "email",
    "first_name",
    "last_name",
    "language",
    "timezone",
    "country",
    "function",
    "organisation_reference",
)
REQUIRED = ("username", "email", "first_name", "last_name")
READ_ONLY = ("id", "status", "created_at", "updated_at")
MAX_LENGTH = {
    "external_id": 100,
    "username": 100,
    "email": 255,
    "first_name": 100,
    "last_name": 100,
    "function": 255,
    "organisation_reference": 255,
}

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_LANGUAGE = re.compile(r"[a-z]{2}([-_][A-Za-z]{2})?")
_COUNTRY = re.compile(r"[A-Z]{3}|\d{3}")
_ZONE_SHAPE = re.compile(r"UTC|[A-Z][A-Za-z_]+(/[A-Za-z0-9_+-]+)+")


def text(value: Any) -> str:
    """A field value as text: None -> "", numbers as written, dates ISO, spaces trimmed."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def known_time_zone(name: str) -> bool:
    """An IANA (PHP) zone; without a zone database on this system, its shape decides."""
    zones = _zones()
    return name in zones if zones else bool(_ZONE_SHAPE.fullmatch(name))


def problems(fields: Mapping[str, Any], owned: str | None = None) -> list[str]:
    """Why Learning Pool would refuse these fields; each reason names the field. Empty if valid.

    ``owned`` is the field syncd deactivates users by (``target.deactivation.field``).
    """
    found: list[str] = []
    for name in fields:
        if name == owned:
            found.append(
                f"{name}: syncd deactivates Learning Pool users by it (target.deactivation, "
                "users.active), so the mapping cannot set it too; remove it from users.fields"
            )
        elif name in READ_ONLY:
            found.append(f"{name}: read-only in Learning Pool; remove it from users.fields")
        elif name not in WRITABLE:
            found.append(
                f"{name}: not a Learning Pool user field (the fields are {', '.join(WRITABLE)})"
            )
    for name in WRITABLE:
        if name not in fields:
            continue
        value = fields[name]
        if isinstance(value, Mapping | list | tuple | set):
            found.append(f"{name}: must be text, not a list or mapping")
            continue
        problem = _value_problem(name, text(value))
        if problem:
            found.append(f"{name}: {problem}")
    for name in REQUIRED:
        if name not in fields:
            found.append(f"{name}: required by Learning Pool; add it to users.fields")
    return found


def _value_problem(name: str, value: str) -> str | None:
    if not value:
        return "required by Learning Pool, but empty" if name in REQUIRED else None
    limit = MAX_LENGTH.get(name)
    if limit is not None and len(value) > limit:
        return f"{len(value)} characters, Learning Pool allows at most {limit}"
    if name == "username" and any(c.isspace() for c in value):
        return f"{value!r} contains spaces, which Learning Pool usernames may not"
    if name == "email" and not _EMAIL.fullmatch(value):
        return f"{value!r} is not an email address"
    if name == "language" and not _LANGUAGE.fullmatch(value):
        return f"{value!r} is not a language code such as en or en-GB"
    if name == "timezone" and not known_time_zone(value):
        return f"{value!r} is not a time zone such as Europe/London"
    if name == "country" and not _COUNTRY.fullmatch(value):
        return f"{value!r} is not a 3-character ISO 3166 country code such as GBR or 826"
    return None


# --- bodies ------------------------------------------------------------------------------------


def create_body(fields: Mapping[str, Any]) -> dict[str, str]:
    """Every mapped field with a value; empty optional fields are left to the platform."""
    body = {name: text(fields[name]) for name in WRITABLE if name in fields}
    return {name: value for name, value in body.items() if value}


def update_body(fields: Mapping[str, Any], changed: tuple[str, ...]) -> dict[str, str | None]:
    """The changed fields (a partial update); an emptied optional field is sent as null."""
    body: dict[str, str | None] = {}
    for name in changed:
        if name in WRITABLE and name in fields:
            body[name] = text(fields[name]) or None
    return body


def same(a: Any, b: Any) -> bool:
    """Usernames, emails and ids compare without case or surrounding blanks."""
    return text(a).casefold() == text(b).casefold()

"""Learning Pool user fields: which a mapping may set, the rules they must pass, the bodies.

The keys of ``users.fields`` are the API's own field names. Learning Pool publishes
none, so the names and rules are configuration (``target.records.user``): the fields a
mapping may set (``writable``), those it must (``required``), those only the platform
sets (``read_only``), lengths (``max_length``) and formats (``formats``):

- ``email``: a real address (the help centre uses it for resets);
- ``no_spaces``: no white space (usernames);
- ``time_zone``: a PHP (IANA) zone name such as ``Europe/London`` (help centre);
- ``country``: a 3-character ISO 3166 code, alpha (``GBR``) or numeric (``826``);
- ``language``: a code such as ``en`` or ``en-GB``.

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

from syncd.config.schema.targets import UserRecord

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


def problems(fields: Mapping[str, Any], rules: UserRecord, owned: str | None = None) -> list[str]:
    """Why Learning Pool would refuse these fields; each reason names the field. Empty if valid.

    ``rules`` is ``target.records.user``; ``owned`` is the field syncd deactivates users by
    (``target.deactivation.field``).
    """
    found: list[str] = []
    for name in fields:
        if name == owned:
            found.append(
                f"{name}: syncd deactivates Learning Pool users by it (target.deactivation, "
                "users.active), so the mapping cannot set it too; remove it from users.fields"
            )
        elif name in rules.read_only:
            found.append(f"{name}: read-only in Learning Pool; remove it from users.fields")
        elif name not in rules.writable:
            found.append(
                f"{name}: not a Learning Pool user field (target.records.user.writable: "
                f"{', '.join(rules.writable)})"
            )
    for name in rules.writable:
        if name not in fields:
            continue
        value = fields[name]
        if isinstance(value, Mapping | list | tuple | set):
            found.append(f"{name}: must be text, not a list or mapping")
            continue
        problem = _value_problem(name, text(value), rules)
        if problem:
            found.append(f"{name}: {problem}")
    for name in rules.required:
        if name not in fields:
            found.append(f"{name}: required by Learning Pool; add it to users.fields")
    return found


def _value_problem(name: str, value: str, rules: UserRecord) -> str | None:
    if not value:
        return "required by Learning Pool, but empty" if name in rules.required else None
    limit = rules.max_length.get(name)
    if limit is not None and len(value) > limit:
        return f"{len(value)} characters, Learning Pool allows at most {limit}"
    form = rules.formats.get(name)
    if form == "no_spaces" and any(c.isspace() for c in value):
        return f"{value!r} contains spaces, which Learning Pool does not allow in {name}"
    if form == "email" and not _EMAIL.fullmatch(value):
        return f"{value!r} is not an email address"
    if form == "language" and not _LANGUAGE.fullmatch(value):
        return f"{value!r} is not a language code such as en or en-GB"
    if form == "time_zone" and not known_time_zone(value):
        return f"{value!r} is not a time zone such as Europe/London"
    if form == "country" and not _COUNTRY.fullmatch(value):
        return f"{value!r} is not a 3-character ISO 3166 country code such as GBR or 826"
    return None


# --- bodies ------------------------------------------------------------------------------------


def create_body(fields: Mapping[str, Any], rules: UserRecord) -> dict[str, str]:
    """Every mapped field with a value; empty optional fields are left to the platform."""
    body = {name: text(fields[name]) for name in rules.writable if name in fields}
    return {name: value for name, value in body.items() if value}


def update_body(
    fields: Mapping[str, Any], changed: tuple[str, ...], rules: UserRecord
) -> dict[str, str | None]:
    """The changed fields (a partial update); an emptied optional field is sent as null."""
    body: dict[str, str | None] = {}
    for name in changed:
        if name in rules.writable and name in fields:
            body[name] = text(fields[name]) or None
    return body


def same(a: Any, b: Any) -> bool:
    """Usernames, emails and ids compare without case or surrounding blanks."""
    return text(a).casefold() == text(b).casefold()

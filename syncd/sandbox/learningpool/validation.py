"""The rules a sandbox Simple API user must pass, answered as 422 field errors.

Learning Pool publishes no field rules for its API. These follow what its help centre
says of the platform, and are the sandbox's choice where it says nothing; each is
written here, in the sandbox, rather than taken from syncd's adapter, so that a rule
the adapter reads wrongly shows up as a refusal.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any

from syncd.sandbox.clock import parse_iso

# Manual user creation (help centre): Username "must be unique", Email "real address,
# used for password resets", First Name / Last Name; optional Image, Language, Timezone,
# Expires At, Function and Organisation Reference. The SFTP feed adds the HR ``userId``
# (here ``external_id``) and ``country``. The JSON names are the sandbox's.
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
    "expires_at",
)
REQUIRED = ("username", "email", "first_name", "last_name")
"""Only Password and the "optional" fields may be left out of a manual creation."""
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
"""The help centre gives no lengths: these are the sandbox's limits."""

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_LANGUAGE = re.compile(r"^[a-z]{2}([-_][A-Za-z]{2})?$")
_COUNTRY = re.compile(r"^([A-Z]{3}|\d{3})$")  # SFTP feed: "3 digit ISO country code"
_ZONE_SHAPE = re.compile(r"^(UTC|[A-Z][A-Za-z_]+(/[A-Za-z0-9_+-]+)+)$")
_CSV_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
LAST_YEAR = 2037  # "Entering a year after 2037 will not work." (help centre, expiresAt)

Errors = dict[str, list[str]]


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def known_time_zone(name: str) -> bool:
    """A PHP/IANA zone name; the zone database decides when the system has one."""
    zones = _zones()
    return name in zones if zones else bool(_ZONE_SHAPE.match(name))


def parse_expiry(value: str) -> float | None:
    """ISO-8601 or the CSV feed's ``YYYY-MM-DD HH:MM:SS`` (UTC), else None."""
    text = value.strip()
    try:
        if _CSV_TIME.match(text):
            return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
        return parse_iso(text)
    except ValueError:
        return None


def check_user(body: Mapping[str, Any], *, creating: bool) -> tuple[dict[str, Any], Errors]:
    """Clean values by field, or field errors (Laravel style: field -> messages)."""
    errors: Errors = {}
    values: dict[str, Any] = {}

    def refuse(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    for name, raw in body.items():
        if name in READ_ONLY:
            refuse(name, f"The {name} field is read only.")
            continue
        if name not in WRITABLE:
            refuse(name, f"The {name} field is not a user field.")
            continue
        if raw is None:
            if name in REQUIRED:
                refuse(name, f"The {name} field is required.")
            else:
                values[name] = None
            continue
        if not isinstance(raw, str):
            refuse(name, f"The {name} field must be a string.")
            continue
        text = raw.strip()
        if name in REQUIRED and not text:
            refuse(name, f"The {name} field is required.")
            continue
        limit = MAX_LENGTH.get(name)
        if limit is not None and len(text) > limit:
            refuse(name, f"The {name} field must not be greater than {limit} characters.")
            continue
        problem = _format_problem(name, text)
        if problem:
            refuse(name, problem)
            continue
        values[name] = (parse_expiry(text) if text else None) if name == "expires_at" else text
    if creating:
        for name in REQUIRED:
            if name not in body:
                refuse(name, f"The {name} field is required.")
    return values, errors


def _format_problem(name: str, text: str) -> str | None:
    if name == "username" and any(c.isspace() for c in text):
        return "The username field must not contain spaces."
    if name == "email" and not _EMAIL.match(text):
        return "The email field must be a valid email address."
    if name == "language" and not _LANGUAGE.match(text):
        return "The language field must be a language code such as en or en-GB."
    if name == "timezone" and not known_time_zone(text):
        return "The timezone field must be a valid time zone such as Europe/London."
    if name == "country" and not _COUNTRY.match(text):
        return "The country field must be a 3-character ISO 3166 country code such as GBR."
    if name == "expires_at" and text:
        moment = parse_expiry(text)
        if moment is None:
            return "The expires_at field must be a date (ISO 8601 or YYYY-MM-DD HH:MM:SS)."
        if datetime.fromtimestamp(moment, UTC).year > LAST_YEAR:
            return f"The expires_at field must be a date before {LAST_YEAR + 1}."
    return None

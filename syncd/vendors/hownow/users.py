"""HowNow user fields: what a mapping may set, how each is checked and how the upsert body looks.

The rules are the upsert's documented validations (digest §4.3): ``external_user_id``
``/\\A[a-zA-Z0-9_-]+\\z/``, ``name`` at most 75 characters, ``email`` in Devise's
format, ``user_type`` one of four values, ``YYYY-MM-DD`` dates, ``ID-``/``EXT-``
references. Checking them here costs no API call and names the field at fault;
HowNow would only say so in a failed job, after two calls.

Mapping conveniences, so HR data can be used as it comes:

- ``manager_id`` and ``job_role.id`` may be a bare external id (``E1042``): syncd
  writes ``EXT-E1042``. A value that already starts with ``EXT-`` or ``ID-`` is taken
  as a HowNow reference as it stands; an empty value means "none".
- ``job_role`` may be a plain string: the role's name.
- ``custom_fields`` may be a mapping ``{field name: value}`` or HowNow's own list of
  ``{field_name, value}``; values are sent as text. The whole list is sent on every
  upsert, because HowNow replaces it (digest §4.3 [L703]).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

EXTERNAL_ID = re.compile(r"[a-zA-Z0-9_-]+")
DEVISE_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")  # Devise's default email_regexp
HTTP_URL = re.compile(r"https?://[^\s/]+\S*", re.IGNORECASE)
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
NAME_MAX = 75
USER_TYPES = ("Admin", "Manager", "ReadOnly", "Contributor")
INT32_MAX = 2_147_483_647

REQUIRED = ("external_user_id", "name", "email", "user_type")
OPTIONAL = ("manager_id", "start_date", "avatar_url", "job_role", "custom_fields")
FIELDS = REQUIRED + OPTIONAL
CLEARABLE = ("manager_id", "start_date", "avatar_url", "job_role")
"""Optional fields HowNow keeps when they are left out: emptying one in HR cannot clear it."""

_EARLIEST_TIMEZONE = timedelta(hours=12)
"""Anywhere on Earth is UTC-12: once a date has begun there, it is no longer a future
date in any time zone, whichever one the HowNow tenant uses (it is not documented)."""


def text(value: Any) -> str:
    """A field value as HowNow's text: None -> "", numbers as written, surrounding spaces off."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def external_user_id(fields: Mapping[str, Any]) -> str:
    return text(fields.get("external_user_id"))


def reference(value: Any) -> str | None:
    """``manager_id``/``job_role.id`` as HowNow's ``EXT-``/``ID-`` reference; None when empty."""
    value = text(value)
    if not value:
        return None
    if value.startswith(("EXT-", "ID-")):
        return value
    return f"EXT-{value}"


def reference_problem(ref: str) -> str | None:
    prefix, _, rest = ref.partition("-")
    if prefix == "EXT" and EXTERNAL_ID.fullmatch(rest):
        return None
    if prefix == "ID" and rest.isdigit() and int(rest) <= INT32_MAX:
        return None
    return (
        f"{ref!r} is not a HowNow reference: write an external id (letters, digits, _ and -), "
        "EXT-<external id> or ID-<number up to 2147483647>"
    )


def manager_external_id(fields: Mapping[str, Any]) -> str | None:
    """The external id of the manager ``fields`` name (None for none or an ``ID-`` reference)."""
    ref = reference(fields.get("manager_id"))
    return ref[4:] if ref and ref.startswith("EXT-") else None


def start_date(fields: Mapping[str, Any]) -> date | None:
    value = text(fields.get("start_date"))
    if not DAY.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def not_before(fields: Mapping[str, Any], now: datetime) -> date | None:
    """The start date while it is still in the future at ``now`` (HowNow refuses it), else None."""
    day = start_date(fields)
    if day is None:
        return None
    earliest_today = (now.astimezone(UTC) - _EARLIEST_TIMEZONE).date()
    return day if day > earliest_today else None


# --- validation --------------------------------------------------------------------------------


def problems(fields: Mapping[str, Any]) -> list[str]:
    """Why HowNow would refuse these fields; each reason names the field. Empty when valid."""
    found: list[str] = []
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        found.append(
            f"{', '.join(unknown)}: not a HowNow user field (the upsert takes {', '.join(FIELDS)})"
        )
    for name in REQUIRED:
        if not text(fields.get(name)):
            found.append(f"{name}: required by HowNow, but empty")
    ext = external_user_id(fields)
    if ext and not EXTERNAL_ID.fullmatch(ext):
        found.append(
            f"external_user_id: {ext!r} may contain only letters, digits, _ and - "
            "(HowNow's rule /\\A[a-zA-Z0-9_-]+\\z/)"
        )
    name = text(fields.get("name"))
    if len(name) > NAME_MAX:
        found.append(f"name: {len(name)} characters, HowNow allows at most {NAME_MAX}")
    email = text(fields.get("email"))
    if email and not DEVISE_EMAIL.fullmatch(email):
        found.append(f"email: {email!r} is not an email address")
    user_type = text(fields.get("user_type"))
    if user_type and _user_type(user_type) is None:
        found.append(f"user_type: {user_type!r} is not one of {', '.join(USER_TYPES)}")
    found += _manager_problems(fields, ext)
    raw_date = text(fields.get("start_date"))
    if raw_date and start_date(fields) is None:
        found.append(f"start_date: {raw_date!r} is not a date written YYYY-MM-DD")
    avatar = text(fields.get("avatar_url"))
    if avatar and not HTTP_URL.fullmatch(avatar):
        found.append(f"avatar_url: {avatar!r} is not an http(s) URL")
    found += _job_role_problems(fields.get("job_role"))
    found += _custom_field_problems(fields.get("custom_fields"))
    return found


def _user_type(value: str) -> str | None:
    """HowNow's spelling of a user type (it compares case-insensitively)."""
    return next((t for t in USER_TYPES if t.lower() == value.strip().lower()), None)


def _manager_problems(fields: Mapping[str, Any], ext: str) -> list[str]:
    ref = reference(fields.get("manager_id"))
    if ref is None:
        return []
    problem = reference_problem(ref)
    if problem:
        return [f"manager_id: {problem}"]
    if ext and ref == f"EXT-{ext}":
        return ["manager_id: a person cannot be their own manager"]
    return []


def _job_role_problems(value: Any) -> list[str]:
    if value is None or isinstance(value, str | int):
        return []
    if not isinstance(value, Mapping):
        return ["job_role: must be a role name or {id, name}"]
    found = []
    extra = sorted(set(value) - {"id", "name"})
    if extra:
        found.append(f"job_role: unknown key(s) {', '.join(extra)} (HowNow takes id and name)")
    ref = reference(value.get("id"))
    problem = reference_problem(ref) if ref else None
    if problem:
        found.append(f"job_role.id: {problem}")
    return found


def _custom_field_problems(value: Any) -> list[str]:
    if value is None:
        return []
    entries = _custom_entries(value)
    if entries is None:
        return [
            "custom_fields: must be a mapping of field name to value, "
            "or a list of {field_name, value}"
        ]
    found = []
    names = [name for name, _ in entries]
    if any(not name for name in names):
        found.append("custom_fields: a field has no name")
    repeated = sorted({name for name in names if name and names.count(name) > 1})
    if repeated:
        found.append(f"custom_fields: {', '.join(repeated)} given more than once")
    complex_values = [name for name, item in entries if isinstance(item, Mapping | list)]
    if complex_values:
        found.append(
            f"custom_fields: {', '.join(complex_values)} must be text, not a list or mapping"
        )
    return found


def _custom_entries(value: Any) -> list[tuple[str, Any]] | None:
    if isinstance(value, Mapping):
        return [(text(name), item) for name, item in value.items()]
    if isinstance(value, list):
        entries = []
        for item in value:
            if not isinstance(item, Mapping) or set(item) - {"field_name", "name", "value"}:
                return None
            entries.append((text(item.get("field_name", item.get("name"))), item.get("value")))
        return entries
    return None


def custom_fields_not_applied(sent: Any, held: Any) -> list[str]:
    """Each sent custom field the user does not hold as sent, as ``name (sent …, HowNow has …)``.

    HowNow answers custom fields as ``[{name, values}]`` (digest L299-343), not as sent.
    """
    wanted = _custom_entries(sent) or []
    holds = {
        text(entry.get("name")): entry.get("values")
        for entry in held if isinstance(entry, Mapping)
    } if isinstance(held, list) else {}
    return [
        f"custom field {name} (sent {value!r}, HowNow has {holds.get(name)!r})"
        for name, value in wanted
        if text(holds.get(name)) != text(value)
    ]


# --- the upsert body ---------------------------------------------------------------------------


def upsert_body(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The documented upsert body for valid ``fields``: the full managed state, every time.

    Empty optional fields are left out (HowNow keeps what it has; an empty ``manager_id``
    would be refused). ``custom_fields``, when mapped, is always sent whole.
    """
    body: dict[str, Any] = {
        "external_user_id": external_user_id(fields),
        "name": text(fields.get("name")),
        "email": text(fields.get("email")),
    }
    user_type = text(fields.get("user_type"))
    body["user_type"] = _user_type(user_type) or user_type
    day = start_date(fields)
    body |= _present(
        {
            "manager_id": reference(fields.get("manager_id")),
            "start_date": day.isoformat() if day is not None else None,
            "avatar_url": text(fields.get("avatar_url")),
            "job_role": job_role(fields.get("job_role")),
        }
    )
    if "custom_fields" in fields:
        entries = _custom_entries(fields.get("custom_fields")) or []
        body["custom_fields"] = [
            {"field_name": name, "value": text(item)} for name, item in entries
        ]
    return body


def job_role(value: Any) -> dict[str, str]:
    """``{"id": "EXT-…", "name": "…"}`` with empty parts left out ({} for no role)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        return _present({"name": text(value)})
    return _present({"id": reference(value.get("id")), "name": text(value.get("name"))})


def _present(parts: Mapping[str, Any]) -> dict[str, Any]:
    """``parts`` without the empty ones, in order: HowNow keeps what a body leaves out."""
    return {name: part for name, part in parts.items() if part}


def cleared_fields(fields: Mapping[str, Any], changed: tuple[str, ...]) -> list[str]:
    """Fields an update empties that HowNow cannot clear (it keeps values left out)."""
    body = upsert_body(fields)
    return [name for name in CLEARABLE if name in changed and name not in body]

"""User field rules TalentLMS documents: required fields, email format and uniqueness,
login uniqueness, 191-character limits, and the three ways of saying "status".

Every problem is reported (the ``_errors`` array can hold several), each as
``("bad_request", title)``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from syncd.sandbox.talentlms.envelopes import is_placeholder
from syncd.sandbox.talentlms.store import ACTIVE, INACTIVE, Store

MAX_LENGTH = 191
EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

STRING_FIELDS = (
    "name",
    "surname",
    "login",
    "email",
    "description",
    "timezone",
    "locale",
    "password",
    "current_password",
)
LABELS = {
    "name": "Name",
    "surname": "Surname",
    "login": "User login",
    "email": "Email",
    "password": "Password",
    "description": "Description",
    "timezone": "Timezone",
    "locale": "Locale",
    "current_password": "Current password",
}

Problem = tuple[str, str]


def _bad(title: str) -> Problem:
    return ("bad_request", title)


def parse_bool(value: Any) -> bool | None:
    """JSON booleans, and the strings/numbers PHP accepts for them; None when not boolean."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    return None


def parse_status(payload: Mapping[str, Any]) -> tuple[str | None, Problem | None]:
    """The account status from ``status`` ("active"/"inactive" or a boolean) or ``active``.

    The create body types ``status`` as a boolean, the update body as an enum, the
    update table names the field ``active`` (boolean); the examples send "active".
    All of them are accepted.
    """
    if "status" in payload and not is_placeholder(payload["status"]):
        value = payload["status"]
        if isinstance(value, str) and value.strip().lower() in (ACTIVE, INACTIVE):
            return value.strip().lower(), None
        flag = parse_bool(value)
        if flag is None:
            return None, _bad("The attribute 'status' must be one of: active, inactive")
        return (ACTIVE if flag else INACTIVE), None
    if "active" in payload and not is_placeholder(payload["active"]):
        flag = parse_bool(payload["active"])
        if flag is None:
            return None, _bad("The attribute 'active' must be boolean")
        return (ACTIVE if flag else INACTIVE), None
    return None, None


@dataclass(slots=True)
class UserChanges:
    """A validated create or update: only the fields given (placeholders dropped)."""

    fields: dict[str, Any]
    status: str | None
    has_password: bool


def check_user(
    payload: Any,
    store: Store,
    *,
    creating: bool,
    user_id: int | None = None,
    require_password: bool = True,
    custom_fields: bool = False,
) -> tuple[UserChanges | None, list[Problem]]:
    """Validate a user body; ``custom_fields`` allows ``custom_field_N`` keys (batch only)."""
    if not isinstance(payload, Mapping):
        return None, [_bad("Request body must be a JSON object")]
    given = {k: v for k, v in payload.items() if v is not None and not is_placeholder(v)}
    problems: list[Problem] = []
    fields: dict[str, Any] = {}

    for key in STRING_FIELDS:
        if key not in given:
            continue
        value = given[key]
        if not isinstance(value, str):
            problems.append(_bad(f"The attribute '{key}' must be a string"))
            continue
        if len(value) > MAX_LENGTH:
            problems.append(_bad(f"{LABELS[key]} must not exceed {MAX_LENGTH} characters"))
            continue
        fields[key] = value.strip() if key in ("login", "email") else value

    if creating:
        required = ["name", "surname", "login", "email"] + (
            ["password"] if require_password else []
        )
        for key in required:
            if not str(fields.get(key, "")).strip() and not any(
                p[1].startswith(f"The attribute '{key}'") for p in problems
            ):
                problems.append(_bad(f"{LABELS[key]} is required"))
    else:
        for key in ("name", "surname", "login", "email"):
            if key in fields and not fields[key].strip():
                problems.append(_bad(f"{LABELS[key]} is required"))

    email = fields.get("email")
    if email:
        if not EMAIL.match(email):
            problems.append(_bad("Email is not valid"))
        else:
            other = store.user_by_email(email)
            if other is not None and other.id != user_id:
                problems.append(_bad("Email already exists"))
    login = fields.get("login")
    if login:
        other = store.user_by_login(login)
        if other is not None and other.id != user_id:
            problems.append(_bad("Login already exists"))

    if "email_notifications" in given:
        flag = parse_bool(given["email_notifications"])
        if flag is None:
            problems.append(_bad("The attribute 'email_notifications' must be boolean"))
        else:
            fields["email_notifications"] = flag
    if "user_type_id" in given:
        type_id = given["user_type_id"]
        if isinstance(type_id, str) and type_id.isdigit():
            type_id = int(type_id)
        if (
            not isinstance(type_id, int)
            or isinstance(type_id, bool)
            or (type_id not in store.user_types)
        ):
            problems.append(_bad("User type id is invalid"))
        else:
            fields["user_type_id"] = type_id
    if "credits" in given:
        credits = given["credits"]
        if isinstance(credits, bool) or not isinstance(credits, int | float):
            problems.append(_bad("The attribute 'credits' must be a number"))
        else:
            fields["credits"] = credits
    if "deactivation_date" in given:
        value = given["deactivation_date"]
        if not isinstance(value, str) or not DATE.match(value):
            problems.append(_bad("Deactivation date must be a date in YYYY-MM-DD format"))
        else:
            fields["deactivation_date"] = value

    if custom_fields:
        for key, value in given.items():
            if not key.startswith("custom_field_"):
                continue
            if key not in store.user_fields:
                problems.append(_bad(f"Custom field '{key}' does not exist"))
            elif not isinstance(value, str | int | float) or isinstance(value, bool):
                problems.append(_bad(f"The attribute '{key}' must be a string"))
            elif len(str(value)) > MAX_LENGTH:
                problems.append(
                    _bad(f"Custom field '{key}' must not exceed {MAX_LENGTH} characters")
                )
            else:
                fields[key] = str(value)

    status, status_problem = parse_status(payload)
    if status_problem:
        problems.append(status_problem)
    has_password = "password" in fields
    fields.pop("password", None)
    fields.pop("current_password", None)
    return UserChanges(fields, status, has_password), problems

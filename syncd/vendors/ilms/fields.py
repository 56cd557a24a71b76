"""The iLMS user profile fields (digest §4.2, seed L19-L58) and how mapping names reach them.

iLMS knows users only as a list of field codes (``F001`` … ``F034``). A connector's
``users.fields`` may use the codes themselves or the names below, taken from the
field table's labels (``first_name`` for F001 "First Name", ``department`` for F021),
so a mapping reads like the HR record it comes from. Either way the link stores the
values under the mapping's own names; only the wire speaks codes.

Each field carries the rules the document states: maximum length (in characters),
which restricted-character set applies (Set A ``< > " % ; +`` or Set B
``% \\ + ; " < > : ?``), whether the ambiguous "& # are restricted" note applies,
whether it is required, read-only or a lookup value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

SET_A = '<>"%;+'
SET_B = '%\\+;"<>:?'
AMP_HASH = "&#"
LDAP_EMAIL_FIRST = "`~!@#$%&*()=}{ './_"  # L40
LDAP_SUPERVISOR_FIRST = "`~!@#$%&*()=}{ '!:/_"  # L58

Kind = Literal["text", "date", "language", "country", "state", "timezone", "password"]


@dataclass(frozen=True, slots=True)
class Field:
    """One row of the document's "User Object Fields" table."""

    code: str
    label: str
    alias: str  # the mapping name that stands for this code
    max_length: int | None = 100
    restricted: str = SET_A
    required: bool = False
    amp_hash: bool = False  # "& # are restricted by functionality" (L24)
    read_only: bool = False
    kind: Kind = "text"
    ldap_first: str = ""  # characters the value may not start with on LDAP organizations

    def title(self) -> str:
        return f"{self.code} ({self.label})"


def _table(*fields: Field) -> dict[str, Field]:
    return {f.code: f for f in fields}


FIELDS: dict[str, Field] = _table(
    Field("F001", "First Name", "first_name", 200, required=True, amp_hash=True),
    Field("F002", "Middle Name", "middle_name"),
    Field("F003", "Last Name", "last_name", 200, required=True, amp_hash=True),
    Field("F004", "Employee ID", "employee_id", amp_hash=True),
    Field("F005", "Hire Date", "hire_date", None, "", kind="date"),
    Field("F006", "User Language", "language", restricted=SET_B, kind="language"),
    Field("F007", "Job Title", "job_title", 50),
    Field("F008", "Address 1", "address_1"),
    Field("F009", "Address 2", "address_2"),
    Field("F010", "City", "city"),
    Field("F011", "Country", "country", kind="country"),
    Field("F012", "State", "state", kind="state"),
    Field("F013", "State/Province/Region", "province"),
    Field("F014", "Zip Code/Postal Code", "postal_code"),
    Field("F015", "Email ID", "email", 200, ldap_first=LDAP_EMAIL_FIRST),
    Field("F016", "Password", "password", None, kind="password"),
    Field("F017", "Phone", "phone"),
    Field("F018", "Fax", "fax"),
    Field("F019", "Region", "region", restricted=SET_B, required=True, amp_hash=True),
    Field("F020", "Division", "division", restricted=SET_B, required=True, amp_hash=True),
    Field("F021", "Department", "department", restricted=SET_B, required=True, amp_hash=True),
    Field("F022", "Company/Employer", "company"),
    Field("F023", "Time Zone", "time_zone", restricted="", kind="timezone"),
    Field("F024", "Custom Field 1", "custom_field_1"),
    Field("F025", "Custom Field 2", "custom_field_2"),
    Field("F026", "Custom Field 3", "custom_field_3"),
    Field("F027", "Custom Field 4", "custom_field_4"),
    Field("F031", "Registration Type", "registration_type", None, "", read_only=True),
    Field("F032", "Registration Date", "registration_date", None, "", read_only=True),
    Field("F033", "Supervisor Name", "supervisor_name", 500),
    Field("F034", "Supervisor Email", "supervisor_email", 500, ldap_first=LDAP_SUPERVISOR_FIRST),
)

HIERARCHY = ("F019", "F020", "F021")
"""Region, Division, Department: sent together or not at all (L464)."""

REQUIRED = tuple(code for code, f in FIELDS.items() if f.required)
PASSWORD = "F016"

SEARCHABLE = tuple(
    code for code, f in FIELDS.items() if not f.read_only and f.kind not in ("password", "date")
)
"""Codes an account can be found by (exact search ``F004="…"``, L87); dates search by range."""

WRITE_ONLY_NAMES = frozenset({PASSWORD, PASSWORD.lower(), FIELDS[PASSWORD].alias})
"""Mapping names of the password: sent on create only, never stored in a link nor compared."""

_BY_ALIAS = {f.alias: f.code for f in FIELDS.values()}
_CODE = re.compile(r"^[Ff]\d{3}$")


def code_of(name: str) -> str | None:
    """The field code a mapping name stands for (``F004``, ``f004``, ``employee_id``)."""
    text = name.strip()
    if _CODE.match(text) and text.upper() in FIELDS:
        return text.upper()
    return _BY_ALIAS.get(text.lower())


def unknown_name_reason(name: str) -> str:
    """Why a mapping name is no iLMS field, with what would be accepted instead."""
    text = name.strip()
    if _CODE.match(text):
        return (
            f"users.fields.{name}: iLMS has no field {text.upper()} (its field codes are "
            "F001-F027 and F031-F034; F028-F030 do not exist)"
        )
    names = ", ".join(f.alias for f in FIELDS.values() if not f.read_only)
    return f"users.fields.{name}: not an iLMS field; use a field code (F001 …) or one of: {names}"


def to_codes(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The mapping's values keyed by field code; names that are no field are left out."""
    coded: dict[str, Any] = {}
    for name, value in fields.items():
        code = code_of(name)
        if code is not None:
            coded[code] = value
    return coded


def match_of(fields: Mapping[str, Any], codes: tuple[str, ...]) -> tuple[str, str] | None:
    """(code, value) a person is matched by: the first of ``codes`` the mapping gives a value."""
    coded = to_codes(fields)
    for code in codes:
        value = wire_text(coded.get(code))
        if value:
            return code, value
    return None


def wire_text(value: Any) -> str:
    """A value as iLMS takes it: text, ``""`` for nothing, surrounding spaces trimmed."""
    if value is None:
        return ""
    return str(value).strip()


def wire_value(code: str, value: Any) -> str:
    """What is sent for ``code``: hire dates as ``yyyy-MM-ddT00:00:00`` (digest §4.3 Rec)."""
    text = wire_text(value)
    if FIELDS[code].kind == "date" and len(text) == 10:
        return f"{text}T00:00:00"
    return text


def pairs(coded: Mapping[str, Any], codes: list[str] | tuple[str, ...]) -> list[dict[str, str]]:
    """``[{"Key": "F001", "Value": "John"}, …]`` for ``codes``, in the table's order."""
    order = [code for code in FIELDS if code in codes]
    return [{"Key": code, "Value": wire_value(code, coded.get(code))} for code in order]


def create_codes(coded: Mapping[str, Any]) -> list[str]:
    """The codes a create sends: every writable field with a value (empty ones are unset)."""
    return [
        code
        for code, value in coded.items()
        if not FIELDS[code].read_only and wire_text(value) != ""
    ]


def update_codes(coded: Mapping[str, Any], changed_codes: set[str]) -> list[str]:
    """The codes a partial update sends: the changed ones, the hierarchy always whole.

    "Region(F019), Division(F020) and Department(F021) needs to be passed together …
    only F019 or F020 will not able to make any change" (L464).
    """
    codes = {c for c in changed_codes if c in FIELDS and not FIELDS[c].read_only}
    codes.discard(PASSWORD)  # never re-sent on an update (digest Q39)
    if codes & set(HIERARCHY):
        codes |= {c for c in HIERARCHY if c in coded}
    return [code for code in FIELDS if code in codes]

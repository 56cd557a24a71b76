"""``validate(user)`` for iLMS: the document's field table, applied before anything is sent.

The rules are the digest's pre-send recipe (§4.5), each from the field table (L19-L58):
required fields, maximum lengths, restricted characters, lookup values (language,
country, state, time zone), the hire date's form, and a Region → Division →
Department chain that exists in the organization. A record that breaks any of them
gets every reason at once, each naming the mapping field, the iLMS code and what to
change, and is never sent.

What the document leaves to "iLMS settings" comes from the target configuration:
``required_fields`` (fields the organization makes mandatory), ``allow_amp_hash``
(the ambiguous "& # are restricted" note, refused by default), ``ldap`` (first
characters of e-mail addresses) and ``languages`` (the languages enabled).

The planner validates every changed person of a cycle in one *pass* (started by
``Adapter.begin_validation``): inside it a second person with a match value (e.g.
F004) already seen is refused, because iLMS would hold two accounts no lookup can
tell apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import syncd.vendors.ilms.lookups as lookups
from syncd.config.schema.targets import ILMSTarget
from syncd.model import DesiredUser
from syncd.vendors.ilms.fields import (
    AMP_HASH,
    FIELDS,
    HIERARCHY,
    REQUIRED,
    Field,
    code_of,
    match_of,
    unknown_name_reason,
    wire_text,
)
from syncd.vendors.ilms.hierarchy import Hierarchy

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2})?$")

_TABLE_LOOKUPS: dict[str, tuple[Callable[[str], str | None], str]] = {
    "country": (
        lookups.country,
        "is not a country iLMS lists; use its iLMS name or code (e.g. 'United Kingdom' or 'GB')",
    ),
    "state": (
        lookups.state,
        "is not a US state or Canadian province name or code; other regions go in F013 (province)",
    ),
    "timezone": (
        lookups.time_zone,
        "is not an iLMS time zone; use its full name, "
        "e.g. '(GMT-05.00) Eastern Time (US & Canada)'",
    ),
}
"""Field kinds whose values are found in a fixed iLMS table: how, and the hint when not."""


def _label(name: str, field: Field) -> str:
    """``job_title (F007 Job Title)``, or ``F007 (Job Title)`` when the mapping uses the code."""
    if name.strip().upper() == field.code:
        return field.title()
    return f"{name} ({field.code} {field.label})"


class Validator:
    """Checks desired users against the field table and the organization's hierarchy."""

    def __init__(
        self,
        target: ILMSTarget,
        hierarchy: Hierarchy,
        match_codes: tuple[str, ...],
    ) -> None:
        self._hierarchy = hierarchy
        self._match_codes = match_codes
        self._allow_amp_hash = target.allow_amp_hash
        self._ldap = target.ldap
        self._languages = tuple(target.languages) if target.languages else lookups.LANGUAGES
        self._required: list[str] = list(REQUIRED)
        self._config_problems: list[str] = []
        for name in target.required_fields:
            code = code_of(name)
            if code is None:
                self._config_problems.append(
                    f"target.required_fields: {name!r} is not an iLMS field code or name"
                )
            elif code not in self._required:
                self._required.append(code)
        self._seen: dict[tuple[str, str], str] = {}  # (code, folded value) -> hr key, this pass

    def begin_pass(self) -> None:
        self._seen.clear()

    def validate(self, user: DesiredUser) -> list[str]:
        reasons = self.problems(user.fields)
        if not reasons:
            reasons += self._duplicate(user.hr_key, user.fields)
        return reasons

    def problems(self, fields: Mapping[str, Any]) -> list[str]:
        """Every reason iLMS would refuse these fields (no pass state: safe before sending)."""
        reasons = list(self._config_problems)
        coded: dict[str, Any] = {}
        names: dict[str, str] = {}
        for name, value in fields.items():
            code = code_of(name)
            if code is None:
                reasons.append(unknown_name_reason(name))
                continue
            if code in names:
                reasons.append(
                    f"users.fields.{name}: {code} is already given as users.fields.{names[code]}"
                )
                continue
            names[code] = name
            coded[code] = value
        for code, value in coded.items():
            problem = self._value_problem(names[code], FIELDS[code], value, coded)
            if problem:
                reasons.append(problem)
        for code in self._required:
            if wire_text(coded.get(code)) == "" and not _is_structured(coded.get(code)):
                where = names.get(code)
                field = FIELDS[code]
                reasons.append(
                    f"{_label(where, field) if where else field.title()}: is required by iLMS "
                    + ("and is empty" if where else "and the mapping does not set it")
                )
        if not reasons:
            reasons += self._hierarchy_problems(coded, names)
        return reasons

    # --- one value ---------------------------------------------------------------------------

    def _value_problem(
        self, name: str, field: Field, value: Any, coded: Mapping[str, Any]
    ) -> str | None:
        label = _label(name, field)
        if field.read_only:
            return f"{label}: is read-only in iLMS; remove it from users.fields"
        if _is_structured(value) or isinstance(value, bool):
            return f"{label}: must be text, not {type(value).__name__}"
        text = wire_text(value)
        if not text:
            return None
        if field.max_length is not None and len(text) > field.max_length:
            return (
                f"{label}: {len(text)} characters, iLMS allows at most {field.max_length}; "
                "shorten it in HR or in the mapping"
            )
        banned = field.restricted + (
            AMP_HASH if field.amp_hash and not self._allow_amp_hash else ""
        )
        found = sorted({c for c in text if c in banned})
        if found:
            shown = " ".join(found)
            hint = (
                " (plus-addressed e-mail addresses are refused by iLMS)"
                if field.code == "F015" and "+" in found
                else ""
            )
            return f"{label}: contains characters iLMS refuses in this field: {shown}{hint}"
        if self._ldap and field.ldap_first and text[0] in field.ldap_first:
            return f"{label}: may not start with {text[0]!r} on an LDAP organization"
        return self._lookup_problem(label, field, text, coded)

    def _lookup_problem(
        self, label: str, field: Field, text: str, coded: Mapping[str, Any]
    ) -> str | None:
        kind = field.kind
        if kind in _TABLE_LOOKUPS:
            find, hint = _TABLE_LOOKUPS[kind]
            if find(text) is None:
                return f"{label}: {text!r} {hint}"
        if kind == "date":
            if not _DATE.match(text) or not _real_date(text):
                return f"{label}: {text!r} is not a date; write yyyy-MM-dd"
        elif kind == "language" and lookups.language(text, self._languages) is None:
            listed = ", ".join(self._languages[:6]) + (" …" if len(self._languages) > 6 else "")
            return (
                f"{label}: {text!r} is not a language enabled in iLMS; use its name "
                f"(for example {listed}), not a code"
            )
        elif kind == "state":
            country = wire_text(coded.get("F011"))
            if country and not lookups.is_us_or_canada(country):
                return (
                    f"{label}: is only for the United States and Canada, but the country is "
                    f"{country!r}; put the region in F013 (province) instead"
                )
        return None

    # --- across values -------------------------------------------------------------------------

    def _hierarchy_problems(self, coded: Mapping[str, Any], names: Mapping[str, str]) -> list[str]:
        region, division, department = (wire_text(coded.get(c)) for c in HIERARCHY)
        problem = self._hierarchy.problem(region, division, department)
        if problem is None:
            return []
        shown = "/".join(names.get(code, code) for code in HIERARCHY)
        return [f"{shown} (F019/F020/F021): {problem}"]

    def _duplicate(self, hr_key: str, fields: Mapping[str, Any]) -> list[str]:
        found = match_of(fields, self._match_codes)
        if found is None:
            return []
        code, value = found
        other = self._seen.setdefault((code, " ".join(value.split()).casefold()), hr_key)
        if other == hr_key:
            return []
        return [
            f"{FIELDS[code].title()}: {value!r} is also the value of "
            f"HR record {other}; accounts are matched by it, so it must be unique"
        ]


def _is_structured(value: Any) -> bool:
    return isinstance(value, dict | list | tuple | set)


def _real_date(text: str) -> bool:
    from datetime import datetime

    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True

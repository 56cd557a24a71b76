"""The rules each iLMS user profile value must pass (seed L19-L58), as the sandbox applies them.

Every rule here is the document's: required fields, maximum lengths, the two
restricted-character sets, the "& #" note, LDAP first characters, read-only fields
and the lookup tables. The field table itself (one row per code) is the sandbox's own
transcription of the document, in ``facts``. The region/division/department names are
checked against the organization's hierarchy by the store, which knows it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import syncd.sandbox.ilms.lookups as lookups
from syncd.sandbox.ilms.facts import AMP_HASH, FIELDS, STATE_COUNTRIES, FieldRule

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d{1,7})?)?$")


@dataclass(frozen=True, slots=True)
class ProfileRules:
    """What an organization's settings decide: languages, LDAP, extra required fields."""

    languages: tuple[str, ...] = lookups.LANGUAGES
    ldap: bool = False
    amp_hash_allowed: bool = False
    extra_required: tuple[str, ...] = ()


@dataclass(slots=True)
class ProfileInput:
    """A checked key/value list: clean values by code, or the reasons it was refused."""

    values: dict[str, str | None] = field(default_factory=dict)
    password: str | None = None
    errors: list[dict[str, str]] = field(default_factory=list)

    def refuse(self, code: str, message: str) -> None:
        self.errors.append({"Key": code, "Message": message})


def read_pairs(items: Any) -> list[tuple[str, Any]] | None:
    """``[{"Key": "F001", "Value": "John"}, ...]`` as pairs (keys bound case-insensitively),
    or None when the shape is not a key/value list."""
    if not isinstance(items, list):
        return None
    pairs: list[tuple[str, Any]] = []
    for item in items:
        if not isinstance(item, Mapping):
            return None
        folded = {str(k).casefold(): v for k, v in item.items()}
        if "key" not in folded or not isinstance(folded["key"], str):
            return None
        pairs.append((folded["key"].strip().upper(), folded.get("value")))
    return pairs


def _text(value: Any) -> str | None:
    """Values are strings; numbers are read as their text (the examples mix both)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(value)
    return value if isinstance(value, str) else None


def normalize_date(value: str) -> str | None:
    """``yyyy-MM-dd`` or ``yyyy-MM-ddTHH:mm:ss[.fff]`` as ``yyyy-MM-ddTHH:mm:ss``."""
    text = value.strip()
    if not _DATE.match(text):
        return None
    try:
        parsed = datetime.fromisoformat(text[:19] if "T" in text else text)
    except ValueError:
        return None
    return parsed.strftime("%Y-%m-%dT%H:%M:%S")


def check_profile(
    pairs: Iterable[tuple[str, Any]],
    rules: ProfileRules,
    *,
    creating: bool,
    stored: Mapping[str, str | None] | None = None,
) -> ProfileInput:
    """Apply the field table to ``pairs`` (an update's ``stored`` profile completes the
    state/country pair); hierarchy names are resolved by the caller."""
    result = ProfileInput()
    seen: set[str] = set()
    for code, raw in pairs:
        rule = FIELDS.get(code)
        if rule is None:
            result.refuse(code, f"{code} is not a user profile field code.")
            continue
        if code in seen:
            result.refuse(code, f"{rule.title()} is given more than once.")
            continue
        seen.add(code)
        if rule.read_only:
            result.refuse(code, f"{rule.title()} is read only.")
            continue
        text = _text(raw)
        if text is None:
            result.refuse(code, f"{rule.title()} must be a string.")
            continue
        _check_value(rule, text.strip() if rule.kind != "password" else text, rules, result)
    required = [c for c, r in FIELDS.items() if r.required] + list(rules.extra_required)
    for code in required:
        given = code in result.values
        empty = given and not result.values[code]
        already = any(e["Key"] == code for e in result.errors)
        if ((creating and not given) or empty) and not already:
            result.refuse(code, f"{FIELDS[code].title()} is required.")
    _check_state_country(result, stored or {})
    return result


def _check_state_country(out: ProfileInput, stored: Mapping[str, str | None]) -> None:
    """F012 only beside a US or Canadian F011 (or none), as the profile will read after."""
    state = out.values.get("F012", stored.get("F012"))
    country = out.values.get("F011", stored.get("F011"))
    if not (state and country) or lookups.country_name(country) in STATE_COUNTRIES:
        return
    key = "F012" if "F012" in out.values else "F011"
    out.refuse(
        key,
        f"{FIELDS['F012'].title()} is for the United States and Canada only, but F011 "
        f"(Country) is {country!r}; F013 (State/Province/Region) takes other regions.",
    )


def _check_value(rule: FieldRule, text: str, rules: ProfileRules, out: ProfileInput) -> None:
    if rule.max_length is not None and len(text) > rule.max_length:
        out.refuse(
            rule.code,
            f"{rule.title()} must be at most {rule.max_length} characters (it has {len(text)}).",
        )
        return
    banned = rule.restricted + (AMP_HASH if rule.amp_hash and not rules.amp_hash_allowed else "")
    found = sorted({c for c in text if c in banned})
    if found:
        out.refuse(
            rule.code,
            f"{rule.title()} contains restricted characters: {' '.join(found)}.",
        )
        return
    if rules.ldap and rule.ldap_first and text and text[0] in rule.ldap_first:
        out.refuse(rule.code, f"{rule.title()} cannot start with {text[0]!r} (LDAP).")
        return
    if rule.kind == "password":
        out.password = text or None
        return
    if not text:
        out.values[rule.code] = None if rule.kind == "date" else ""
        return
    value: str | None = text
    if rule.kind == "date":
        value = normalize_date(text)
        problem = "is not a date (yyyy-MM-dd or yyyy-MM-ddTHH:mm:ss)"
    elif rule.kind == "language":
        value = lookups.language(text, rules.languages)
        problem = "is not a language available to the organization"
    elif rule.kind == "country":
        value = lookups.country(text)
        problem = "is not a country name or code iLMS accepts"
    elif rule.kind == "state":
        value = lookups.state(text)
        problem = "is not a US state or Canadian province name or code"
    elif rule.kind == "timezone":
        value = lookups.time_zone(text)
        problem = "is not a time zone full name iLMS accepts"
    else:
        problem = ""
    if value is None:
        out.refuse(rule.code, f"{rule.title()} {problem}: {text!r}.")
        return
    out.values[rule.code] = value

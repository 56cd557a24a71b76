"""The iLMS document's rules for user fields and hierarchy names, as the sandbox reads them.

Transcribed here from the vendor document ("iLMS API Documentation", last modified
02/02/2021; ``Lnnn`` is a line of that text), not taken from syncd's adapter: a
simulator that shared the adapter's table would share its misreadings, and no test
could catch a rule copied wrongly. Where the document is silent or unclear, the
choice is the strict one and is said in a comment (and in docs/sandbox.md).

How a value is checked against these rows is in ``fields``; the lookup tables
(time zones, countries, states, languages) are in ``lookups``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SET_A = '<>"%;+'
"""``Restricted Characters: < > " % ; +`` (L24 and most rows)."""
SET_B = '%\\+;"<>:?'
"""``Restricted Characters: % \\ + ; " < > : ?`` (L29, L44-L46, hierarchy names)."""
AMP_HASH = "&#"
""""& # are restricted by functionality and not error if using iLMS connect" (L24).
Ambiguous; the sandbox refuses them unless the ``amp_hash_allowed`` option is set."""

LDAP_EMAIL_FIRST = "`~!@#\\$%&*()=}{ './_"
"""F015, "If using LDAP, these cannot be the first character" (L40). The document
writes ``\\$``; it may be an escaped ``$``, but the sandbox takes it as written and
refuses a leading backslash too."""
LDAP_SUPERVISOR_FIRST = "`~!@#\\$%&*()=}{ '!:/_"
"""F034, the same rule with its own list (L58); ``\\`` kept as for F015."""

Kind = Literal["text", "date", "language", "country", "state", "timezone", "password"]


@dataclass(frozen=True, slots=True)
class FieldRule:
    """One row of the document's "User Object Fields" table (L19-L58)."""

    code: str
    label: str
    max_length: int | None = 100
    restricted: str = SET_A
    required: bool = False
    amp_hash: bool = False  # the row carries the "& #" note
    read_only: bool = False
    kind: Kind = "text"
    ldap_first: str = ""  # characters the value may not start with on LDAP organizations

    def title(self) -> str:
        return f"{self.code} ({self.label})"


def _rows(*rules: FieldRule) -> dict[str, FieldRule]:
    return {r.code: r for r in rules}


# "Is Required: depend on ilms settings" rows are optional here; the organization's own
# required fields are the ``extra_required`` option (the API cannot read them).
FIELDS: dict[str, FieldRule] = _rows(
    FieldRule("F001", "First Name", 200, required=True, amp_hash=True),  # L24
    FieldRule("F002", "Middle Name"),  # L25
    FieldRule("F003", "Last Name", 200, required=True, amp_hash=True),  # L26
    FieldRule("F004", "Employee ID", amp_hash=True),  # L27
    # L28 gives F005 no length, no restricted set and no write format: the sandbox takes
    # a date (yyyy-MM-dd or yyyy-MM-ddTHH:mm:ss), which no restricted character can be in.
    FieldRule("F005", "Hire Date", None, "", kind="date"),
    FieldRule("F006", "User Language", restricted=SET_B, kind="language"),  # L29
    FieldRule("F007", "Job Title", 50),  # L30
    FieldRule("F008", "Address 1"),  # L31
    FieldRule("F009", "Address 2"),  # L32
    FieldRule("F010", "City"),  # L33
    FieldRule("F011", "Country", kind="country"),  # L34
    FieldRule("F012", "State", kind="state"),  # L37 "State (US or Canada)"
    FieldRule("F013", "State/Province/Region"),  # L38 "(Non US or Candadian)"
    FieldRule("F014", "Zip Code/Postal Code"),  # L39
    FieldRule("F015", "Email ID", 200, ldap_first=LDAP_EMAIL_FIRST),  # L40
    # L41: "Maximum Length: depend on ilms settings", so no length is checked.
    FieldRule("F016", "Password", None, kind="password"),
    FieldRule("F017", "Phone"),  # L42
    FieldRule("F018", "Fax"),  # L43
    FieldRule("F019", "Region", restricted=SET_B, required=True, amp_hash=True),  # L44
    FieldRule("F020", "Division", restricted=SET_B, required=True, amp_hash=True),  # L45
    FieldRule("F021", "Department", restricted=SET_B, required=True, amp_hash=True),  # L46
    FieldRule("F022", "Company/Employer"),  # L47
    FieldRule("F023", "Time Zone", restricted="", kind="timezone"),  # L50: no set listed
    FieldRule("F024", "Custom Field 1"),  # L51
    FieldRule("F025", "Custom Field 2"),  # L52
    FieldRule("F026", "Custom Field 3"),  # L53
    FieldRule("F027", "Custom Field 4"),  # L54; the table has no F028-F030
    FieldRule("F031", "Registration Type", None, "", read_only=True),  # L55
    FieldRule("F032", "Registration Date", None, "", read_only=True),  # L56
    FieldRule("F033", "Supervisor Name", 500),  # L57
    FieldRule("F034", "Supervisor Email", 500, ldap_first=LDAP_SUPERVISOR_FIRST),  # L58
)

STATE_COUNTRIES = ("United States", "Canada")
"""F012 is the "State (US or Canada)" (L37); F013 holds the region of any other country
(L38). The document does not say iLMS refuses F012 beside another country: the sandbox
does, and names F013."""

REGISTRATION_TYPES = ("API", "iLMS", "Self Registration", "iLMS Connect", "LDAP", "SAML", "Unknown")
"""F031's "Possible Values" (L55)."""

HIERARCHY = ("F019", "F020", "F021")
"""Region, Division, Department: "needs to be passed together ... only F019 or F020 will
not able to make any change" (L464)."""


@dataclass(frozen=True, slots=True)
class NameRule:
    """The ``name`` of a region, division or department create (H2, H6, H10)."""

    max_length: int = 100
    restricted: str = SET_B
    amp_hash: bool = True


NODE_NAME_RULES: tuple[NameRule, NameRule, NameRule] = (
    NameRule(),  # region, L2099: Set B and the "& #" note
    NameRule(amp_hash=False),  # division, L2345: Set B, no "& #" note
    NameRule(),  # department, L2649: Set B and the "& #" note
)

SORTABLE_USER_FIELDS = (
    "F001", "F002", "F003", "F004", "F006", "F011", "F012", "F015", "F019", "F020", "F021",
)  # fmt: skip
"""Users and group members sort by these (L99); F003 ascending when none is given."""
SORTABLE_ENROLLMENT_FIELDS = ("F001", "F003", "F004", "F015", "F019", "F020", "F021")
"""Enrollment lists sort by these (L4083, L4363, L4640)."""
DATE_FIELDS = ("F005", "F032")
"""The "Date Time" rows (L28, L56): searched by ``(From:…To:…)`` ranges (L95)."""

"""Finding existing iLMS accounts by a profile field (first sync, and creates whose answer
was lost).

iLMS has no lookup by employee id or e-mail other than its user search (digest §5):
``GET /users?F004="Emp1"`` where the quotes ask for an exact match (unquoted is
*contains*, Q8), and only active users unless ``userstatus`` says otherwise (Q7).
Deleted accounts are never matched: they cannot be written to again. The search is
post-filtered on equality, since the document does not say how it treats case.

A few people are looked up one by one; many are found in one paged listing of all
users, whichever costs fewer calls (the first listing page tells how many pages).
Within one cycle's adoption (``begin_adoption``) the listing is read once for all of
a streamed first sync's chunks, and forgotten when the adoption ends; outside one (a
create whose answer was lost) every find reads afresh. Within one, lookups or the
listing is chosen once for each field, for every person the adoption expects to find
by it, never for one chunk alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from syncd.limits import Priority
from syncd.vendors.ilms.api import LINKED_STATUSES, USERS, ILMSApi, Page

log = structlog.get_logger(__name__)

LOOKUP_LIMIT = 20
"""Up to this many people are looked up one by one; more, and the listing may be cheaper."""


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    active: bool


def account_of(user: Mapping[str, Any]) -> Account | None:
    """An account from a user object (``{"ID", "UserStatus", "Profile"}``); deleted ones: None."""
    user_id = user.get("ID")
    status = str(user.get("UserStatus") or "").strip().lower()
    if user_id is None or status == "deleted":
        return None
    return Account(str(user_id), status != "inactive")


def profile_value(user: Mapping[str, Any], code: str) -> str:
    profile = user.get("Profile") or user.get("Profile_Basic") or {}
    value = profile.get(code) if isinstance(profile, Mapping) else None
    return " ".join(str(value).split()) if value is not None else ""


def _fold(value: str) -> str:
    return " ".join(value.split()).casefold()


class Directory:
    def __init__(self, api: ILMSApi, lookup_limit: int = LOOKUP_LIMIT) -> None:
        self._api = api
        self._lookup_limit = lookup_limit
        self._adopting = False
        self._expected = 0  # people the adoption's finds ask about, in all
        # The adoption's listing, by match code: folded value -> the accounts that hold it.
        self._listed: dict[str, dict[str, list[Account]]] = {}
        self._looked_up: set[str] = set()  # codes the adoption finds one person at a time

    def begin_adoption(self, expected: int = 0) -> None:
        self._adopting = True
        self._expected = expected
        self._listed = {}
        self._looked_up = set()

    def end_adoption(self) -> None:
        self._adopting = False
        self._expected = 0
        self._listed = {}
        self._looked_up = set()

    def find(self, code: str, values: Mapping[str, str], share: float = 1.0) -> dict[str, Account]:
        """Accounts whose ``code`` equals the value, keyed like ``values`` (HR key -> value).

        Within an adoption, ``share`` (the part of the people matched that go by ``code``)
        of the people it expects in all decide, once, between searches and the listing."""
        wanted: dict[str, list[str]] = {}
        spelled: dict[str, str] = {}  # folded -> the value as HR spells it, for the search
        for hr_key, value in values.items():
            if value and value.strip():
                wanted.setdefault(_fold(value), []).append(hr_key)
                spelled.setdefault(_fold(value), value.strip())
        if not wanted:
            return {}
        listed = self._listed.get(code)
        if listed is not None:
            return _chosen(code, wanted, listed)
        people = len(wanted)
        if self._adopting:
            people = max(people, math.ceil(self._expected * share))
        if people > self._lookup_limit and code not in self._looked_up:
            first = self._api.page(
                USERS, 1, params={"userstatus": LINKED_STATUSES}, priority=Priority.WRITE
            )
            assert isinstance(first, Page)
            pages = first.pages
            if first.is_last or (pages is not None and pages < people):
                return self._by_listing(code, wanted, first)
        if self._adopting:
            self._looked_up.add(code)
        return self._one_by_one(code, wanted, spelled)

    def search(self, code: str, value: str) -> Account | None:
        """The account whose ``code`` is exactly ``value`` (active before inactive, then oldest)."""
        params = {code: f'"{value.strip()}"', "userstatus": LINKED_STATUSES}
        found: list[Account] = []
        for page in self._api.pages(USERS, params=params, priority=Priority.WRITE):
            for user in page.items:
                account = account_of(user)
                if account is not None and _fold(profile_value(user, code)) == _fold(value):
                    found.append(account)
        return _best(found, code, value)

    def _one_by_one(
        self, code: str, wanted: Mapping[str, list[str]], spelled: Mapping[str, str]
    ) -> dict[str, Account]:
        result: dict[str, Account] = {}
        for folded, hr_keys in wanted.items():
            account = self.search(code, spelled[folded])
            if account is not None:
                result.update({hr_key: account for hr_key in hr_keys})
        return result

    def _by_listing(
        self, code: str, wanted: Mapping[str, list[str]], first: Page
    ) -> dict[str, Account]:
        """Read the whole listing; within an adoption every value is kept for the next finds."""
        keep_all = self._adopting
        candidates: dict[str, list[Account]] = {}
        page = first
        seen: set[str] = set()
        while True:
            for user in page.items:
                account = account_of(user)
                value = _fold(profile_value(user, code))
                if account is None or account.id in seen or not value:
                    continue
                if value not in wanted and not keep_all:
                    continue
                seen.add(account.id)  # Q3: rows can shift between pages; count each once
                candidates.setdefault(value, []).append(account)
            if page.is_last:
                break
            following = self._api.page(
                USERS,
                page.number + 1,
                params={"userstatus": LINKED_STATUSES},
                priority=Priority.WRITE,
            )
            assert isinstance(following, Page)
            page = following
        if keep_all:
            self._listed[code] = candidates
        return _chosen(code, wanted, candidates)


def _chosen(
    code: str, wanted: Mapping[str, list[str]], candidates: Mapping[str, list[Account]]
) -> dict[str, Account]:
    """The account each wanted value's people get (HR key -> account), among those listed."""
    result: dict[str, Account] = {}
    for folded, hr_keys in wanted.items():
        account = _best(list(candidates.get(folded, ())), code, folded)
        if account is not None:
            result.update({hr_key: account for hr_key in hr_keys})
    return result


def _best(accounts: list[Account], code: str, value: str) -> Account | None:
    """One account among several with the same value: an active one, then the oldest id."""
    if not accounts:
        return None
    ordered = sorted(accounts, key=lambda a: (not a.active, int(a.id) if a.id.isdigit() else 0))
    if len(ordered) > 1:
        log.warning(
            "ilms_match_ambiguous",
            field=code,
            accounts=[a.id for a in ordered],
            chosen=ordered[0].id,
        )
    return ordered[0]

"""Finding TalentLMS accounts by email or login, at the lowest call cost.

Three needs, one cache:

- matching on first sync: a filtered lookup per person for a few, one paged
  listing (100 a page) for many;
- learning the ids of users a ``/batch/users`` task created, which the vendor
  never returns: the listing is read from its last page backwards (new accounts
  get the highest ids), so one task of 100 costs about one page, and pages read
  for one task serve the tasks that finished with it;
- adopting the account behind an "Email already exists" refusal;
- reading updated accounts back from the listing, when that is the cheaper read.

Every account read is remembered with the (monotonic) time it was read: a task's
new users are only taken from reads made after the task was submitted, and a match
answers only from reads it made itself, or, within one cycle's adoption
(``begin_adoption``), from the listing read once for it: a streamed first sync asks
once a chunk, and a portal of 100 pages must not be read 100 times. Lookups or the
listing is chosen once an adoption, for the people it expects in all: per chunk, a
portal of 20,000 pages would get a million lookups from a million new people. A filtered
answer is always re-checked, because an ignored filter would return the first
page of every user, which would be catastrophic for matching (digest §5.1).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from syncd.http import VendorClient
from syncd.limits import Priority
from syncd.vendors.talentlms.api import PAGE_SIZE, USERS, Page, iter_pages, read_page
from syncd.vendors.talentlms.compare import LISTED, differences, norm
from syncd.vendors.talentlms.facts import MATCH_FIELDS

log = structlog.get_logger(__name__)


__all__ = ["MATCH_FIELDS", "Account", "Directory", "norm"]


@dataclass(frozen=True, slots=True)
class Account:
    """An account as ``GET /users`` lists it."""

    id: str
    login: str
    email: str
    name: str
    surname: str
    status: str
    seen_at: float

    @property
    def active(self) -> bool:
        """Anything but "active" (inactive, archived, unknown) counts as not active."""
        return self.status.strip().lower() == "active"

    def value(self, field: str) -> str:
        return self.email if field == "email" else self.login

    def listed(self) -> dict[str, str]:
        """The fields the listing shows, keyed the way syncd sends them."""
        return {name: getattr(self, name) for name in LISTED}

    def same_person(self, fields: Mapping[str, Any]) -> bool:
        """Whether this account shows exactly the listed fields syncd would have sent."""
        return not differences(fields, self.listed(), whole_account=False)


class Directory:
    """Accounts read from ``GET /users``, by email and by login."""

    def __init__(self, client: VendorClient, clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._clock = clock
        self._by: dict[str, dict[str, Account]] = {"email": {}, "login": {}}
        self._by_id: dict[str, Account] = {}
        self.total: int | None = None  # accounts in the portal, as last listed (and since created)
        self.unresolved_creates = 0  # accounts submitted in batches, ids not yet learned
        self._adopting = False  # within a cycle's adoption (begin_adoption .. end_adoption)
        self._adoption_listed: float | None = None  # when the adoption's full listing began
        self._adoption_expected = 0  # people the adoption's matches ask about, in all
        self._adoption_looks_up = False  # the adoption chose a lookup a person

    # --- reading ------------------------------------------------------------------------------

    def _absorb(self, items: Iterable[Mapping[str, Any]]) -> list[Account]:
        now = self._clock()
        accounts = []
        for item in items:
            remote_id = item.get("id")
            if remote_id is None or isinstance(remote_id, bool):
                continue
            account = Account(
                id=str(remote_id),
                login=str(item.get("login") or ""),
                email=str(item.get("email") or ""),
                name=str(item.get("name") or ""),
                surname=str(item.get("surname") or ""),
                status=str(item.get("status") or ""),
                seen_at=now,
            )
            for field in MATCH_FIELDS:
                key = norm(account.value(field))
                if key:
                    self._by[field][key] = account
            self._by_id[account.id] = account
            accounts.append(account)
        return accounts

    def _page(self, number: int) -> Page:
        page = read_page(self._client, USERS, number, priority=Priority.WRITE)
        self._absorb(page.items)
        if page.total_results is not None:
            self.total = page.total_results
        return page

    def cached(self, field: str, value: Any, since: float = 0.0) -> Account | None:
        account = self._by[field].get(norm(value))
        return account if account is not None and account.seen_at >= since else None

    def cached_id(self, remote_id: Any, since: float = 0.0) -> Account | None:
        account = self._by_id.get(str(remote_id))
        return account if account is not None and account.seen_at >= since else None

    def pages(self) -> int | None:
        """Pages of a full listing, as far as known (None before anything was listed)."""
        return None if self.total is None else max(1, math.ceil(self.total / PAGE_SIZE))

    def lookup(self, field: str, value: Any, priority: Priority = Priority.READ) -> Account | None:
        """One filtered call; the answer is checked, never trusted blindly."""
        wanted = norm(value)
        if not wanted:
            return None
        page = read_page(
            self._client,
            USERS,
            1,
            params={f"filter[{field}][eq]": str(value).strip()},
            priority=priority,
        )
        for account in self._absorb(page.items):
            if norm(account.value(field)) == wanted:
                return account
        return None

    def read_all(self, priority: Priority = Priority.READ) -> float:
        """Read every page; returns when the reading began (for ``cached``'s ``since``)."""
        began = self._clock()
        for page in iter_pages(self._client, USERS, priority=priority):
            self._absorb(page.items)
            if page.total_results is not None:
                self.total = page.total_results
        return began

    # --- matching on first sync -----------------------------------------------------------------

    def begin_adoption(self, expected: int = 0) -> None:
        """A cycle's adoption starts: its matches may share one full listing, read afresh;
        ``expected`` people in all are to be matched (the choice is made for them all)."""
        self._adopting = True
        self._adoption_listed = None
        self._adoption_expected = expected
        self._adoption_looks_up = False

    def end_adoption(self) -> None:
        """The listing read for the adoption is not used again (a later match reads anew)."""
        self._adopting = False
        self._adoption_listed = None
        self._adoption_expected = 0
        self._adoption_looks_up = False

    def _found(self, field: str, wanted: Mapping[str, str], since: float) -> dict[str, Account]:
        return {
            key: account
            for key, value in wanted.items()
            if (account := self.cached(field, value, since)) is not None
        }

    def match(self, field: str, values: Mapping[str, Any]) -> dict[str, Account]:
        """Accounts whose ``field`` equals each value (keyed like ``values``), cheapest way.

        Only accounts read by this call count, or within an adoption by the listing
        read for it: an account remembered from an older read may be gone or changed.
        Within an adoption the people it expects in all, not these alone, decide between
        a lookup each and the listing, and the choice holds for its later matches.
        """
        wanted = {key: text for key, value in values.items() if (text := norm(value))}
        if not wanted:
            return {}
        if self._adoption_listed is not None:
            return self._found(field, wanted, self._adoption_listed)
        people = max(len(wanted), self._adoption_expected) if self._adopting else len(wanted)
        if people == 1 or self._adoption_looks_up:
            return self._looked_up(field, values, wanted)
        began = self._clock()
        first = read_page(self._client, USERS, 1, priority=Priority.READ)
        pages = first.total_pages or 1
        if pages <= people:
            for page in iter_pages(self._client, USERS, priority=Priority.READ, first=first):
                self._absorb(page.items)
            if first.total_results is not None:
                self.total = first.total_results
            if self._adopting:
                self._adoption_listed = began
            return self._found(field, wanted, began)
        # A large portal and a handful of people: one lookup each is cheaper than every page.
        self._adoption_looks_up = self._adopting
        self._absorb(first.items)
        if first.total_results is not None:
            self.total = first.total_results
        found = {}
        for key, value in wanted.items():
            account = self.cached(field, value, began) or self.lookup(field, values[key])
            if account is not None:
                found[key] = account
        return found

    def _looked_up(
        self, field: str, values: Mapping[str, Any], wanted: Mapping[str, str]
    ) -> dict[str, Account]:
        """One filtered lookup a person."""
        found = {}
        for key in wanted:
            account = self.lookup(field, values[key])
            if account is not None:
                found[key] = account
        return found

    # --- ids of accounts a batch task created ---------------------------------------------------

    def find_created(self, emails: Iterable[str], since: float) -> dict[str, Account]:
        """Accounts with these emails read after ``since`` (submission), keyed by normalised email.

        Reads the listing from its last page backwards, remembering every account
        it passes, then falls back to filtered lookups (or one full listing when
        that is cheaper) for any still missing.
        """
        missing = {norm(e) for e in emails if norm(e)}
        found: dict[str, Account] = {}

        def collect() -> None:
            for email in list(missing):
                account = self.cached("email", email, since)
                if account is not None:
                    found[email] = account
                    missing.discard(email)

        collect()
        if not missing:
            return found
        budget = math.ceil((len(missing) + self.unresolved_creates) / PAGE_SIZE) + 2
        guess = max(1, math.ceil((self.total or 0) / PAGE_SIZE))
        page = self._page(guess)
        reads = 1
        if page.total_pages is not None and page.number != page.total_pages:
            page = self._page(max(1, page.total_pages))
            reads += 1
        collect()
        number = page.number
        while missing and number > 1 and reads < budget:
            number -= 1
            self._page(number)
            reads += 1
            collect()
        if missing:
            self._fallback(missing, page.total_pages or 1)
            collect()
        log.info(
            "talentlms_new_ids",
            found=len(found),
            missing=len(missing),
            pages_read=reads,
        )
        return found

    def _fallback(self, missing: set[str], total_pages: int) -> None:
        """The listing order was not by id after all: the cheaper of lookups or a full read."""
        log.info("talentlms_new_ids_fallback", missing=len(missing), pages=total_pages)
        if len(missing) <= total_pages:
            for email in sorted(missing):
                self.lookup("email", email, Priority.WRITE)
        else:
            self.read_all(Priority.WRITE)

    def note_submitted(self, count: int) -> None:
        """``count`` accounts were sent for creation: they will sit at the end of the listing."""
        self.unresolved_creates += count
        if self.total is not None:
            self.total += count

    def note_resolved(self, count: int) -> None:
        self.unresolved_creates = max(0, self.unresolved_creates - count)

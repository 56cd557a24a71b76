"""Upserts confirmed in bulk: one read of the users listing instead of a job poll each.

HowNow answers every upsert with a job, and only the job's status or the user read
back says whether it applied (digest §5). Polling costs a call per job; the listing
(``GET /users``, 100 a page, digest §4.1) shows a hundred people a call. So where the
listing has fewer pages than there are upserts it could confirm, as in a first sync,
syncd reads it and compares each person's fields with what was sent.

A person is confirmed only when the listing shows every field the upsert sent, with
the value sent: ``name``, ``email``, ``user_type``, ``start_date`` (listed as
``joined_organisation_on``), a ``job_role`` given by name, and a ``manager_id`` the
listing itself can name (it shows managers by HowNow id only). An upsert that sent
anything the listing does not show (``custom_fields``, ``avatar_url``, a job role by
id) is never confirmed this way. A person the listing shows with other values is
left to their job's status at once: the job may have failed. A person it does not
show yet (their job may still be running) is looked for once more, in the next round
of waiting, then their job is polled too. The rule of confirmed writes holds: nobody
is done without a job status or a read-back showing the upsert applied.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

import syncd.vendors.hownow.users as users
from syncd.limits import Priority
from syncd.vendors.hownow.accounts import AccountListing
from syncd.vendors.hownow.api import PER_PAGE, HowNowApi, Page

log = structlog.get_logger(__name__)

SHOWN = frozenset(
    {"external_user_id", "name", "email", "user_type", "manager_id", "start_date", "job_role"}
)
"""Upsert fields the users listing shows (digest §4.1), in the names the upsert uses."""

LOOKS = 2
"""A job is looked for in the listing at most this often; then its status is polled."""


def shown_in_listing(body: Mapping[str, Any]) -> bool:
    """Whether the listing shows every field of this upsert body (a job role by name only)."""
    role = body.get("job_role")
    return set(body) <= SHOWN and (not role or set(role) == {"name"})


@dataclass(frozen=True, slots=True)
class Confirmation:
    """What one read of the listing found: jobs whose upsert it shows applied, and jobs it
    looked for and did not find (yet): those are not polled in this round."""

    applied: frozenset[str]
    not_yet: frozenset[str]


class ListingConfirmer:
    """Reads the users listing for upserts awaited, when that is cheaper than polling them.

    It keeps the listing's size from its last read (``saw``) and the creates sent since
    (``created``), to know what a read would cost before making it.
    """

    def __init__(self, api: HowNowApi, listing: AccountListing) -> None:
        self._api = api
        self._listing = listing
        self._listed: int | None = None  # users the listing held when last read
        self._created = 0  # creates sent since
        self._looks: Counter[str] = Counter()  # job id -> reads that looked for it

    def saw(self, page: Page) -> None:
        """A page of the listing was read (here or by matching): note its size."""
        if page.total_count is not None:
            self._listed, self._created = page.total_count, 0

    def created(self) -> None:
        self._created += 1

    def pages(self) -> int:
        """What reading the whole listing would cost; 1 before any read (that page tells)."""
        if self._listed is None:
            return 1
        return max(1, math.ceil((self._listed + self._created) / PER_PAGE))

    def confirm(self, bodies: Mapping[str, Mapping[str, Any]]) -> Confirmation | None:
        """Read the listing for these upserts (job id -> body sent) if that is cheaper than
        polling them; None when it is not (each job is then polled)."""
        wanted: dict[str, str] = {}  # external id -> job id
        for job_id, body in bodies.items():
            if self._looks[job_id] < LOOKS and shown_in_listing(body):
                wanted[users.text(body.get("external_user_id"))] = job_id
        if len(wanted) <= self.pages():  # each job costs at least one poll otherwise
            return None
        found = self._read(wanted)
        applied, not_yet = set(), set()
        for external_id, job_id in wanted.items():
            self._looks[job_id] += 1
            item = found.get(external_id)
            if item is not None and self._listing.holds(bodies[job_id], item):
                applied.add(job_id)
            elif item is None:
                not_yet.add(job_id)
            else:  # shown with other values: its job may have failed, ask it
                self._looks[job_id] = LOOKS
        log.info(
            "hownow_confirmed_in_bulk",
            sought=len(wanted),
            applied=len(applied),
            not_listed=len(not_yet),
            different=len(wanted) - len(applied) - len(not_yet),
        )
        return Confirmation(frozenset(applied), frozenset(not_yet))

    def _read(self, wanted: Mapping[str, str]) -> dict[str, dict[str, Any]]:
        """The listed users among ``wanted``, page by page, while the pages left cost no more
        calls than polling those not seen yet would (a page now beats a poll after a pause)."""
        found: dict[str, dict[str, Any]] = {}
        page = 1
        while True:
            listing = self._api.list_users(page, priority=Priority.WRITE)
            self.saw(listing)
            for item in listing.items:
                self._listing.remember(item)
                external_id = item.get("external_user_id")
                if isinstance(external_id, str) and external_id in wanted:
                    found[external_id] = item
            unseen = len(wanted) - len(found)
            if listing.is_last(page) or unseen == 0:
                return found
            if listing.total_pages is not None and listing.total_pages - page > unseen:
                return found
            page += 1

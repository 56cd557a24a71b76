"""Learning results out of HowNow: a full scan of every user's assigned contents, in slices.

HowNow has no "changed since" read, no bulk progress report and no webhooks
(digest §7): the only source is ``GET /users/{id}/assigned_contents``, one call
per user and page. A full scan therefore costs at least one call per user, and
a pull cycle may only spend its share of the credential's rate budget, so the
scan is cut into slices: each cycle reads as many users as its call budget
allows and the cursor remembers where it stopped. The pull engine delivers only
new or changed results (content hash), so re-reading unchanged users costs API
calls but never a duplicate row.

The cursor (saved by the engine only after the sink accepted the page before it):

- ``page``/``offset``: position of the next user in ``GET /users`` (100 a page);
- ``after``: the last user read completely, to find the place again when users
  were added or removed since (the listing order is not documented);
- ``user``/``content_page``: a user whose contents span several pages, part read;
- ``scans``: full scans completed so far.

Only active users are listed by HowNow (deactivated ones are not), so a leaver's
results stop being read once syncd has deactivated them: ``leaver_results`` reads
them one last time just before (``Capabilities.results_vanish_on_deactivation``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import structlog

from syncd.model import LearningResult, ResultStatus
from syncd.vendors.base import PullPage
from syncd.vendors.hownow.api import VENDOR, HowNowApi, Page
from syncd.vendors.pulling import parse_time
from syncd.vendors.scanning import BudgetedScan, ScanPosition

log = structlog.get_logger(__name__)

_STATUSES = {
    "not started": ResultStatus.NOT_STARTED,
    "in progress": ResultStatus.IN_PROGRESS,
    "completed": ResultStatus.COMPLETED,
}


@dataclass(slots=True)
class Position(ScanPosition):
    page: int = 1
    offset: int = 0
    after: str | None = None
    user: str | None = None
    content_page: int = 1
    scans: int = 0

    logged: ClassVar[tuple[str, ...]] = ("page", "offset")


def user_key(user: Mapping[str, Any]) -> str | None:
    """How syncd names a HowNow user: its external_user_id, else ``ID-<id>``."""
    external = user.get("external_user_id")
    if isinstance(external, str) and external.strip():
        return external.strip()
    if isinstance(user.get("id"), int):
        return f"ID-{user['id']}"
    return None


def path_ref(key: str) -> str:
    return key if key.startswith("ID-") and key[3:].isdigit() else f"EXT-{key}"


class AssignmentScan(BudgetedScan[HowNowApi]):
    """A slice of the scan of every user's assigned contents."""

    def pages(self, cursor: Mapping[str, Any] | None) -> Iterator[PullPage]:
        at = Position.of(cursor)
        resumed_from = at.page
        read_users = 0
        next_page = False  # True once this cycle moved on to a page right after reading one
        while self.calls.left >= 2:  # a page of users is worth reading only with room to use it
            placed = self._place(at, trust_position=next_page)
            if placed is None:
                break
            listing, start = placed
            for index in range(start, len(listing.items)):
                key = user_key(listing.items[index])
                if key is None:
                    continue
                at.offset = index
                if at.user != key:
                    at.user, at.content_page = key, 1
                while True:
                    if self.calls.left <= 0:
                        yield self._stopped(at, read_users, resumed_from)
                        return
                    contents = self.api.assigned_contents(path_ref(key), at.content_page)
                    results = [] if contents is None else assignment_results(key, contents.items)
                    if contents is not None and not contents.is_last(at.content_page):
                        at.content_page += 1
                        yield PullPage(results, at.as_cursor())
                        continue
                    at.after, at.user, at.content_page = key, None, 1
                    at.offset = index + 1
                    read_users += 1
                    yield PullPage(results, at.as_cursor())
                    break
            if listing.is_last(at.page):
                at = Position(scans=at.scans + 1)
                log.info("hownow_scan_complete", scans=at.scans, users_this_cycle=read_users)
                yield PullPage([], at.as_cursor())
                return
            at.page, at.offset, next_page = at.page + 1, 0, True
        yield self._stopped(at, read_users, resumed_from)

    def _stopped(self, at: Position, read_users: int, resumed_from: int) -> PullPage:
        progress = {"users_this_cycle": read_users, "resumed_from_page": resumed_from}
        return self._paused("hownow_scan_paused", at, **progress)

    def _place(self, at: Position, trust_position: bool) -> tuple[Page, int] | None:
        """The page of users to go on with and where in it; None if the budget ran out.

        The listing order is not documented and users come and go between cycles, so
        the place is found again by the last user read (``after``), not by position
        alone. When that user is not on the page, users before it left (or it did)
        and later users moved up: the scan steps back a page rather than skip them,
        re-reading from that page's top when ``after`` is gone altogether.
        ``trust_position``: the previous page was read moments ago, in this cycle.
        """
        listing = self.api.list_users(at.page)
        keys = [user_key(item) for item in listing.items]
        if trust_position:
            return listing, 0
        if at.user is not None:
            if at.offset < len(keys) and keys[at.offset] == at.user:
                return listing, at.offset  # a user read in part, still where it was
            if at.user in keys:
                return listing, keys.index(at.user)
            at.user, at.content_page = None, 1
        if at.after is None:
            return listing, min(at.offset, len(keys))
        if 0 < at.offset <= len(keys) and keys[at.offset - 1] == at.after:
            return listing, at.offset
        if at.after in keys:
            return listing, keys.index(at.after) + 1
        if at.page == 1:
            return listing, 0
        if self.calls.left < 2:
            return None
        previous = self.api.list_users(at.page - 1)
        before = [user_key(item) for item in previous.items]
        if before and before[-1] == at.after:
            return listing, 0  # the usual case: the last page ended with ``after``
        at.page -= 1
        return previous, (before.index(at.after) + 1 if at.after in before else 0)


def assignment_results(key: str, items: list[dict[str, Any]]) -> list[LearningResult]:
    """The results among one page of user ``key``'s assigned contents."""
    # The external_user_id is the HR key as HowNow knows it (a link still wins).
    hr_key = None if key.startswith("ID-") else key
    results = []
    for item in items:
        course = item.get("hownow_id") or item.get("id")
        if course is None:
            continue
        progress = _progress(item.get("progress"))
        # Q27: "…Z" with or without milliseconds, or a bare date; humanised text is ignored.
        completed_at = parse_time(item.get("completed_at"))
        results.append(
            LearningResult(
                vendor=VENDOR,
                lms_user_id=key,
                hr_key=hr_key,
                course_id=str(course),
                course_name=item.get("title") if isinstance(item.get("title"), str) else None,
                status=_status(item.get("status"), progress, completed_at),
                progress=progress,
                completed_at=completed_at,
                raw={
                    name: item.get(name)
                    for name in (
                        "id",
                        "content_type",
                        "assigned_at",
                        "deadline_date",
                        "renewal_due_date",
                        "is_overdue",
                    )
                    if name in item
                },
            )
        )
    return results


LEAVER_PAGES = 20
"""Pages of assigned contents read of one leaver at most (2,000 contents)."""


def leaver_results(api: HowNowApi, key: str) -> list[LearningResult]:
    """Every result of user ``key``, read just before they are deactivated or deleted: HowNow
    lists no deactivated user, so no later scan reaches them (digest §4.1)."""
    results: list[LearningResult] = []
    for page in range(1, LEAVER_PAGES + 1):
        contents = api.assigned_contents(path_ref(key), page)
        if contents is None:
            break
        results += assignment_results(key, contents.items)
        if contents.is_last(page):
            break
    return results


def _status(value: Any, progress: float | None, completed_at: datetime | None) -> ResultStatus:
    """Q14: statuses compared without case; an undocumented one is judged by the numbers."""
    if isinstance(value, str) and value.strip().lower() in _STATUSES:
        return _STATUSES[value.strip().lower()]
    log.warning("hownow_unknown_assignment_status", status=str(value)[:40])
    if completed_at is not None:
        return ResultStatus.COMPLETED
    return ResultStatus.IN_PROGRESS if progress else ResultStatus.NOT_STARTED


def _progress(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(min(100, max(0, value)))

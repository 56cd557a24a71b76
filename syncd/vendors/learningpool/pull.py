"""Learning results from Learning Pool's feeds: ``target.endpoints.completions_list``, and
``in_progress_list`` when the platform has one (its API documents neither).

The in-progress feed, when configured, is read first in each cycle and the
completions feed after it, each with its own cursor (``{"feeds": {name: cursor}}``)
and half the cycle's budget: a course finished between the two reads then ends the
cycle as completed, and the in-progress feed no longer lists it afterwards.

Two ways to read a feed, chosen by configuration:

- **Incremental**, when ``completions_list.since_param`` names the feed's
  "changed at or after" filter. The cursor is the newest ``updated_at`` the feed
  itself showed (never this machine's clock). Each cycle asks from the cursor minus
  ``pull.overlap``, so a record that became visible late is still seen, and drops
  what it already delivered by (record id, ``updated_at``), whose keys for the
  overlap window travel in the cursor. Within a cycle each next request moves
  ``since`` up to the newest time read (keyset paging), so a record that changes
  while the feed is being read cannot shift another past a page boundary; a page
  holding nothing new (many records in one second) steps to the next page instead.
- **Scan**, without a filter: pages are read in order, at most the budget per
  cycle, the next page number travelling in the cursor and starting over after the
  last. The pull engine writes only results whose content changed, so re-reading
  costs calls, never a duplicate row.

Each cycle reads at most ``budget`` pages, so a large backlog is spread over
cycles instead of eating the credential's rate limit. A completion whose learner
is linked to no HR person still comes out (``hr_key`` empty): the engine parks
it and delivers it once the person is linked.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, cast

import structlog

from syncd.config.schema.targets import ResultRecord
from syncd.model import LearningResult, ResultStatus, iso_utc
from syncd.vendors.base import PullPage
from syncd.vendors.learningpool.api import VENDOR, field_value
from syncd.vendors.learningpool.fields import text
from syncd.vendors.learningpool.paging import Page, Pager
from syncd.vendors.pulling import DEFAULT_OVERLAP, parse_time

log = structlog.get_logger(__name__)

COMPLETIONS = "completions_list"
IN_PROGRESS = "in_progress_list"
CURSOR_VERSION = 1  # of one feed's cursor
FEEDS_VERSION = 2  # of the cursor holding each feed's

STATUSES = {
    "completed": ResultStatus.COMPLETED,
    "complete": ResultStatus.COMPLETED,
    "passed": ResultStatus.PASSED,
    "pass": ResultStatus.PASSED,
    "failed": ResultStatus.FAILED,
    "fail": ResultStatus.FAILED,
    "in_progress": ResultStatus.IN_PROGRESS,
    "in progress": ResultStatus.IN_PROGRESS,
    "not_started": ResultStatus.NOT_STARTED,
    "not started": ResultStatus.NOT_STARTED,
    "waived": ResultStatus.WAIVED,
    "exempt": ResultStatus.WAIVED,
}


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


class ResultRecords:
    """Results records read by the field names ``target.records.result`` gives them."""

    def __init__(self, names: ResultRecord) -> None:
        self.names = names

    def _get(self, item: Mapping[str, Any], name: str | None) -> Any:
        return field_value(item, name) if name else None

    def _course(self, item: Mapping[str, Any]) -> str:
        """The first of the ``course_id`` fields holding a value (its id, else External ID)."""
        return next(
            (t for t in (text(field_value(item, n)) for n in self.names.course_id) if t), ""
        )

    def updated(self, item: Mapping[str, Any]) -> datetime | None:
        return parse_time(self._get(item, self.names.updated_at))

    def to_result(self, item: Mapping[str, Any]) -> LearningResult | None:
        """One record as a learning result; None when it names no learner or course."""
        f = self.names
        user_id = text(self._get(item, f.user_id))
        course_id = self._course(item)
        if not user_id or not course_id:
            ident = text(self._get(item, f.id))[:40]
            log.warning("learningpool_completion_unusable", record_id=ident)
            return None
        completed_at = parse_time(self._get(item, f.completed_at))
        status = STATUSES.get(text(self._get(item, f.status)).casefold())
        if status is None and completed_at is not None:
            status = ResultStatus.COMPLETED  # the feed lists completions
        progress = _number(self._get(item, f.progress))
        certificate = self._get(item, f.certificate_url)
        title = self._get(item, f.course_title)
        return LearningResult(
            vendor=VENDOR,
            lms_user_id=user_id,
            course_id=course_id,
            status=cast(ResultStatus, status),  # None: unknown, written empty
            course_name=title.strip() if isinstance(title, str) and title.strip() else None,
            progress=min(100.0, max(0.0, progress)) if progress is not None else None,
            score=_number(self._get(item, f.score)),
            started_at=parse_time(self._get(item, f.started_at)),
            completed_at=completed_at,
            certificate_url=certificate if isinstance(certificate, str) and certificate else None,
            certificate_expires_at=parse_time(self._get(item, f.certificate_expires_at)),
            updated_at=self.updated(item),
            raw={name: item[name] for name in f.keep if name in item},
        )

    def key(self, item: Mapping[str, Any]) -> str:
        """One change of one record: its id (or learner and course) and when it last changed."""
        f = self.names
        ident = (
            text(self._get(item, f.id))
            or f"{text(self._get(item, f.user_id))}/{self._course(item)}"
        )
        changed = self.updated(item)
        stamp = iso_utc(changed) if changed else text(self._get(item, f.updated_at))
        return f"{ident}|{stamp}"


def _key_time(key: str) -> datetime | None:
    return parse_time(key.rsplit("|", 1)[-1])


def _cutoff(keys: Iterable[str], room: int) -> datetime | None:
    """The time from which only the newest ``room`` keys remain (ties kept); None if all fit."""
    times = sorted((t for t in map(_key_time, keys) if t), reverse=True)
    return times[room - 1] if len(times) > room else None


class ResultsPull:
    """``Adapter.pull`` for Learning Pool: the in-progress feed (if any), then completions."""

    def __init__(self, feeds: list[FeedPull]) -> None:
        self._feeds = feeds

    def pages(self, cursor: Mapping[str, Any] | None) -> Iterator[PullPage]:
        saved = dict(cursor or {})
        if saved and "feeds" not in saved:
            saved = {"feeds": {COMPLETIONS: saved}}  # a cursor from before in-progress results
        positions = dict(saved.get("feeds") or {})
        for feed in self._feeds:
            for page in feed.pages(positions.get(feed.name)):
                positions[feed.name] = dict(page.cursor)
                cursor_now = {"version": FEEDS_VERSION, "feeds": dict(positions)}
                yield PullPage(page.results, cursor_now, page.unknown_users)


class FeedPull:
    """One feed, incremental when a since filter is configured, else scanned."""

    def __init__(
        self,
        pager: Pager,
        name: str,
        records: ResultRecords,
        *,
        since_param: str | None,
        budget: int,
        start: datetime | None = None,
        overlap: timedelta | None = None,
    ) -> None:
        self.name = name
        self._pager = pager
        self._records = records
        self._since_param = since_param
        self._budget = max(1, budget)
        self._start = start
        self._overlap = overlap if overlap is not None else DEFAULT_OVERLAP

    def pages(self, cursor: Mapping[str, Any] | None) -> Iterator[PullPage]:
        if self._since_param is None:
            return self._scan(cursor or {})
        return self._incremental(cursor or {})

    # --- incremental ------------------------------------------------------------------------

    def _incremental(self, cursor: Mapping[str, Any]) -> Iterator[PullPage]:
        saved = parse_time(cursor.get("since")) if cursor.get("mode") == "since" else None
        seen = {k for k in cursor.get("seen", []) if isinstance(k, str)} if saved else set()
        latest = saved
        asked = self._window_start(saved, cursor) if saved is not None else self._start
        covered = asked  # ``seen`` holds every key from here on
        number = 1
        previous: Page | None = None  # the page before, of the same ``since``
        for _ in range(self._budget):
            page = self._read(number, asked, previous)
            fresh = [item for item in page.items if self._records.key(item) not in seen]
            times = [t for t in map(self._records.updated, page.items) if t]
            newest = max(times, default=None)
            if newest is not None and (latest is None or newest > latest):
                latest = newest
            results = [r for r in map(self._records.to_result, fresh) if r is not None]
            seen.update(map(self._records.key, fresh))
            log.info(
                "learningpool_feed_read",
                feed=self.name,
                since=iso_utc(asked) if asked else None,
                page=number,
                records=len(page.items),
                new=len(fresh),
            )
            yield PullPage(results, self._since_cursor(latest, seen, covered))
            if not page.has_more:
                return
            if newest is not None and (asked is None or newest > asked):
                asked, number, previous = newest, 1, None  # keyset: again from the newest time
            else:
                number, previous = number + 1, page
        log.info("learningpool_pull_budget_spent", feed=self.name, pages=self._budget)

    @property
    def _room(self) -> int:
        """Records of the overlap window one cycle re-reads: half its budget, at most."""
        return max(1, self._budget // 2) * self._pager.page_size(self.name)

    def _window_start(self, saved: datetime, cursor: Mapping[str, Any]) -> datetime:
        """``since`` for the first request: the cursor minus the overlap, or later when the
        last cycle kept the keys of a shorter window (see ``_since_cursor``)."""
        asked = saved - self._overlap
        kept_from = parse_time(cursor.get("from"))
        if kept_from is not None and kept_from > asked:
            log.info(
                "learningpool_overlap_shortened",
                configured_s=self._overlap.total_seconds(),
                used_s=(saved - kept_from).total_seconds(),
            )
            return kept_from
        return asked

    def _since_cursor(
        self, latest: datetime | None, seen: set[str], covered: datetime | None
    ) -> dict[str, Any]:
        """The saved position, and the window the next cycle re-reads with the keys it holds.

        The window is the overlap, shortened when it holds more records than half the
        budget can re-read: a busy platform would otherwise spend every cycle re-reading
        its last hour and never move on (it also bounds the cursor's size). It never
        starts before ``covered``, where the keys this cycle knows begin.
        """
        if latest is None:
            return {"version": CURSOR_VERSION, "mode": "since", "since": None, "seen": []}
        start = latest - self._overlap
        if covered is not None and covered > start:
            start = covered
        kept = [k for k in seen if (_key_time(k) or latest) >= start]
        cutoff = _cutoff(kept, self._room)
        if cutoff is not None:
            start = cutoff
            kept = [k for k in kept if (_key_time(k) or latest) >= cutoff]
        return {
            "version": CURSOR_VERSION,
            "mode": "since",
            "since": iso_utc(latest),
            "from": iso_utc(start),
            "seen": sorted(kept),
        }

    def _read(self, number: int, since: datetime | None, after: Page | None = None) -> Page:
        params = {self._since_param: iso_utc(since)} if since and self._since_param else {}
        return self._pager.read(self.name, number, params=params, after=after)

    # --- scan -------------------------------------------------------------------------------

    def _scan(self, cursor: Mapping[str, Any]) -> Iterator[PullPage]:
        number = cursor.get("page") if cursor.get("mode") == "scan" else 1
        number = number if isinstance(number, int) and number >= 1 else 1
        previous: Page | None = None
        for _ in range(self._budget):
            page = self._read(number, None, previous)
            if not page.items and number > 1:
                # The feed shrank since the last cycle: start over from the top.
                number = 1
                page = self._read(number, None)
            results = [r for r in map(self._records.to_result, page.items) if r is not None]
            following = number + 1 if page.has_more else 1
            log.info(
                "learningpool_feed_scanned", feed=self.name, page=number, records=len(page.items)
            )
            yield PullPage(results, {"version": CURSOR_VERSION, "mode": "scan", "page": following})
            if not page.has_more:
                return
            number, previous = following, page

"""The ``xapi`` pull source: a connector's learning results read from an LRS.

``GET /statements?since=…&ascending=true``, then the ``more`` links to the end. Each
page is one ``PullPage`` whose cursor holds the newest ``stored`` time seen so far
(never moving back) and the ``more`` link still to follow (None: the read reached the
end):

- after a read that reached the end, the next cycle asks ``since`` that time less
  ``pull.overlap``, so statements stored late by a busy LRS are read too (the pull
  delivers each change once whatever is read twice);
- after a read the call budget (``pull.budget_share`` of the LRS's rate limit) or a
  crash cut short, the next cycle follows the saved ``more`` link, so a backlog is
  worked off however many statements share one ``stored`` time (a batch often does);
  if the LRS no longer honours the link, it asks ``since`` just before that time;
- the first read starts at ``pull.start_date``, or at the first statement.

How statements become results is ``reading``'s. An LRS that filters ``since`` on the
statement's ``timestamp`` rather than ``stored`` (Ralph's file-system backend does)
misses statements stored now about the past, unless ``pull.overlap`` reaches back to
them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

import structlog

from syncd.config.schema.xapi import XapiSourceConfig
from syncd.model import iso_utc
from syncd.vendors.base import PullPage
from syncd.vendors.context import AdapterContext
from syncd.vendors.pulling import call_budget, parse_time
from syncd.vendors.xapi.api import LrsApi, QueryRefused, StatementsPage, open_lrs
from syncd.vendors.xapi.reading import StatementReader
from syncd.vendors.xapi.vocabulary import UsersByEmail

log = structlog.get_logger(__name__)

STORED = "xapi_stored"
CAUGHT_UP = "xapi_caught_up"
MORE = "xapi_more"
CURSOR_KEYS = frozenset({STORED, CAUGHT_UP, MORE})
"""An LRS cursor's keys: no vendor's cursor uses them (``combined`` tells them apart)."""
RESUME_MARGIN = timedelta(milliseconds=1)
"""``since`` is exclusive: a read whose more link expired goes on from just before its
newest statement."""


class LrsSource:
    """Learning results from an LRS, paged within the pull's share of its rate limit."""

    vendor = "xapi"

    def __init__(
        self,
        config: XapiSourceConfig,
        context: AdapterContext,
        api: LrsApi | None = None,
        users_by_email: UsersByEmail | None = None,
    ) -> None:
        self.config = config
        self.options = context.pull
        self.api = api or open_lrs(config, context)
        self.reader = StatementReader(config, users_by_email)
        self.budget = call_budget(config.rate_limit.windows(), context.pull.budget_share)

    @property
    def api_calls(self) -> int:
        return self.api.api_calls

    def pull(self, cursor: Mapping[str, Any] | None) -> Iterator[PullPage]:
        saved = cursor or {}
        newest = parse_time(saved.get(STORED))
        more = saved.get(MORE) if not saved.get(CAUGHT_UP) else None
        calls_before = self.api.api_calls
        self.reader.refresh()
        page = self._first_page(more if isinstance(more, str) else None, newest, saved)
        while True:
            read = self.reader.read(page.statements)
            if read.newest is not None and (newest is None or read.newest > newest):
                newest = read.newest
            if read.left_out:
                log.info("xapi_statements_left_out", **dict(read.left_out))
            cursor_now = {
                STORED: iso_utc(newest) if newest else None,
                CAUGHT_UP: page.more is None,
                MORE: page.more,
            }
            yield PullPage(read.results, cursor_now)
            if page.more is None:
                return
            if self.api.api_calls - calls_before >= self.budget:
                log.info(
                    "xapi_pull_budget_spent",
                    calls=self.budget,
                    note="the next cycle follows the last more link",
                )
                return
            page = self.api.page(page.more)

    def _first_page(
        self, more: str | None, newest: datetime | None, saved: Mapping[str, Any]
    ) -> StatementsPage:
        """Where the saved cursor says to go on: its more link, or a query ``since``."""
        if more is not None:
            try:
                return self.api.page(more)
            except QueryRefused as refused:
                log.warning("xapi_more_link_refused", reason=str(refused))
        params = {"ascending": "true"}
        since = self._since(newest, bool(saved.get(CAUGHT_UP)))
        if since is not None:
            params["since"] = iso_utc(since)
        if self.config.page_size is not None:
            params["limit"] = str(self.config.page_size)
        return self.api.page(None, params)

    def _since(self, newest: datetime | None, caught_up: bool) -> datetime | None:
        if newest is None:
            return self.options.start_date
        return newest - (self.options.overlap if caught_up else RESUME_MARGIN)

    def close(self) -> None:
        self.api.close()

"""The ``xapi`` pull source: a connector's learning results read from an LRS.

``GET /statements?since=…&ascending=true``, then the ``more`` links to the end. Each
page is one ``PullPage`` whose cursor holds the newest ``stored`` time seen so far
(never moving back) and whether the read reached the end:

- after a read that reached the end, the next cycle asks ``since`` that time less
  ``pull.overlap``, so statements stored late by a busy LRS are read too (the pull
  delivers each change once whatever is read twice);
- after a read the call budget cut short (``pull.budget_share`` of the LRS's rate
  limit), the next cycle goes on from that time, so a backlog is worked off;
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
from syncd.vendors.xapi.api import LrsApi, open_lrs
from syncd.vendors.xapi.reading import StatementReader

log = structlog.get_logger(__name__)

STORED = "xapi_stored"
CAUGHT_UP = "xapi_caught_up"
CURSOR_KEYS = frozenset({STORED, CAUGHT_UP})
"""An LRS cursor's keys: no vendor's cursor uses them (``combined`` tells them apart)."""
RESUME_MARGIN = timedelta(milliseconds=1)
"""``since`` is exclusive: a read cut short goes on from just before its newest statement."""


class LrsSource:
    """Learning results from an LRS, paged within the pull's share of its rate limit."""

    vendor = "xapi"

    def __init__(
        self, config: XapiSourceConfig, context: AdapterContext, api: LrsApi | None = None
    ) -> None:
        self.config = config
        self.options = context.pull
        self.api = api or open_lrs(config, context)
        self.reader = StatementReader(config)
        self.budget = call_budget(config.rate_limit.windows(), context.pull.budget_share)

    @property
    def api_calls(self) -> int:
        return self.api.api_calls

    def pull(self, cursor: Mapping[str, Any] | None) -> Iterator[PullPage]:
        newest = parse_time((cursor or {}).get(STORED))
        params = {"ascending": "true"}
        since = self._since(newest, bool((cursor or {}).get(CAUGHT_UP)))
        if since is not None:
            params["since"] = iso_utc(since)
        if self.config.page_size is not None:
            params["limit"] = str(self.config.page_size)
        more: str | None = None
        for _call in range(self.budget):
            page = self.api.page(more, params)
            read = self.reader.read(page.statements)
            if read.newest is not None and (newest is None or read.newest > newest):
                newest = read.newest
            if read.left_out:
                log.info("xapi_statements_left_out", **dict(read.left_out))
            cursor_now = {
                STORED: iso_utc(newest) if newest else None,
                CAUGHT_UP: page.more is None,
            }
            yield PullPage(read.results, cursor_now)
            if page.more is None:
                return
            more = page.more
        log.info(
            "xapi_pull_budget_spent",
            calls=self.budget,
            note="the next cycle goes on from the last statement read",
        )

    def _since(self, newest: datetime | None, caught_up: bool) -> datetime | None:
        if newest is None:
            return self.options.start_date
        return newest - (self.options.overlap if caught_up else RESUME_MARGIN)

    def close(self) -> None:
        self.api.close()

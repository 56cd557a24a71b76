"""Reading a Learning Pool listing page by page, as ``target.paging`` says.

Learning Pool documents no paging, so its parameters are the customer's: ``style``
(a page number from 1, or an offset from 0), ``page_param``, ``size_param`` and
``page_size``. The list is what ``target.records.envelope`` wraps (or the bare
answer); the end is found from the fields ``target.records.listing`` names (a next
link, the current and last page, the total), else from a short page.

Two guards keep a listing from running on for ever: a page that repeats the one
before it (what an API ignoring ``page_param`` answers) and ``paging.max_pages``.
Either is a ``ListingError`` naming the endpoint and the setting to check, which stops
the cycle as a vendor that cannot be read would (exit 4, quarantined by the daemon):
reading on would cost the whole rate budget and still not be the listing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from syncd.config.schema.targets import LearningPoolRecords, Paging
from syncd.http import UnreachableError, json_payload, whole_number
from syncd.limits import Priority
from syncd.vendors.learningpool.api import VENDOR, field_value, unwrapped
from syncd.vendors.learningpool.endpoints import EndpointMissing, Endpoints


class ListingError(UnreachableError):
    """A listing that does not end the way ``target.paging`` says it should."""


@dataclass(frozen=True, slots=True)
class Page:
    number: int
    items: list[dict[str, Any]]
    has_more: bool
    total: int | None
    fingerprint: str  # the items, to tell a repeated page from the next one


class Pager:
    """Pages of the configured list endpoints."""

    def __init__(
        self, endpoints: Endpoints, paging: Paging | None, records: LearningPoolRecords
    ) -> None:
        self._endpoints = endpoints
        self._paging = paging
        self._records = records

    def available(self, name: str) -> bool:
        """Whether list endpoint ``name`` and the paging it needs are both configured."""
        return self._paging is not None and self._endpoints.has(name)

    def page_size(self, name: str) -> int:
        """Records a full page of ``name`` holds."""
        return self._settings(name).page_size

    def _settings(self, name: str) -> Paging:
        if self._paging is None:
            raise EndpointMissing(
                name,
                f"target.paging is not configured, so syncd cannot read target.endpoints.{name}"
                "; set paging: {style: page or offset, page_param, size_param, page_size} "
                "as your platform documents them",
            )
        return self._paging

    def read(
        self,
        name: str,
        number: int,
        *,
        ids: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        priority: Priority = Priority.READ,
        after: Page | None = None,
    ) -> Page:
        """Page ``number`` (from 1) of list endpoint ``name``; ``after``: the page read before.

        ``ids`` fill the path's placeholders (``{group_id}``), ``params`` are filters.
        """
        paging = self._settings(name)
        call = f"GET {self._endpoints.get(name).path}"
        if number > paging.max_pages:
            raise ListingError(
                f"{VENDOR} {call}: the listing goes on past {paging.max_pages} pages of "
                f"{paging.page_size} (paging.max_pages); check target.paging, or raise "
                "max_pages if the platform really holds that many"
            )
        position = number if paging.style == "page" else (number - 1) * paging.page_size
        query = {**dict(params or {}), paging.page_param: position}
        query[paging.size_param] = paging.page_size
        response = self._endpoints.call(name, ids=ids, params=query, priority=priority)
        payload = json_payload(response, f"{VENDOR} {call}")
        page = _page(payload, number, paging, self._records, call)
        if after is not None and _repeats(page, after):
            raise ListingError(
                f"{VENDOR} {call}: page {number} repeats page {number - 1}, so the platform "
                f"ignores {paging.page_param}={position}; check target.paging "
                "(style, page_param, size_param)"
            )
        return page

    def pages(
        self,
        name: str,
        *,
        ids: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        priority: Priority = Priority.READ,
        first: Page | None = None,
    ) -> Iterator[Page]:
        """Every page; capped by ``total`` too, so totals that disagree with pages end it."""
        page = first or self.read(name, 1, ids=ids, params=params, priority=priority)
        size = self._settings(name).page_size
        cap = -(-page.total // size) + 1 if page.total is not None else None
        while True:
            yield page
            if not page.has_more or (cap is not None and page.number >= cap):
                return
            number = page.number + 1
            page = self.read(name, number, ids=ids, params=params, priority=priority, after=page)


def _repeats(page: Page, before: Page) -> bool:
    """Whether ``page`` holds exactly what the page before it held."""
    follows = page.number == before.number + 1
    return follows and bool(page.items) and page.fingerprint == before.fingerprint


def _page(
    payload: Any, number: int, paging: Paging, records: LearningPoolRecords, call: str
) -> Page:
    items = unwrapped(payload, records.wrapper)
    if not isinstance(items, list):
        where = f"in {records.wrapper!r}" if records.wrapper else "(records.envelope: none)"
        raise UnreachableError(
            f"{VENDOR} {call}: the answer carries no list of records {where}; "
            "check target.records.envelope"
        )
    meta = records.listing
    top = payload if isinstance(payload, Mapping) else {}

    def read(name: str | None) -> Any:
        return field_value(top, name) if name else None

    records_read = [dict(item) for item in items if isinstance(item, Mapping)]
    current = whole_number(read(meta.current_page)) or number
    last = whole_number(read(meta.last_page))
    if meta.next_link is not None:
        has_more = bool(read(meta.next_link))
    elif last is not None:
        has_more = current < last
    else:
        has_more = len(records_read) >= paging.page_size
    encoded = json.dumps(records_read, sort_keys=True, default=str).encode()
    return Page(
        number,
        records_read,
        has_more and bool(records_read),
        whole_number(read(meta.total)),
        hashlib.sha256(encoded).hexdigest(),
    )

"""HR records from a JSON API, one page at a time.

Pagination styles (``paginate:``):

- ``next_link``: a JSONPath to the next page's URL (absolute or relative); stops
  when it is absent, empty or the current URL. A link already read earlier is a
  loop in the API and makes the source unreadable rather than silently partial.
- ``page``: page numbers from ``start``; stops on an empty page, or on a page
  shorter than ``size`` when ``size_param`` tells the server that size. A page
  identical to the previous one means the server ignores the page parameter.
- ``cursor``: a JSONPath to the next cursor, sent back as query parameter
  ``param``; stops when absent or empty; a cursor seen before is a loop.

Passing faults (timeouts, connection errors, 5xx, 408, 429) are retried with
backoff; anything else that is not 2xx makes the source unreadable
(SourceError), as does a records path that finds nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import structlog

from syncd.config.schema.sources import (
    CursorPagination,
    HttpSourceConfig,
    NextLinkPagination,
    PageNumberPagination,
)
from syncd.http import HrEndpoint, ReadLimits, RetryPolicy
from syncd.jsonpath import CompiledPath, JsonPathSyntaxError, compile_path
from syncd.model import stable_hash
from syncd.sources.base import SourceError, SourceRecord

log = structlog.get_logger(__name__)


class HttpSource:
    """A paginated JSON API (SPEC §3 ``type: http``)."""

    def __init__(
        self,
        name: str,
        config: HttpSourceConfig,
        *,
        retry: RetryPolicy | None = None,
        auth: httpx.Auth | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._records_path = self._compile(config.records, "records")
        paginate = config.paginate
        self._follow_path = (
            self._compile(paginate.path, "paginate.path")
            if isinstance(paginate, NextLinkPagination | CursorPagination)
            else None
        )
        self._endpoint = HrEndpoint.of(
            name, config.url, config.auth, SourceError, retry=retry, auth=auth
        )

    def _compile(self, expression: str, what: str) -> CompiledPath:
        try:
            return compile_path(expression)
        except JsonPathSyntaxError as exc:
            raise SourceError(self.name, f"{what}: {exc}") from None

    def records(self) -> Iterator[SourceRecord]:
        headers = {"Accept": "application/json", **self.config.headers}
        with self._endpoint.client(
            self.config.timeout, self.config.deadline, headers, follow_redirects=True
        ) as client:
            paginate = self.config.paginate
            if isinstance(paginate, PageNumberPagination):
                pages = self._numbered_pages(client, paginate)
            elif isinstance(paginate, CursorPagination):
                pages = self._cursor_pages(client, paginate)
            elif isinstance(paginate, NextLinkPagination):
                pages = self._linked_pages(client)
            else:
                pages = iter([self._page(client, 1, self.config.url, None)])
            count = 0
            page_number = 0
            for page_number, (_document, items) in enumerate(pages, start=1):
                if page_number > self.config.max_pages:
                    raise SourceError(
                        self.name,
                        f"more than {self.config.max_pages:,} pages: stopped (raise max_pages "
                        "if the source really is that large)",
                    )
                for index, item in enumerate(items, start=1):
                    count += 1
                    yield _record(f"page {page_number}, item {index}", item)
        log.info("source_read", source=self.name, type="http", records=count, pages=page_number)

    # -- pagination styles ----------------------------------------------------------

    def _linked_pages(self, client: httpx.Client) -> Iterator[tuple[Any, list[Any]]]:
        assert self._follow_path is not None
        url = httpx.URL(self.config.url)
        seen = {str(url)}
        number = 1
        while True:
            document, items = self._page(client, number, url, None)
            yield document, items
            link = self._follow_path.first(document)
            if link is None or (isinstance(link, str) and not link.strip()):
                return
            if not isinstance(link, str):
                raise SourceError(
                    self.name, f"page {number}: the next link is not a string: {link!r}"
                )
            following = url.join(link.strip())
            if following == url:
                return
            self._check_host(following, number)
            if str(following) in seen:
                shown = self._endpoint.show(following)
                raise SourceError(
                    self.name,
                    f"page {number}: the next link {shown} was already read (pagination loop)",
                )
            seen.add(str(following))
            url = following
            number += 1

    def _numbered_pages(
        self, client: httpx.Client, paginate: PageNumberPagination
    ) -> Iterator[tuple[Any, list[Any]]]:
        number = 1
        page = paginate.start
        previous: str | None = None
        while True:
            params: dict[str, str] = {paginate.param: str(page)}
            if paginate.size_param:
                params[paginate.size_param] = str(paginate.size)
            document, items = self._page(client, number, httpx.URL(self.config.url), params)
            if not items:
                return
            fingerprint = stable_hash(items)
            if fingerprint == previous:
                raise SourceError(
                    self.name,
                    f"page {number} repeats page {number - 1}: does the API honour "
                    f"the {paginate.param!r} parameter?",
                )
            previous = fingerprint
            yield document, items
            if paginate.size_param and len(items) < paginate.size:
                return
            page += 1
            number += 1

    def _cursor_pages(
        self, client: httpx.Client, paginate: CursorPagination
    ) -> Iterator[tuple[Any, list[Any]]]:
        assert self._follow_path is not None
        params: dict[str, str] | None = None
        seen: set[str] = set()
        number = 1
        while True:
            document, items = self._page(client, number, httpx.URL(self.config.url), params)
            yield document, items
            cursor = self._follow_path.first(document)
            if cursor is None or isinstance(cursor, bool) or str(cursor).strip() == "":
                return
            if isinstance(cursor, dict | list):
                raise SourceError(self.name, f"page {number}: the cursor is not a plain value")
            text = str(cursor)
            if text in seen:
                raise SourceError(
                    self.name, f"page {number}: cursor repeats an earlier one (pagination loop)"
                )
            seen.add(text)
            params = {paginate.param: text}
            number += 1

    def _check_host(self, url: httpx.URL, number: int) -> None:
        """A next link may lead only to the configured host (or ``allowed_hosts``): the
        source's credentials and headers go with every page request."""
        home = httpx.URL(self.config.url)
        same_host = url.host == home.host and url.port == home.port
        if url.scheme == "http" and home.scheme == "https":
            reason = "leaves https for plain http"
        elif same_host or url.host in self.config.allowed_hosts:
            return
        else:
            reason = f"leads to another host, {url.host}, not {home.host}"
        raise SourceError(
            self.name,
            f"page {number}: the next link {reason}; refused, since the source's credentials "
            "would go with it (list a trusted host in allowed_hosts)",
        )

    # -- one page -------------------------------------------------------------------

    def _page(
        self,
        client: httpx.Client,
        number: int,
        url: httpx.URL | str,
        params: dict[str, str] | None,
    ) -> tuple[Any, list[Any]]:
        # httpx would replace the configured URL's own query with ``params``: merge instead.
        target = httpx.URL(str(url)).copy_merge_params(params) if params else url

        def build() -> httpx.Request:
            return client.build_request("GET", target)

        where = f"page {number} ({self._endpoint.show(build().url)})"
        limits = ReadLimits(self.config.deadline, self.config.max_page_bytes)
        response = self._endpoint.send(client, build, where, limits)
        try:
            document = response.json()
        except ValueError:
            raise SourceError(self.name, f"{where}: the answer is not JSON") from None
        items = self._records_path.records(document)
        if items is None:
            raise SourceError(
                self.name,
                f"{where}: records path {self.config.records!r} finds nothing in the answer",
            )
        return document, items


def _record(position: str, item: Any) -> SourceRecord:
    if isinstance(item, dict):
        return SourceRecord(position, item)
    kind = "list" if isinstance(item, list) else type(item).__name__
    return SourceRecord(position, {}, f"{position} is a JSON {kind}, not an object")

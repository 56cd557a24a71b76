"""Where a pull reads learning results (``pull.from``): the vendor, an LRS, or both.

With ``both`` the vendor is read first, then the LRS, and the cursor saved after each
page is ``{"vendor": ..., "xapi": ...}``: each source goes on from its own. A cursor
saved under another ``from`` still serves its source: a flat cursor with the LRS's keys
is the LRS's, any other flat one the vendor's, and a nested one gives each its part; a
single source keeps the other's part in what it saves. So changing ``from`` never makes
a source start again from the beginning. A connector that only ever read its vendor
saves the vendor's cursor as it always did.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from syncd.vendors.base import PullPage, ResultReader
from syncd.vendors.xapi.source import CURSOR_KEYS

VENDOR = "vendor"
LRS = "xapi"
_PARTS = frozenset({VENDOR, LRS})


def cursor_part(cursor: Mapping[str, Any] | None, source: str) -> dict[str, Any] | None:
    """The part of a saved cursor that belongs to ``source`` (``vendor`` or ``xapi``)."""
    if not cursor:
        return None
    keys = set(cursor)
    if keys <= _PARTS:
        part = cursor.get(source)
        return dict(part) if isinstance(part, Mapping) else None
    owner = LRS if keys & CURSOR_KEYS else VENDOR
    return dict(cursor) if owner == source else None


class OneSource:
    """One source, handed its own part of whatever cursor was saved.

    The other source's part, if one was saved (``from`` said both, or the other, before),
    is kept in every cursor this one saves, so switching back loses neither.
    """

    def __init__(self, reader: ResultReader, source: str) -> None:
        self.reader = reader
        self.source = source
        self.other = LRS if source == VENDOR else VENDOR
        self.vendor = reader.vendor

    @property
    def api_calls(self) -> int:
        return self.reader.api_calls

    def pull(self, cursor: Mapping[str, Any] | None) -> Iterator[PullPage]:
        kept = cursor_part(cursor, self.other)
        for page in self.reader.pull(cursor_part(cursor, self.source)):
            if kept is None:
                yield page
            else:
                own = dict(page.cursor)
                yield PullPage(
                    page.results, {self.source: own, self.other: kept}, page.unknown_users
                )

    def close(self) -> None:
        self.reader.close()


class BothSources:
    """The vendor's results, then the LRS's, in one pull with their cursors apart."""

    def __init__(self, vendor: ResultReader, lrs: ResultReader) -> None:
        self.vendor_reader = vendor
        self.lrs = lrs
        self.vendor = f"{vendor.vendor}+{lrs.vendor}"

    @property
    def api_calls(self) -> int:
        return self.vendor_reader.api_calls + self.lrs.api_calls

    def pull(self, cursor: Mapping[str, Any] | None) -> Iterator[PullPage]:
        vendor_cursor = cursor_part(cursor, VENDOR)
        lrs_cursor = cursor_part(cursor, LRS)
        for page in self.vendor_reader.pull(vendor_cursor):
            vendor_cursor = dict(page.cursor)
            yield PullPage(
                page.results, {VENDOR: vendor_cursor, LRS: lrs_cursor}, page.unknown_users
            )
        for page in self.lrs.pull(lrs_cursor):
            lrs_cursor = dict(page.cursor)
            yield PullPage(
                page.results, {VENDOR: vendor_cursor, LRS: lrs_cursor}, page.unknown_users
            )

    def close(self) -> None:
        try:
            self.vendor_reader.close()
        finally:
            self.lrs.close()


def pulled_from(vendor: ResultReader | None, lrs: ResultReader | None) -> ResultReader:
    """The reader of a pull that reads ``vendor``, ``lrs``, or both (at least one given)."""
    if vendor is not None and lrs is not None:
        return BothSources(vendor, lrs)
    if lrs is not None:
        return OneSource(lrs, LRS)
    if vendor is None:
        raise ValueError("a pull reads from the vendor, an LRS, or both: neither was given")
    return OneSource(vendor, VENDOR)

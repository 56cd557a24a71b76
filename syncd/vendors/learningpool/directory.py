"""Finding existing Learning Pool accounts, at the lowest call cost.

Used on first sync (adopt an account instead of creating a second one), after a
create whose answer was lost, and when a create is refused because its username
or HR id is taken. Accounts are found through ``target.endpoints.users_list``,
filtered by the match field (``?email=...``), one call a person for a few people
and one paged listing for many. A filtered answer is always re-checked: an API
that ignored the filter would otherwise hand back the first page of everyone,
and adopting a stranger's account is the worst mistake a sync can make. When it
does ignore it, the full listing is read once instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from syncd.limits import Priority
from syncd.vendors.learningpool.api import PAGE_SIZE, iter_pages, read_page
from syncd.vendors.learningpool.endpoints import Endpoints
from syncd.vendors.learningpool.fields import text

log = structlog.get_logger(__name__)

LIST = "users_list"


def norm(value: Any) -> str:
    return text(value).casefold()


@dataclass(frozen=True, slots=True)
class Account:
    """A Learning Pool account as a listing shows it."""

    id: str
    record: Mapping[str, Any]

    @property
    def active(self) -> bool | None:
        """``status`` says ``active`` or ``expired``; None when the answer does not say."""
        status = norm(self.record.get("status"))
        if status in ("active", "expired", "inactive", "deactivated"):
            return status == "active"
        return None

    def value(self, field: str) -> str:
        return norm(self.record.get(field))


class Directory:
    """Accounts read from the user listing, indexed by every field syncd may match on."""

    def __init__(self, endpoints: Endpoints) -> None:
        self._endpoints = endpoints
        self._by_id: dict[str, Account] = {}
        self._index: dict[str, dict[str, Account]] = {}  # field -> normalised value -> account
        self._complete = False  # the whole listing has been read
        self._filters_ignored = False

    @property
    def available(self) -> bool:
        return self._endpoints.has(LIST)

    def _absorb(self, items: Iterable[Mapping[str, Any]]) -> list[Account]:
        accounts = []
        for item in items:
            remote_id = item.get("id")
            if remote_id is None or isinstance(remote_id, bool) or not text(remote_id):
                continue
            account = Account(text(remote_id), dict(item))
            self._by_id[account.id] = account
            for field, index in self._index.items():
                if account.value(field):
                    index[account.value(field)] = account
            accounts.append(account)
        return accounts

    def _cached(self, field: str, value: str) -> Account | None:
        index = self._index.get(field)
        if index is None:
            index = self._index[field] = {
                a.value(field): a for a in self._by_id.values() if a.value(field)
            }
        return index.get(value)

    def read_all(self, priority: Priority) -> None:
        for page in iter_pages(self._endpoints, LIST, priority=priority):
            self._absorb(page.items)
        self._complete = True

    def lookup(self, field: str, value: Any, priority: Priority = Priority.READ) -> Account | None:
        """The account whose ``field`` equals ``value``: one filtered call, checked."""
        wanted = norm(value)
        if not wanted:
            return None
        if self._complete or self._filters_ignored:
            if not self._complete:
                self.read_all(priority)
            return self._cached(field, wanted)
        page = read_page(self._endpoints, LIST, 1, params={field: text(value)}, priority=priority)
        accounts = self._absorb(page.items)
        if any(a.value(field) != wanted for a in accounts):
            log.warning("learningpool_user_filter_ignored", field=field)
            self._filters_ignored = True
            self.read_all(priority)
            return self._cached(field, wanted)
        return next((a for a in accounts if a.value(field) == wanted), None)

    def match(
        self, field: str, values: Mapping[str, Any], priority: Priority = Priority.READ
    ) -> dict[str, Account]:
        """Accounts whose ``field`` equals each value (keyed like ``values``), cheapest way."""
        wanted = {key: norm(value) for key, value in values.items() if norm(value)}
        if not wanted:
            return {}
        if not self._complete and len(wanted) > 1:
            first = read_page(self._endpoints, LIST, 1, priority=priority)
            pages = -(-first.total // PAGE_SIZE) if first.total is not None else None
            if pages is None or pages <= len(wanted):
                for page in iter_pages(self._endpoints, LIST, priority=priority, first=first):
                    self._absorb(page.items)
                self._complete = True
            else:
                self._absorb(first.items)
        found: dict[str, Account] = {}
        for key, value in wanted.items():
            account = self._cached(field, value)
            if account is None and not self._complete:
                account = self.lookup(field, value, priority)
            if account is not None:
                found[key] = account
        return found

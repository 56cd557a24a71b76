"""Finding existing Learning Pool accounts, at the lowest call cost.

Used on first sync (adopt an account instead of creating a second one), after a
create whose answer was lost, when a create is refused because its username or HR
id is taken, and to read an account back. Accounts are found through
``target.endpoints.users_list``: filtered by the field when ``users_list.filters``
names the parameter that filters by it (one call a person for a few people), else
by reading the listing whole (once, for many). A filtered answer is always
re-checked: an API that ignored the filter would otherwise hand back the first page
of everyone, and adopting a stranger's account is the worst mistake a sync can make.
When it does ignore it, the full listing is read once instead.

What is read is remembered only within one cycle's adoption (``begin_adoption``):
there the listing is read at most once for all of a streamed first sync's chunks, and
lookups or the listing is chosen once, for every person the adoption expects, so a
large platform never gets a lookup a person from a first sync whose chunks are small.
It is forgotten when the adoption ends, and a match outside one (a create whose
answer was lost) reads afresh, so an account made since is never missed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from syncd.config.schema.targets import LearningPoolRecords
from syncd.limits import Priority
from syncd.vendors.learningpool.activity import Activity
from syncd.vendors.learningpool.api import field_value, record_of
from syncd.vendors.learningpool.endpoints import EndpointMissing, Endpoints
from syncd.vendors.learningpool.fields import text
from syncd.vendors.learningpool.paging import Pager

log = structlog.get_logger(__name__)

LIST = "users_list"
GET = "user_get"


def norm(value: Any) -> str:
    return text(value).casefold()


@dataclass(frozen=True, slots=True)
class Account:
    """A Learning Pool account as a listing shows it; ``active`` None: it does not say."""

    id: str
    record: Mapping[str, Any]
    active: bool | None = None

    def value(self, field: str) -> str:
        return norm(self.record.get(field))


def record_id(item: Mapping[str, Any], field: str) -> str:
    """The id a record holds in ``field``; "" when it has none usable."""
    value = field_value(item, field)
    return "" if value is None or isinstance(value, bool | Mapping | list) else text(value)


class Directory:
    """Accounts read from the user listing, indexed by every field syncd may match on."""

    def __init__(
        self, endpoints: Endpoints, pager: Pager, activity: Activity, records: LearningPoolRecords
    ) -> None:
        self._endpoints = endpoints
        self._pager = pager
        self._activity = activity
        self._envelope = records.wrapper
        self._id_field = records.user.id if records.user is not None else None
        self._by_id: dict[str, Account] = {}
        self._index: dict[str, dict[str, Account]] = {}  # field -> normalised value -> account
        self._complete = False  # the whole listing has been read
        self._filters_ignored = False
        self._adopting = False  # within a cycle's adoption: matches share what was read
        self._adoption_expected = 0  # people the adoption's matches ask about, in all
        self._adoption_looks_up = False  # the adoption chose a lookup a person

    def begin_adoption(self, expected: int = 0) -> None:
        self._forget()
        self._adopting = True
        self._adoption_expected = expected
        self._adoption_looks_up = False

    def end_adoption(self) -> None:
        self._forget()
        self._adopting = False
        self._adoption_expected = 0
        self._adoption_looks_up = False

    def _forget(self) -> None:
        """Accounts read so far may be gone or changed: the next need reads them again."""
        self._complete = False
        self._by_id.clear()
        self._index.clear()

    @property
    def available(self) -> bool:
        return self._pager.available(LIST)

    @property
    def can_get(self) -> bool:
        return self._endpoints.has(GET)

    def account(self, item: Mapping[str, Any]) -> Account | None:
        if self._id_field is None:  # target.records.user: config check names it
            raise EndpointMissing("records.user", "target.records.user is not configured")
        remote_id = record_id(item, self._id_field)
        return Account(remote_id, dict(item), self._activity.active(item)) if remote_id else None

    def _filter(self, field: str) -> str | None:
        endpoint = self._endpoints.get(LIST)
        return getattr(endpoint, "filters", {}).get(field)

    def _absorb(self, items: Iterable[Mapping[str, Any]]) -> list[Account]:
        accounts = []
        for item in items:
            account = self.account(item)
            if account is None:
                continue
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
        for page in self._pager.pages(LIST, priority=priority):
            self._absorb(page.items)
        self._complete = True

    def lookup(self, field: str, value: Any, priority: Priority = Priority.READ) -> Account | None:
        """The account whose ``field`` equals ``value``: one filtered call, checked."""
        wanted = norm(value)
        if not wanted:
            return None
        parameter = self._filter(field)
        if self._complete or self._filters_ignored or parameter is None:
            if not self._complete:
                self.read_all(priority)
            return self._cached(field, wanted)
        page = self._pager.read(LIST, 1, params={parameter: text(value)}, priority=priority)
        accounts = self._absorb(page.items)
        if any(a.value(field) != wanted for a in accounts):
            log.warning("learningpool_user_filter_ignored", field=field, parameter=parameter)
            self._filters_ignored = True
            self.read_all(priority)
            return self._cached(field, wanted)
        return next((a for a in accounts if a.value(field) == wanted), None)

    def fresh(
        self, remote_id: str, keys: Mapping[str, Any], priority: Priority = Priority.WRITE
    ) -> Account | None:
        """Account ``remote_id`` as the platform holds it now (None: gone), read back.

        ``user_get`` when configured; else a filtered lookup by ``keys`` (field -> value,
        e.g. the HR id) checked against the id; else the whole listing, read afresh.
        Raises EndpointMissing naming ``user_get`` when none of these is configured.
        """
        if self._endpoints.has(GET):
            response = self._endpoints.call(
                GET, ids={"user_id": remote_id}, priority=priority, accept=(404,)
            )
            if response.status_code == 404:
                return None
            record = record_of(response, f"GET {GET}", self._envelope)
            return self.account(record) if record else None
        if not self.available:
            self._endpoints.get(GET)  # raises, naming the key to set
        self._forget()
        self._filters_ignored = False
        for field, value in keys.items():
            if self._filter(field) and norm(value):
                found = self.lookup(field, value, priority)
                if found is not None and found.id == remote_id:
                    return found
        if not self._complete:
            self.read_all(priority)
        return self._by_id.get(remote_id)

    def match(
        self, field: str, values: Mapping[str, Any], priority: Priority = Priority.READ
    ) -> dict[str, Account]:
        """Accounts whose ``field`` equals each value (keyed like ``values``), cheapest way.

        Within an adoption the people it expects in all, not these alone, decide between
        a lookup each and the listing, and the choice holds for its later matches."""
        wanted = {key: norm(value) for key, value in values.items() if norm(value)}
        if not wanted:
            return {}
        if not self._adopting:
            self._forget()  # a lost create's lookup: only a read made now counts
        people = max(len(wanted), self._adoption_expected) if self._adopting else len(wanted)
        filtered = self._filter(field) is not None
        if not self._complete and (people > 1 or not filtered) and not self._adoption_looks_up:
            first = self._pager.read(LIST, 1, priority=priority)
            size = self._pager.page_size(LIST)
            pages = -(-first.total // size) if first.total is not None else None
            if pages is None or pages <= people or not filtered:
                for page in self._pager.pages(LIST, priority=priority, first=first):
                    self._absorb(page.items)
                self._complete = True
            else:
                self._adoption_looks_up = self._adopting
                self._absorb(first.items)
        found: dict[str, Account] = {}
        for key, value in wanted.items():
            account = self._cached(field, value)
            if account is None and not self._complete:
                account = self.lookup(field, value, priority)
            if account is not None:
                found[key] = account
        return found

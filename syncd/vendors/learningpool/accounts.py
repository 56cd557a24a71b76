"""Every Learning Pool account, for reconciliation, through ``target.endpoints.users_list``.

The listing is read whole, 100 a page, at read priority; it holds expired (deactivated)
users too, so an account it leaves out is gone (``user_get``, when configured, is asked
first). Fields are compared under the API's own names (the mapping's), usernames,
emails and HR ids without case or surrounding blanks (``fields.same``). Accounts are
matched by ``users.match``, else by the username (required and unique per platform).

No configurable endpoint lists a group's members or a user's enrolments, so
memberships are not listed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from syncd.limits import Priority
from syncd.model import DesiredUser
from syncd.vendors.base import ListedAccount, listed_accounts
from syncd.vendors.learningpool.api import iter_pages
from syncd.vendors.learningpool.directory import LIST, Account, norm
from syncd.vendors.learningpool.endpoints import Endpoints
from syncd.vendors.learningpool.fields import WRITABLE, text

CASELESS = frozenset({"username", "email", "external_id"})


class AccountListing:
    """``syncd.vendors.base.AccountLister`` for Learning Pool (``adapter.listing``)."""

    def __init__(self, endpoints: Endpoints, match: str | None) -> None:
        self._endpoints = endpoints
        self._match = match or "username"

    def list_accounts(
        self, groups: frozenset[str], courses: frozenset[str]
    ) -> Iterator[ListedAccount]:
        pages = iter_pages(self._endpoints, LIST, priority=Priority.READ)
        return listed_accounts(pages, self._account)

    def find_account(
        self, remote_id: str, groups: frozenset[str], courses: frozenset[str]
    ) -> ListedAccount | None:
        if not self._endpoints.has("user_get"):
            return None
        response = self._endpoints.call(
            "user_get", ids={"user_id": remote_id}, priority=Priority.READ, accept=(404,)
        )
        if response.status_code == 404:
            return None
        payload = response.json()
        data = payload.get("data", payload) if isinstance(payload, Mapping) else None
        return self._account(data) if isinstance(data, Mapping) else None

    def match_value(self, user: DesiredUser) -> str | None:
        return norm(user.fields.get(self._match)) or None

    @staticmethod
    def comparable(name: str, value: Any) -> Any:
        return norm(value) if name in CASELESS else text(value)

    def _account(self, item: Mapping[str, Any]) -> ListedAccount | None:
        remote_id = item.get("id")
        if remote_id is None or isinstance(remote_id, bool) or not text(remote_id):
            return None
        account = Account(text(remote_id), dict(item))
        return ListedAccount(
            remote_id=account.id,
            active=account.active is not False,  # a status it does not show: taken as active
            fields={name: item.get(name) for name in WRITABLE if name in item},
            match=account.value(self._match) or None,
        )

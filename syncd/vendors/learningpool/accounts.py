"""Every Learning Pool account, for reconciliation, through ``target.endpoints.users_list``.

The listing is read whole, as ``target.paging`` says, at read priority; it holds
deactivated users too, so an account it leaves out is gone (``user_get``, when
configured, is asked first). Whether an account is active is read from the field
``target.deactivation`` names. Fields are compared under the API's own names (the
mapping's), usernames, emails and HR ids without case or surrounding blanks
(``fields.same``). Accounts are matched by ``users.match``, else by the username
(required and unique per platform).

Memberships and enrolments are not listed for reconciliation: a group's members and a
user's enrolments can be configured, but only to settle a write (``memberships``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from syncd.limits import Priority
from syncd.model import DesiredUser
from syncd.vendors.base import ListedAccount, listed_accounts
from syncd.vendors.learningpool.directory import LIST, Directory, norm
from syncd.vendors.learningpool.fields import WRITABLE, text
from syncd.vendors.learningpool.paging import Pager

CASELESS = frozenset({"username", "email", "external_id"})


class AccountListing:
    """``syncd.vendors.base.AccountLister`` for Learning Pool (``adapter.listing``)."""

    def __init__(self, pager: Pager, directory: Directory, match: str | None) -> None:
        self._pager = pager
        self._directory = directory
        self._match = match or "username"

    def list_accounts(
        self, groups: frozenset[str], courses: frozenset[str]
    ) -> Iterator[ListedAccount]:
        pages = self._pager.pages(LIST, priority=Priority.READ)
        return listed_accounts(pages, self._account)

    def find_account(
        self, remote_id: str, groups: frozenset[str], courses: frozenset[str]
    ) -> ListedAccount | None:
        if not self._directory.can_get:
            return None
        found = self._directory.fresh(remote_id, {}, Priority.READ)
        return self._account(found.record) if found is not None else None

    def match_value(self, user: DesiredUser) -> str | None:
        return norm(user.fields.get(self._match)) or None

    @staticmethod
    def comparable(name: str, value: Any) -> Any:
        return norm(value) if name in CASELESS else text(value)

    def _account(self, item: Mapping[str, Any]) -> ListedAccount | None:
        account = self._directory.account(item)
        if account is None:
            return None
        return ListedAccount(
            remote_id=account.id,
            active=account.active is not False,  # a status it does not show: taken as active
            fields={name: item.get(name) for name in WRITABLE if name in item},
            match=account.value(self._match) or None,
        )

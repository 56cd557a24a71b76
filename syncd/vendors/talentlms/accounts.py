"""Every TalentLMS account, for reconciliation: ``GET /users``, 100 a page, at read priority.

The listing shows ``login``, ``email``, ``name``, ``surname`` and ``status`` (digest
§5.1): those are the fields compared, emails and logins without case or surrounding
blanks and names without surrounding blanks, as matching compares them (``directory``).
Custom fields, groups, branches and courses appear only one user at a time
(``GET /users/:id?resources=...``): 10,000 people would cost 10,000 calls, so
memberships and enrollments are not listed (``FACTS.absent`` says so) and 10,000
accounts cost 100 calls.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from syncd.http import VendorClient
from syncd.limits import Priority
from syncd.model import DesiredUser
from syncd.vendors.base import ListedAccount, listed_accounts
from syncd.vendors.talentlms.api import USER, USERS, data_of, iter_pages
from syncd.vendors.talentlms.directory import norm
from syncd.vendors.talentlms.facts import MATCH_FIELDS

LISTED_FIELDS = ("login", "email", "name", "surname")
PROTECTED_TYPES = frozenset({"superadmin"})
"""The portal owner's user type: never deactivated as an orphan (reported only)."""


class AccountListing:
    """``syncd.vendors.base.AccountLister`` for TalentLMS (``adapter.listing``)."""

    def __init__(self, client: VendorClient, match_field: str) -> None:
        self._client = client
        self._match = match_field

    def list_accounts(
        self, groups: frozenset[str], courses: frozenset[str]
    ) -> Iterator[ListedAccount]:
        pages = iter_pages(self._client, USERS, priority=Priority.READ)
        return listed_accounts(pages, self._account)

    def find_account(
        self, remote_id: str, groups: frozenset[str], courses: frozenset[str]
    ) -> ListedAccount | None:
        if not remote_id.isdigit():
            return None
        response = self._client.get(
            USER, path_params={"id": remote_id}, priority=Priority.READ, accept={404}
        )
        if response.status_code == 404:
            return None
        data = data_of(response, "GET /users/{id}")
        return self._account(data) if isinstance(data, Mapping) else None

    def match_value(self, user: DesiredUser) -> str | None:
        return norm(user.fields.get(self._match)) or None

    @staticmethod
    def comparable(name: str, value: Any) -> Any:
        if name in MATCH_FIELDS:
            return norm(value)
        return "" if value is None else str(value).strip()

    def _account(self, item: Mapping[str, Any]) -> ListedAccount | None:
        remote_id = item.get("id")
        if remote_id is None or isinstance(remote_id, bool):
            return None
        kind = item.get("type")
        if isinstance(item.get("user_type"), Mapping):  # a single user names it differently
            kind = item["user_type"].get("name")
        return ListedAccount(
            remote_id=str(remote_id),
            active=str(item.get("status") or "").strip().lower() == "active",
            fields={name: item[name] for name in LISTED_FIELDS if name in item},
            match=norm(item.get(self._match)) or None,
            protected=norm(kind) in PROTECTED_TYPES,
        )

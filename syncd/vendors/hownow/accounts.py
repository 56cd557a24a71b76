"""Every HowNow account, for reconciliation: ``GET /users``, 100 a page, at read priority.

The listing holds active users only (digest §4.1); a linked account it leaves out is
read on its own (``GET /users/EXT-…``), which tells a deactivated account from a
deleted one. What the listing shows is compared under the mapping's field names:
``name``, ``email``, ``user_type``, ``job_role`` (its name), ``start_date`` (listed as
``joined_organisation_on``) and ``manager_id`` (listed as the manager's HowNow id,
turned into ``EXT-<external id>`` through the listing itself). ``custom_fields`` are
shown one user at a time only, and are not compared. An optional field HR leaves
empty is not compared: HowNow keeps what it has (``users.upsert_body``).

HowNow's API writes no group memberships and no enrollments, so there are none to list.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import syncd.vendors.hownow.users as users
from syncd.limits import Priority
from syncd.model import DesiredUser
from syncd.vendors.base import ListedAccount
from syncd.vendors.hownow.api import HowNowApi, is_deactivated, user_ref

OPTIONAL = frozenset({"user_type", "job_role", "start_date", "manager_id"})
PROTECTED_TYPES = frozenset({"admin"})
"""Administrators (the heir of leavers' content among them) are never deactivated as orphans."""


class AccountListing:
    """``syncd.vendors.base.AccountLister`` for HowNow (``adapter.listing``)."""

    def __init__(self, api: HowNowApi, heir: str) -> None:
        self._api = api
        self._heir = heir
        self._external: dict[str, str] = {}  # HowNow id -> external_user_id, as listed

    def list_accounts(
        self, groups: frozenset[str], courses: frozenset[str]
    ) -> Iterator[ListedAccount]:
        page = 1
        while True:
            listing = self._api.list_users(page, priority=Priority.READ)
            for item in listing.items:
                self.remember(item)
                yield self._account(item)
            if listing.is_last(page):
                return
            page += 1

    def find_account(
        self, external_id: str, groups: frozenset[str], courses: frozenset[str]
    ) -> ListedAccount | None:
        user = self._api.get_user(user_ref(external_id), priority=Priority.READ)
        return self._account(user) if user is not None else None

    @staticmethod
    def match_value(user: DesiredUser) -> str | None:
        return users.external_user_id(user.fields) or None

    def comparable(self, name: str, value: Any) -> Any:
        if name == "email":
            return users.text(value).casefold()
        if name == "job_role":
            text = users.job_role(value).get("name", "")
        elif name == "manager_id":
            text = self._manager(users.reference(value) or "")
        elif name == "start_date":
            text = users.text(value)[:10]
        elif name == "user_type":
            text = users.text(value).casefold()
        else:
            text = users.text(value)
        return None if name in OPTIONAL and not text else text

    def remember(self, item: Mapping[str, Any]) -> None:
        """Note who a listed user is, so a manager shown by HowNow id can be named."""
        external = item.get("external_user_id")
        if item.get("id") is not None and isinstance(external, str) and external:
            self._external[str(item["id"])] = external

    def _manager(self, ref: str) -> str:
        """``ID-<n>`` as ``EXT-<external id>`` when the listing showed who that is."""
        if ref.startswith("ID-") and ref[3:] in self._external:
            return user_ref(self._external[ref[3:]])
        return ref

    def not_applied(self, fields: Mapping[str, Any], user: Mapping[str, Any]) -> list[str]:
        """The sent ``fields`` that ``user`` (as ``GET /users/EXT-…`` shows it) does not hold.

        A manager shown by a HowNow id this listing never saw cannot be compared, so is not.
        """
        shown = self._account(user).fields
        missed = []
        for name, sent in fields.items():
            if name == "custom_fields":
                missed += users.custom_fields_not_applied(sent, user.get("custom_fields"))
                continue
            if name not in shown:
                continue
            want, has = self.comparable(name, sent), self.comparable(name, shown[name])
            unresolved = name == "manager_id" and str(has or "").startswith("ID-")
            if want is not None and want != has and not unresolved:
                missed.append(f"{name} (sent {sent!r}, HowNow has {shown[name]!r})")
        return missed

    def holds(self, body: Mapping[str, Any], item: Mapping[str, Any]) -> bool:
        """Whether the listed ``item`` holds every value of the upsert ``body`` it shows.

        A manager shown by a HowNow id this listing never saw cannot be named, so does not
        hold. The caller sends only bodies whose every field the listing shows.
        """
        shown = self._account(item).fields
        return all(
            self.comparable(name, sent) == self.comparable(name, shown.get(name))
            for name, sent in body.items()
            if name != "external_user_id"
        )

    def _account(self, item: Mapping[str, Any]) -> ListedAccount:
        external = item.get("external_user_id")
        external = external if isinstance(external, str) and external else None
        manager = item.get("manager")
        manager_id = manager.get("id") if isinstance(manager, Mapping) else None
        fields = {
            "name": item.get("name"),
            "email": item.get("email"),
            "user_type": item.get("user_type"),
            "job_role": item.get("job_role"),
            "start_date": item.get("joined_organisation_on"),
            "manager_id": f"ID-{manager_id}" if manager_id is not None else None,
        }
        kind = users.text(item.get("user_type")).casefold()
        return ListedAccount(
            # An account without an external id cannot be addressed the way syncd writes.
            remote_id=external or f"ID-{item.get('id')}",
            active=not is_deactivated(item),
            fields=fields,
            match=external,
            protected=kind in PROTECTED_TYPES or user_ref(external or "") == self._heir,
            addressable=external is not None,
        )

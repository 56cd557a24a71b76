"""Every Learning Pool account, for reconciliation, through ``target.endpoints.users_list``.

The listing is read whole, as ``target.paging`` says, at read priority; it holds
deactivated users too, so an account it leaves out is gone (``user_get``, when
configured, is asked first). Whether an account is active is read from the field
``target.deactivation`` names. Fields are compared under the API's own names (the
mapping's, among ``target.records.user.writable``), the unique fields and the HR id
without case or surrounding blanks (``fields.same``). Accounts are matched by
``users.match``, else by the first of ``target.records.user.unique``.

Group memberships are listed where ``target.endpoints.group_members_list`` (and
``groups_list``, to find each group's id) is configured: each managed group's members
are read once per run, at read priority, so a member added or removed by hand is drift.
Without that endpoint memberships are not judged. Enrolments are never listed: a
user's enrolments cost a call per user, and nothing is ever unenrolled.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

from syncd.config.schema.targets import LearningPoolRecords
from syncd.limits import Priority
from syncd.model import DesiredUser, Membership, MembershipKind
from syncd.vendors.base import ListedAccount, listed_accounts
from syncd.vendors.learningpool.directory import LIST, Directory, norm
from syncd.vendors.learningpool.fields import text
from syncd.vendors.learningpool.memberships import GROUPS, MEMBERS, Groups, member_ids
from syncd.vendors.learningpool.paging import Pager


class AccountListing:
    """``syncd.vendors.base.AccountLister`` for Learning Pool (``adapter.listing``)."""

    def __init__(
        self,
        pager: Pager,
        directory: Directory,
        groups: Groups,
        records: LearningPoolRecords,
        match: str | None,
    ) -> None:
        self._pager = pager
        self._directory = directory
        self._groups = groups
        self._member_field = records.member_user_id
        rules = records.user
        self._writable = tuple(rules.writable) if rules else ()
        self._caseless = rules.caseless if rules else frozenset()
        self._match = match or (rules.unique[0] if rules else "")
        self._members_read: tuple[frozenset[str], dict[str, set[str]]] | None = None

    @property
    def lists_groups(self) -> bool:
        """Whether memberships can be listed: the members endpoint and the groups' ids."""
        return self._pager.available(MEMBERS) and self._pager.available(GROUPS)

    def list_accounts(
        self, groups: frozenset[str], courses: frozenset[str]
    ) -> Iterator[ListedAccount]:
        in_groups = self._members(groups)
        pages = self._pager.pages(LIST, priority=Priority.READ)
        return listed_accounts(pages, lambda item: self._account(item, in_groups))

    def find_account(
        self, remote_id: str, groups: frozenset[str], courses: frozenset[str]
    ) -> ListedAccount | None:
        if not self._directory.can_get:
            return None
        found = self._directory.fresh(remote_id, {}, Priority.READ)
        return self._account(found.record, self._members(groups)) if found is not None else None

    def match_value(self, user: DesiredUser) -> str | None:
        return norm(user.fields.get(self._match)) or None

    def comparable(self, name: str, value: Any) -> Any:
        return norm(value) if name in self._caseless else text(value)

    def _account(
        self, item: Mapping[str, Any], in_groups: Mapping[str, set[str]] | None
    ) -> ListedAccount | None:
        account = self._directory.account(item)
        if account is None:
            return None
        return ListedAccount(
            remote_id=account.id,
            active=account.active is not False,  # a status it does not show: taken as active
            fields={name: item.get(name) for name in self._writable if name in item},
            match=account.value(self._match) or None,
            groups=frozenset(in_groups.get(account.id, ())) if in_groups is not None else None,
        )

    def _members(self, groups: frozenset[str]) -> dict[str, set[str]] | None:
        """User id -> the managed groups (Membership texts) they are in; None: not listable.

        Read once per set of groups (the listing, then each linked account it left out).
        A group that does not exist has no members: the push reports it missing.
        """
        if not self.lists_groups:
            return None
        if self._members_read is not None and self._members_read[0] == groups:
            return self._members_read[1]
        found: dict[str, set[str]] = defaultdict(set)
        for label in sorted(groups):
            membership = Membership.group(label)
            if membership.kind is not MembershipKind.GROUP:
                continue
            group_id = self._groups.resolve(membership.name, Priority.READ)
            if group_id is None:
                continue
            pages = self._pager.pages(MEMBERS, ids={"group_id": group_id}, priority=Priority.READ)
            for user_id in member_ids(pages, self._member_field):
                found[user_id].add(label)
        self._members_read = (groups, found)
        return found

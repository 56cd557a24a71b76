"""Every iLMS account, for reconciliation, with the mapped groups' members and enrollments.

Accounts come from the users listing with ``userstatus=active,inactive`` (deleted ones
can never be written again; the listing is active-only by default, Q7), 100 a page, at
read priority. Their profile values are offered under every name a mapping may use for
a field (``F001``, ``f001``, ``first_name``), compared as iLMS takes them: surrounding
spaces trimmed, e-mail addresses without case.

Memberships: each group the mapping manages is listed through its members (G3), each
managed course or curriculum through its enrollments, inactive users included (E1,
E4): one paged read per group or course, the cheapest the document offers (it has no
"groups of a user" read). A managed group or course iLMS does not have has nobody in it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

from syncd.limits import Priority
from syncd.model import DesiredUser, Membership, MembershipKind
from syncd.vendors.base import ListedAccount
from syncd.vendors.ilms.api import GROUP_MEMBERS, LINKED_STATUSES, USER, USERS, ILMSApi, Page
from syncd.vendors.ilms.directory import account_of, profile_value
from syncd.vendors.ilms.enrollments import enrolled_user, split_target
from syncd.vendors.ilms.fields import FIELDS, code_of, match_of
from syncd.vendors.ilms.memberships import Memberships

EMAIL = "F015"


class AccountListing:
    """``syncd.vendors.base.AccountLister`` for iLMS (``adapter.listing``)."""

    def __init__(self, api: ILMSApi, memberships: Memberships, match_codes: tuple[str, ...]):
        self._api = api
        self._memberships = memberships
        self._match_codes = match_codes

    def list_accounts(
        self, groups: frozenset[str], courses: frozenset[str]
    ) -> Iterator[ListedAccount]:
        in_groups = self._members(groups)
        in_courses = self._enrolled(courses)
        seen: set[str] = set()
        params = {"userstatus": LINKED_STATUSES}
        for page in self._api.pages(USERS, params=params, priority=Priority.READ):
            for user in page.items:
                account = self._account(user, in_groups, in_courses)
                if account is not None and account.remote_id not in seen:
                    seen.add(account.remote_id)  # Q3: rows can shift between pages
                    yield account

    def find_account(
        self, remote_id: str, groups: frozenset[str], courses: frozenset[str]
    ) -> ListedAccount | None:
        response = self._api.client.get(
            USER,
            path_params={"org_id": self._api.org_id, "user_id": remote_id},
            priority=Priority.READ,
            accept={400, 404},
        )
        if response.status_code >= 400:
            return None
        user = response.json()
        if not isinstance(user, Mapping):
            return None
        return self._account(user, self._members(groups), self._enrolled(courses))

    def match_value(self, user: DesiredUser) -> str | None:
        found = match_of(user.fields, self._match_codes)
        return f"{found[0]}:{_fold(found[1])}" if found else None

    @staticmethod
    def comparable(name: str, value: Any) -> Any:
        text = " ".join(("" if value is None else str(value)).split())
        if code_of(name) == EMAIL:
            return text.casefold()
        if code_of(name) == "F005":  # hire dates come back with a time
            return text[:10]
        return text

    # --- helpers -------------------------------------------------------------------------------

    def _account(
        self,
        user: Mapping[str, Any],
        in_groups: Mapping[str, set[str]],
        in_courses: Mapping[str, set[str]],
    ) -> ListedAccount | None:
        found = account_of(user)
        if found is None:
            return None
        fields: dict[str, Any] = {}
        for code, field in FIELDS.items():
            if field.kind == "password":
                continue
            value = profile_value(user, code)
            for name in (code, code.lower(), field.alias):
                fields[name] = value
        match = next(
            (f"{code}:{_fold(value)}" for code in self._match_codes if (value := fields[code])),
            None,
        )
        return ListedAccount(
            remote_id=found.id,
            active=found.active,
            fields=fields,
            match=match,
            groups=frozenset(in_groups.get(found.id, ())),
            courses=frozenset(in_courses.get(found.id, ())),
        )

    def _members(self, groups: frozenset[str]) -> dict[str, set[str]]:
        """User id -> the managed groups (by their Membership text) they are members of."""
        found: dict[str, set[str]] = defaultdict(set)
        for text in sorted(groups):
            membership = Membership.group(text)
            group_id = (
                self._memberships.resolve(membership.name)
                if membership.kind is MembershipKind.GROUP
                else None
            )
            if group_id is not None:
                pages = self._pages(GROUP_MEMBERS, {"group_id": group_id})
                for user_id in _ids(pages, lambda item: item.get("ID")):
                    found[user_id].add(text)
        return found

    def _enrolled(self, courses: frozenset[str]) -> dict[str, set[str]]:
        """User id -> the managed courses and curricula they are enrolled in."""
        found: dict[str, set[str]] = defaultdict(set)
        for text in sorted(courses):
            template, _kind, course_id = split_target(text)
            if course_id:
                pages = self._pages(
                    template, {"course_id": course_id}, {"includeInactiveUsers": "true"}
                )
                for user_id in _ids(pages, enrolled_user):
                    found[user_id].add(text)
        return found

    def _pages(
        self,
        template: str,
        path_params: Mapping[str, Any],
        params: Mapping[str, Any] | None = None,
    ) -> Iterator[Page]:
        """Every page of a listing; none when iLMS answers that the group or course is gone."""
        number = 1
        while True:
            page = self._api.page(
                template,
                number,
                params=params,
                path_params=path_params,
                priority=Priority.READ,
                accept=frozenset({404}),
            )
            if not isinstance(page, Page):
                return
            yield page
            if page.is_last:
                return
            number += 1


def _ids(pages: Iterator[Page], id_of: Any) -> Iterator[str]:
    for page in pages:
        for item in page.items:
            value = id_of(item)
            if value is not None:
                yield str(value)


def _fold(value: str) -> str:
    return " ".join(value.split()).casefold()

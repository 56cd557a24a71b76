"""Sandbox Simple API groups (read-only, keyed by id or External Ref) and their direct
members: list, add and remove.

The vendor documents none of it, so the sandbox is strict: ``POST`` of a member already
in the group is refused (422 "already a member") and removing a non-member answers
404, and an adapter must settle either by reading the members. ``PUT`` of the member's
own URL stays idempotent, as HTTP defines PUT."""

from __future__ import annotations

from syncd.sandbox.http import SimRequest, SimResponse, empty_response, json_response, route
from syncd.sandbox.learningpool.base import API, bad_request, invalid, json_object, not_found
from syncd.sandbox.learningpool.store import LPGroup, LPUser, iso
from syncd.sandbox.learningpool.users import UsersApi


class GroupsApi(UsersApi):
    @route("GET", f"{API}/groups")
    def list_groups(self, req: SimRequest) -> SimResponse:
        groups = sorted(self.store.groups.values(), key=lambda g: g.id)
        ref = req.arg("external_ref")
        if ref is not None:
            groups = [g for g in groups if g.external_ref == ref]
        name = req.arg("name")
        if name is not None:
            groups = [g for g in groups if g.name.casefold() == name.casefold()]
        return self.page(req, [self.group_view(g) for g in groups])

    @route("GET", f"{API}/groups/{{group_id}}")
    def get_group(self, req: SimRequest) -> SimResponse:
        return json_response(200, {"data": self.group_view(self.group_from_path(req))})

    @route("GET", f"{API}/groups/{{group_id}}/members")
    def list_members(self, req: SimRequest) -> SimResponse:
        group = self.group_from_path(req)
        users = [self.store.users[uid] for uid in sorted(group.members)]
        return self.page(req, [self.user_view(u) for u in users])

    def _add(self, group: LPGroup, user: LPUser) -> SimResponse:
        new = user.id not in group.members
        if new:
            group.members[user.id] = self.now()
        body = {
            "data": {
                "group_id": group.id,
                "user_id": user.id,
                "added_at": iso(group.members[user.id]),
            }
        }
        return json_response(201 if new else 200, body)

    @route("PUT", f"{API}/groups/{{group_id}}/members/{{user_id}}")
    def put_member(self, req: SimRequest) -> SimResponse:
        group = self.group_from_path(req)
        return self._add(group, self.user_from_path(req))

    @route("POST", f"{API}/groups/{{group_id}}/members")
    def post_member(self, req: SimRequest) -> SimResponse:
        group = self.group_from_path(req)
        raw = json_object(req).get("user_id")
        if raw is None:
            raise bad_request('user_id is required: {"user_id": 10001}.')
        user = self.store.user(raw)
        if user is None:
            raise not_found("User")
        if user.id in group.members:
            raise invalid({"user_id": ["The user is already a member of this group."]})
        return self._add(group, user)

    @route("DELETE", f"{API}/groups/{{group_id}}/members/{{user_id}}")
    def remove_member(self, req: SimRequest) -> SimResponse:
        group = self.group_from_path(req)
        user = self.user_from_path(req)
        if group.members.pop(user.id, None) is None:
            raise not_found("Group member")
        return empty_response(204)

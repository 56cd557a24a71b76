"""TalentLMS groups and branches, and who belongs to them.

Conflicts follow the documents: removing a user who is not in a group is
``conflict.user_not_in_group``; adding a user already in a branch is
``conflict.user_already_in_branch``; removing one not in a branch is a generic
``conflict`` titled "The requested user is not a member of this branch". Adding a
user already in a group has no documented answer: the sandbox answers
``conflict.user_already_in_group`` (see docs/sandbox.md).
"""

from __future__ import annotations

from typing import Any

from syncd.sandbox.http import SimRequest, SimResponse, empty_response, route
from syncd.sandbox.talentlms.base import TalentLMSBase
from syncd.sandbox.talentlms.envelopes import (
    bad_request,
    conflict,
    data,
    is_placeholder,
    listing,
    require_id,
)
from syncd.sandbox.talentlms.store import ACTIVE, Branch, Group


class MembershipsApi(TalentLMSBase):
    # ----- groups ---------------------------------------------------------------------

    @route("GET", "/api/v2/groups")
    def list_groups(self, req: SimRequest) -> SimResponse:
        items = [self.group_item(g) for g in sorted(self.store.groups.values(), key=lambda g: g.id)]
        return listing(
            req,
            items,
            max_size=self.options.max_page_size,
            default_size=self.options.default_page_size,
        )

    @route("GET", "/api/v2/groups/{id}")
    def get_group(self, req: SimRequest) -> SimResponse:
        group_id = require_id(req.path_params["id"], "Group id must be a positive integer")
        return data(self.group_detail(self.group_by_id(group_id)))

    @route("POST", "/api/v2/groups")
    def create_group(self, req: SimRequest) -> SimResponse:
        body = self._object(req.json())
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise bad_request("Group name is required")
        if len(name) > 191:
            raise bad_request("Group name must not exceed 191 characters")
        key = body.get("key")
        if key is not None and (not isinstance(key, str) or not key.strip()):
            raise bad_request("Group key must be a not empty string or null")
        if any(g.name.lower() == name.strip().lower() for g in self.store.groups.values()):
            raise conflict("conflict", "A group with this name already exists")
        max_keys = body.get("max_key_redemptions")
        price = body.get("price")
        group = Group(
            id=self.store.next_id("group", self.store.groups),
            name=name.strip(),
            description=body.get("description")
            if isinstance(body.get("description"), str)
            else None,
            key=key,
            max_key_redemptions=max_keys if isinstance(max_keys, int) else None,
            price=float(price) if isinstance(price, int | float) and price else None,
        )
        self.store.groups[group.id] = group
        return data(self.group_detail(group))

    @route("DELETE", "/api/v2/groups/{id}")
    def delete_group(self, req: SimRequest) -> SimResponse:
        group_id = require_id(req.path_params["id"], "Group id must be a positive integer")
        self.group_by_id(group_id)
        del self.store.groups[group_id]
        for user in self.store.users.values():
            user.groups.discard(group_id)
        return empty_response(204)

    @route("POST", "/api/v2/group-memberships")
    def add_group_member(self, req: SimRequest) -> SimResponse:
        group, user_id = self._group_pair(req)
        user = self.user_by_id(user_id)
        if group.id in user.groups:
            raise conflict(
                "conflict.user_already_in_group", "The user already belongs to this group"
            )
        user.groups.add(group.id)
        return empty_response(204)

    @route("DELETE", "/api/v2/group-memberships")
    def remove_group_member(self, req: SimRequest) -> SimResponse:
        group, user_id = self._group_pair(req)
        user = self.user_by_id(user_id)
        if group.id not in user.groups:
            raise conflict("conflict.user_not_in_group", "User not in group")
        user.groups.discard(group.id)
        return empty_response(204)

    def _group_pair(self, req: SimRequest) -> tuple[Group, int]:
        body = self._object(req.json())
        group_id = require_id(body.get("group_id"), "Group id must be a positive integer")
        user_id = require_id(body.get("user_id"), "User id must be a positive integer")
        return self.group_by_id(group_id), user_id

    @route("POST", "/api/v2/group-courses")
    def add_group_course(self, req: SimRequest) -> SimResponse:
        group, course_id = self._group_course(req)
        course = self.course_by_id(course_id)
        if course.status != ACTIVE:
            raise conflict("conflict", "Course is not longer available")
        if course.id in group.courses:
            raise conflict("conflict", "Course is already in the group")
        group.courses.add(course.id)
        return empty_response(204)

    @route("DELETE", "/api/v2/group-courses")
    def remove_group_course(self, req: SimRequest) -> SimResponse:
        group, course_id = self._group_course(req)
        course = self.course_by_id(course_id)
        group.courses.discard(course.id)
        return empty_response(204)

    def _group_course(self, req: SimRequest) -> tuple[Group, int]:
        body = self._object(req.json())
        group_id = require_id(body.get("group_id"), "Group id must be a positive integer")
        course_id = require_id(body.get("course_id"), "Course id must be a positive integer")
        return self.group_by_id(group_id), course_id

    # ----- branches -------------------------------------------------------------------

    def _host(self, req: SimRequest) -> str:
        return req.base_url.split("://", 1)[-1].split("/", 1)[0]

    @route("GET", "/api/v2/branches")
    def list_branches(self, req: SimRequest) -> SimResponse:
        host = self._host(req)
        items = [
            self.branch_item(b, host)
            for b in sorted(self.store.branches.values(), key=lambda b: b.id)
        ]
        return listing(
            req,
            items,
            max_size=self.options.max_page_size,
            default_size=self.options.default_page_size,
        )

    @route("GET", "/api/v2/branches/{id}")
    def get_branch(self, req: SimRequest) -> SimResponse:
        branch_id = require_id(req.path_params["id"], "Branch id must be a positive integer")
        branch = self.branch_by_id(branch_id)
        body: dict[str, Any] = self.branch_item(branch, self._host(req))
        body.update(
            {
                "title": branch.name,
                "default_locale": branch.default_locale,
                "default_user_type": {"id": 4, "name": self.store.user_type_name(4)},
            }
        )
        return data(body)

    @route("POST", "/api/v2/branches")
    def create_branch(self, req: SimRequest) -> SimResponse:
        body = self._object(req.json())
        for key, label in (
            ("name", "Branch name"),
            ("description", "Branch description"),
            ("default_locale", "Branch default locale"),
        ):
            value = body.get(key)
            if not isinstance(value, str) or not value.strip() or is_placeholder(value):
                raise bad_request(f"{label} is required")
        if any(b.name == body["name"] for b in self.store.branches.values()):
            raise conflict("conflict", "A branch with this name already exists")
        branch = Branch(
            self.store.next_id("branch", self.store.branches),
            body["name"],
            body["description"],
            True,
            body["default_locale"],
        )
        self.store.branches[branch.id] = branch
        return data(self.branch_item(branch, self._host(req)))

    @route("DELETE", "/api/v2/branches/{id}")
    def delete_branch(self, req: SimRequest) -> SimResponse:
        branch_id = require_id(req.path_params["id"], "Branch id must be a positive integer")
        self.branch_by_id(branch_id)
        del self.store.branches[branch_id]
        for user in self.store.users.values():
            user.branches.discard(branch_id)
        return empty_response(204)

    @route("PUT", "/api/v2/branches/{id}/status")
    def set_branch_status(self, req: SimRequest) -> SimResponse:
        branch_id = require_id(req.path_params["id"], "Branch id must be a positive integer")
        branch = self.branch_by_id(branch_id)
        value = self._object(req.json()).get("is_active")
        if not isinstance(value, bool):
            raise bad_request("The attribute 'is_active' must be boolean")
        branch.active = value
        return empty_response(204)

    @route("GET", "/api/v2/branches/{id}/users")
    def list_branch_users(self, req: SimRequest) -> SimResponse:
        branch_id = require_id(req.path_params["id"], "Branch id must be a positive integer")
        branch = self.branch_by_id(branch_id)
        members = sorted(
            (u for u in self.store.users.values() if branch.id in u.branches), key=lambda u: u.id
        )
        items = [
            {
                "id": u.id,
                "name": u.name,
                "surname": u.surname,
                "login": u.login,
                "email": u.email,
                "type": {"id": u.user_type_id, "name": self.store.user_type_name(u.user_type_id)},
                "status": u.status,
                "last_login": self.user_item(u)["last_login"],
            }
            for u in members
        ]
        # The vendor's links for this endpoint use /rest-api/v2/ (a documented quirk).
        link_path = req.path.replace("/api/v2/", "/rest-api/v2/", 1)
        return listing(
            req,
            items,
            max_size=self.options.max_page_size,
            default_size=self.options.default_page_size,
            link_path=link_path,
        )

    @route("POST", "/api/v2/branch-users")
    def add_branch_user(self, req: SimRequest) -> SimResponse:
        branch, user_id = self._branch_pair(req)
        user = self.user_by_id(user_id)
        if branch.id in user.branches:
            raise conflict(
                "conflict.user_already_in_branch", "The user already belongs to this branch"
            )
        user.branches.add(branch.id)
        return empty_response(204)

    @route("DELETE", "/api/v2/branch-users")
    def remove_branch_user(self, req: SimRequest) -> SimResponse:
        branch, user_id = self._branch_pair(req)
        user = self.user_by_id(user_id)
        if branch.id not in user.branches:
            raise conflict("conflict", "The requested user is not a member of this branch")
        user.branches.discard(branch.id)
        return empty_response(204)

    def _branch_pair(self, req: SimRequest) -> tuple[Branch, int]:
        body = self._object(req.json())
        if body.get("branch_id") is None:
            raise bad_request("Branch id is required")
        branch_id = require_id(body.get("branch_id"), "Branch id must be a positive integer")
        user_id = require_id(body.get("user_id"), "User id must be a positive integer")
        return self.branch_by_id(branch_id), user_id

    @staticmethod
    def _object(body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad_request("Request body must be a JSON object")
        return body

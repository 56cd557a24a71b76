"""iLMS groups and their members (seed L791-L1179) and the region -> division ->
department tree users belong to (L2003-L2692). Groups cannot be created through the
API (the document has no such call), so they come from seeds."""

from __future__ import annotations

from syncd.sandbox.http import SimRequest, SimResponse, json_response, route
from syncd.sandbox.ilms.base import (
    ORG,
    bad_request,
    created,
    error,
    no_content,
    not_found,
    user_id_of,
)
from syncd.sandbox.ilms.facts import AMP_HASH, NODE_NAME_RULES, SORTABLE_USER_FIELDS
from syncd.sandbox.ilms.store import DELETED, Node
from syncd.sandbox.ilms.users import UsersApi

_SORTS = ("name", "-name")


class GroupsApi(UsersApi):
    # ----- groups -----------------------------------------------------------------------

    @route("GET", f"{ORG}/groups")
    def list_groups(self, req: SimRequest) -> SimResponse:
        sort = (req.arg("sort") or "name").strip().lower()
        if sort not in _SORTS:
            raise bad_request("sort takes name or -name.")
        groups = sorted(self.store.groups.values(), key=lambda g: g.id)
        groups.sort(key=lambda g: g.name.casefold(), reverse=sort == "-name")
        return self.page(req, [self.group_view(g) for g in groups])

    @route("GET", f"{ORG}/groups/{{group_id}}")
    def get_group(self, req: SimRequest) -> SimResponse:
        return json_response(200, self.group_view(self.group_from_path(req)))

    @route("GET", f"{ORG}/groups/{{group_id}}/members")
    def list_members(self, req: SimRequest) -> SimResponse:
        group = self.group_from_path(req)
        users = [
            self.store.users[m]
            for m in group.members
            if m in self.store.users and self.store.users[m].status != DELETED
        ]
        users = self.sorted_users(users, req, SORTABLE_USER_FIELDS)
        return self.page(req, [self.user_view(u) for u in users])

    @route("POST", f"{ORG}/groups/{{group_id}}/members")
    def add_member(self, req: SimRequest) -> SimResponse:
        group = self.group_from_path(req)
        raw = user_id_of(req.json())
        user = self.store.user_ref(raw)
        if user is None or user.status == DELETED:
            raise bad_request(f"userid {raw!r} is not a user of the organization.")
        if user.id in group.members:
            # The document is silent; iLMS is reported to answer this 400, so the sandbox does.
            raise bad_request("The user is already a member of this group.")
        group.members.add(user.id)
        return created(f"{req.url.rstrip('/')}/{user.id}")

    @route("DELETE", f"{ORG}/groups/{{group_id}}/members/{{user_id}}")
    def remove_member(self, req: SimRequest) -> SimResponse:
        group = self.group_from_path(req)
        user = self.store.user_ref(req.path_params["user_id"])
        if user is None or user.id not in group.members:
            raise not_found("The group member")
        group.members.discard(user.id)
        return no_content()

    # ----- region -> division -> department ------------------------------------------------

    def _region(self, req: SimRequest) -> Node:
        raw = req.path_params["region_id"]
        region = self.store.regions.get(int(raw)) if raw.isdigit() else None
        if region is None:
            raise not_found("The region")
        return region

    def _division(self, req: SimRequest) -> Node:
        raw = req.path_params["division_id"]
        division = self._region(req).children.get(int(raw)) if raw.isdigit() else None
        if division is None:
            raise not_found("The division")
        return division

    def _nodes(self, req: SimRequest, nodes: list[Node], depth: int) -> SimResponse:
        ordered = sorted(nodes, key=lambda n: n.name.casefold())
        return self.page(req, [self.node_view(n, depth) for n in ordered])

    def _create_node(self, req: SimRequest, parent: Node | None, depth: int) -> SimResponse:
        body = req.json()
        folded = {str(k).casefold(): v for k, v in body.items()} if isinstance(body, dict) else {}
        name = folded.get("name")
        if not isinstance(name, str) or not name.strip():
            raise bad_request('name is required: {"name": "MyRegion"}.')
        name = name.strip()
        rule = NODE_NAME_RULES[depth]
        if len(name) > rule.max_length:
            raise bad_request(f"name must be at most {rule.max_length} characters.")
        amp_hash = rule.amp_hash and not self.options.amp_hash_allowed
        banned = rule.restricted + (AMP_HASH if amp_hash else "")
        found = sorted({c for c in name if c in banned})
        if found:
            raise bad_request(f"name contains restricted characters: {' '.join(found)}")
        siblings = self.store.regions if parent is None else parent.children
        if any(n.name.casefold() == name.casefold() for n in siblings.values()):
            return error(400, f"{name!r} already exists.")
        node = self.store.add_node(parent, depth, name)
        return created(f"{req.url.rstrip('/')}/{node.id}", node.id)

    @route("GET", f"{ORG}/regions")
    def list_regions(self, req: SimRequest) -> SimResponse:
        return self._nodes(req, list(self.store.regions.values()), 0)

    @route("POST", f"{ORG}/regions")
    def create_region(self, req: SimRequest) -> SimResponse:
        return self._create_node(req, None, 0)

    @route("GET", f"{ORG}/regions/{{region_id}}/divisions")
    def list_divisions(self, req: SimRequest) -> SimResponse:
        return self._nodes(req, list(self._region(req).children.values()), 1)

    @route("POST", f"{ORG}/regions/{{region_id}}/divisions")
    def create_division(self, req: SimRequest) -> SimResponse:
        return self._create_node(req, self._region(req), 1)

    @route("GET", f"{ORG}/regions/{{region_id}}/divisions/{{division_id}}/departments")
    def list_departments(self, req: SimRequest) -> SimResponse:
        return self._nodes(req, list(self._division(req).children.values()), 2)

    @route("POST", f"{ORG}/regions/{{region_id}}/divisions/{{division_id}}/departments")
    def create_department(self, req: SimRequest) -> SimResponse:
        return self._create_node(req, self._division(req), 2)

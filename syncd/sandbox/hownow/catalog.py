"""HowNow groups and job roles (read-only here) and external learning records (async upsert)."""

from __future__ import annotations

from typing import Any

from syncd.sandbox.clock import iso_z
from syncd.sandbox.hownow.base import error, invalid_parameters, not_found
from syncd.sandbox.hownow.store import Group, JobRole
from syncd.sandbox.hownow.users import UsersApi, parse_day
from syncd.sandbox.http import Reply, SimRequest, SimResponse, json_response, route
from syncd.sandbox.jobs import ItemResult, Job

GROUP_ROLES = ("admin", "manager", "contributor", "readonly")


class CatalogApi(UsersApi):
    # ----- groups ---------------------------------------------------------------------

    def _group(self, req: SimRequest) -> Group:
        raw = req.path_params["id"]
        group = self.store.groups.get(int(raw)) if raw.isdigit() else None
        if group is None:
            raise not_found()
        return group

    @route("GET", "/external/v1/groups")
    def list_groups(self, req: SimRequest) -> SimResponse:
        groups = sorted(self.store.groups.values(), key=lambda g: g.id)
        search = (req.arg("search") or "").strip().lower()
        if search:
            groups = [g for g in groups if search in g.team_name.lower()]
        return self.page(
            req, [self.group_view(g) for g in groups], {"search": search} if search else None
        )

    @route("GET", "/external/v1/groups/{id}")
    def get_group(self, req: SimRequest) -> SimResponse:
        return json_response(200, {"data": self.group_view(self._group(req), detail=True)})

    @route("GET", "/external/v1/groups/{id}/users")
    def group_users(self, req: SimRequest) -> SimResponse:
        group = self._group(req)
        role = (req.arg("role") or "").strip().lower()
        if role and role not in GROUP_ROLES:
            raise invalid_parameters()
        items = []
        for user_id, (member_role, joined) in sorted(group.members.items()):
            user = self.store.users.get(user_id)
            if user is None or (role and member_role.lower() != role):
                continue
            items.append(
                {
                    "id": user.id,
                    "name": user.name,
                    "email": user.email,
                    "role": member_role,
                    "group_joining_date": iso_z(joined),
                }
            )
        return self.page(req, items, {"role": role} if role else None)

    # ----- job roles ------------------------------------------------------------------

    def role_view(self, role: JobRole) -> dict[str, Any]:
        return {
            "id": role.id,
            "external_id": role.external_id,
            "name": role.name,
            "description": role.description,
            "users_count": sum(1 for u in self.store.users.values() if u.job_role_id == role.id),
            "skills_count": 0,
            "groups_count": 0,
            "created_at": iso_z(role.created_at),
            "updated_at": iso_z(role.created_at),
        }

    @route("GET", "/external/v1/job_roles")
    def list_job_roles(self, req: SimRequest) -> SimResponse:
        roles = sorted(self.store.job_roles.values(), key=lambda r: r.name.lower())
        query = (req.arg("q") or "").strip().lower()
        if query:
            roles = [r for r in roles if query in r.name.lower()]
        return self.page(req, [self.role_view(r) for r in roles], {"q": query} if query else None)

    @route("GET", "/external/v1/job_roles/{id}")
    def get_job_role(self, req: SimRequest) -> SimResponse:
        role = self.store.resolve_job_role(req.path_params["id"])
        if role is None:
            raise Reply(error(404, "Job role not found"))
        return json_response(200, {"data": {**self.role_view(role), "skills": []}})

    # ----- external learning records ------------------------------------------------------

    @route("POST", "/external/v1/contents/engagement/upsert")
    def upsert_learning_record(self, req: SimRequest) -> SimResponse:
        body = req.json()
        if not isinstance(body, dict):
            raise invalid_parameters()
        for key in ("external_user_id", "external_content_id", "provider", "enrollment_date"):
            if not isinstance(body.get(key), str) or not body[key].strip():
                raise invalid_parameters()
        percentage = body.get("completion_percentage")
        if not isinstance(percentage, int) or isinstance(percentage, bool):
            raise invalid_parameters()
        if body.get("completion_date") is not None and not isinstance(body["completion_date"], str):
            raise invalid_parameters()
        spent = body.get("time_spent")
        if spent is not None and (not isinstance(spent, int) or isinstance(spent, bool)):
            raise invalid_parameters()
        return self.start_job(req, "learning_record_upsert", body, self._apply_learning_record)

    def _apply_learning_record(self, job: Job, index: int, body: dict[str, Any]) -> ItemResult:
        problems: list[str] = []
        user_ref, content_ref = body["external_user_id"], body["external_content_id"]
        if self.store.user_by_external(user_ref) is None:
            problems.append(f"User not found with external_user_id: {user_ref}")
        if self.store.content_by_external(content_ref) is None:
            problems.append(f"Content not found with external_content_id: {content_ref}")
        if not 0 <= body["completion_percentage"] <= 100:
            problems.append("Completion percentage must be between 0 and 100")
        if parse_day(body["enrollment_date"]) is None:
            problems.append("Enrollment date is invalid (expected YYYY-MM-DD)")
        if body.get("completion_date") is not None and parse_day(body["completion_date"]) is None:
            problems.append("Completion date is invalid (expected YYYY-MM-DD or null)")
        if body.get("time_spent") is not None and body["time_spent"] < 0:
            problems.append("Time spent must be a non-negative integer")
        if problems:
            return ItemResult(problems)
        keys = (
            "external_user_id",
            "external_content_id",
            "provider",
            "completion_percentage",
            "enrollment_date",
            "completion_date",
            "time_spent",
        )
        record = {k: body.get(k) for k in keys}  # a full overwrite, as documented
        record["updated_at"] = iso_z(self.now())
        self.store.learning_records[(user_ref, content_ref)] = record
        warnings = ["Simulated warning (sandbox fault job_warn)"] if job.forced == "warned" else []
        return ItemResult(warnings=warnings)

"""HowNow users: list, details, assigned contents, asynchronous upsert, deactivate,
reactivate and delete.

Upserts are checked in two places, as the documents suggest: a body missing a
required field (or with a wrongly typed one) is refused at once with 400 "Invalid
Parameters"; every other rule (formats, lengths, existing manager and job role,
defined custom fields, a deactivated user, seats) is checked when the job runs and
makes the job ``failed`` with the reasons in ``errors``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from syncd.sandbox.clock import iso_z
from syncd.sandbox.hownow.base import HowNowBase, invalid_parameters, unprocessable
from syncd.sandbox.hownow.store import USER_TYPES, HowNowUser, JobRole
from syncd.sandbox.http import SimRequest, SimResponse, json_response, route
from syncd.sandbox.jobs import ItemResult, Job

EXTERNAL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
DEVISE_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
MAX_NAME = 75


def parse_day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) else None
    except ValueError:
        return None


class UsersApi(HowNowBase):
    @route("GET", "/external/v1/users")
    def list_users(self, req: SimRequest) -> SimResponse:
        users = [u for u in sorted(self.store.users.values(), key=lambda u: u.id) if u.active]
        query = (req.arg("q") or "").strip().lower()
        if query:
            users = [u for u in users if query in u.name.lower() or query in u.email.lower()]
        return self.page(req, [self.user_view(u) for u in users], {"q": query} if query else None)

    @route("GET", "/external/v1/users/{uid}")
    def get_user(self, req: SimRequest) -> SimResponse:
        return json_response(200, {"data": self.user_view(self.user_from_path(req), detail=True)})

    @route("GET", "/external/v1/users/{uid}/assigned_contents")
    def assigned_contents(self, req: SimRequest) -> SimResponse:
        user = self.user_from_path(req)
        now = self.now()
        query = (req.arg("q") or "").strip().lower()
        items = []
        rows = sorted(
            (a for (uid, _), a in self.store.assignments.items() if uid == user.id),
            key=lambda a: a.assigned_at,
            reverse=True,
        )
        for a in rows:
            content = self.store.contents.get(a.content_id)
            if content is None or (query and query not in content.title.lower()):
                continue
            items.append(
                {
                    "id": content.id,
                    "hownow_id": content.hownow_id,
                    "title": content.title,
                    "content_type": content.content_type,
                    "author": self.person(content.author_id),
                    "assigned_at": iso_z(a.assigned_at),
                    "status": a.status,
                    "progress": a.progress,
                    "renewal_due_date": iso_z(a.renewal_due_date) if a.renewal_due_date else None,
                    "deadline_date": iso_z(a.deadline_date) if a.deadline_date else None,
                    "completed_at": iso_z(a.completed_at) if a.completed_at else None,
                    "is_overdue": bool(
                        a.deadline_date and a.deadline_date < now and not a.completed_at
                    ),
                    "metadata": {
                        "assigned_via": a.assigned_via,
                        "source": content.source,
                        "language": content.language,
                        "visibility_level": "everywhere",
                    },
                }
            )
        return self.page(req, items, {"q": query} if query else None)

    # ----- upsert ---------------------------------------------------------------------

    @route("POST", "/external/v1/users/upsert")
    def upsert_user(self, req: SimRequest) -> SimResponse:
        body = req.json()
        if not isinstance(body, dict):
            raise invalid_parameters()
        for key in ("external_user_id", "name", "email", "user_type"):
            if not isinstance(body.get(key), str) or not body[key].strip():
                raise invalid_parameters()
        for key in ("manager_id", "start_date", "avatar_url"):
            if body.get(key) is not None and not isinstance(body[key], str):
                raise invalid_parameters()
        role = body.get("job_role")
        if role is not None and (
            not isinstance(role, dict)
            or any(role.get(k) is not None and not isinstance(role[k], str) for k in ("id", "name"))
        ):
            raise invalid_parameters()
        fields = body.get("custom_fields")
        if fields is not None and (
            not isinstance(fields, list)
            or any(
                not isinstance(f, dict)
                or not isinstance(f.get("field_name"), str)
                or not isinstance(f.get("value"), str)
                for f in fields
            )
        ):
            raise invalid_parameters()
        return self.start_job(req, "user_upsert", body, self._apply_upsert)

    def start_job(
        self, req: SimRequest, kind: str, body: dict[str, Any], apply: Any
    ) -> SimResponse:
        job_id = f"job_{self.rng.getrandbits(48):012x}"
        self.jobs.create(
            job_id,
            kind,
            [body],
            apply,
            duration=self.options.job_duration,
            forced=self.faults.job_outcome(),
            owner=req.credential,
        )
        return json_response(201, {"job_id": job_id, "message": "Request is accepted"})

    def _apply_upsert(self, job: Job, index: int, body: dict[str, Any]) -> ItemResult:
        if job.forced == "failed":
            return ItemResult(["Job failed (sandbox fault job_fail)"])
        external_id = body["external_user_id"].strip()
        existing = self.store.user_by_external(external_id)
        if existing is not None and not existing.active:
            return ItemResult(
                [
                    f"Cannot upsert deactivated user with external_user_id: "
                    f"{external_id} - reactivate first"
                ]
            )
        problems: list[str] = []
        if not EXTERNAL_ID.match(external_id):
            problems.append(
                "External user id is invalid (only letters, digits, underscores "
                "and hyphens are allowed)"
            )
        name = body["name"].strip()
        if len(name) > MAX_NAME:
            problems.append(f"Name is too long (maximum is {MAX_NAME} characters)")
        email = body["email"].strip()
        if not DEVISE_EMAIL.match(email):
            problems.append("Email is invalid")
        else:
            owner = self.store.user_by_email(email)
            if owner is not None and owner is not existing:
                problems.append("Email has already been taken")
        user_type = next(
            (t for t in USER_TYPES if t.lower() == body["user_type"].strip().lower()), None
        )
        if user_type is None:
            problems.append(f"User type is not included in the list ({', '.join(USER_TYPES)})")
        manager = None
        if body.get("manager_id"):
            manager = self.store.resolve_user(body["manager_id"])
            if manager is None:
                problems.append(f"Manager not found with manager_id: {body['manager_id']}")
            elif not manager.active:
                problems.append(f"Manager must be active: {body['manager_id']}")
            elif manager is existing:
                problems.append("Manager cannot be the user themself")
        if body.get("start_date"):
            day = parse_day(body["start_date"])
            today = datetime.fromtimestamp(self.now(), UTC).date()
            if day is None:
                problems.append("Start date is invalid (expected YYYY-MM-DD)")
            elif day > today:
                problems.append("Start date cannot be a future date")
        if body.get("avatar_url") and not re.match(r"^https?://\S+$", body["avatar_url"]):
            problems.append("Avatar url must be a valid HTTP or HTTPS URL")
        role: JobRole | None = None
        role_body = body.get("job_role") or {}
        if role_body.get("id"):
            role = self.store.resolve_job_role(role_body["id"])
            if role is None:
                problems.append(f"Job role not found with id: {role_body['id']}")
        fields = body.get("custom_fields")
        for entry in fields or []:
            if entry["field_name"] not in self.store.custom_field_names:
                problems.append(f"Custom field not found: {entry['field_name']}")
        seat_limit = self.options.seat_limit or self.store.seat_limit
        if existing is None and seat_limit is not None and self.store.active_seats() >= seat_limit:
            problems.append("Seat limit reached")
        if problems:
            return ItemResult(problems, detail={"external_user_id": external_id})

        if role is None and role_body.get("name"):
            role = self.store.job_role_by_name(role_body["name"]) or self._new_role(
                role_body["name"]
            )
        user = existing or self._new_user(external_id)
        user.name, user.email = name, email
        user.user_type = user_type or user.user_type
        if manager is not None:
            user.manager_id = manager.id
        if body.get("start_date"):
            user.start_date = body["start_date"]
        if body.get("avatar_url"):
            user.avatar_url = body["avatar_url"]
        if role is not None:
            user.job_role_id = role.id
        if fields is not None:  # a full replacement, as documented
            user.custom_fields = {f["field_name"]: f["value"] for f in fields}
        warnings = ["Simulated warning (sandbox fault job_warn)"] if job.forced == "warned" else []
        return ItemResult(
            warnings=warnings, detail={"external_user_id": external_id, "id": user.id}
        )

    def _new_user(self, external_id: str) -> HowNowUser:
        user = HowNowUser(
            id=self.store.next_id("user", self.store.users, 300001),
            name="",
            email="",
            user_type="ReadOnly",
            created_at=self.now(),
            external_user_id=external_id,
        )
        self.store.users[user.id] = user
        return user

    def _new_role(self, name: str) -> JobRole:
        role = JobRole(
            self.store.next_id("role", self.store.job_roles, 9001), name.strip(), self.now()
        )
        self.store.job_roles[role.id] = role
        return role

    # ----- lifecycle ------------------------------------------------------------------

    def _assignee(self, req: SimRequest, user: HowNowUser) -> HowNowUser | None:
        """The user who inherits ``user``'s content, groups and channels (if any is needed)."""
        body = req.json() or {}
        if not isinstance(body, dict):
            raise invalid_parameters()
        ref = body.get("assigned_user_id") or body.get("assigned_external_user_id")
        if ref is not None and not isinstance(ref, str):
            raise invalid_parameters()
        if not ref:
            if self.store.has_responsibilities(user):
                raise unprocessable(
                    "Assigned User is required: the user has active "
                    "responsibilities (content, groups or channels)"
                )
            return None
        assignee = self.store.resolve_user(ref, bare_is_external=True)
        if assignee is None:
            raise unprocessable("Assigned User not found")
        if assignee is user:
            raise unprocessable("Assigned User cannot be the same user")
        if assignee.user_type == "ReadOnly":
            raise unprocessable("Assigned User cannot be a 'Read Only' user")
        if not assignee.active:
            raise unprocessable("Assigned User must be active")
        return assignee

    @route("PUT", "/external/v1/users/{uid}/deactivate")
    def deactivate(self, req: SimRequest) -> SimResponse:
        user = self.user_from_path(req)
        if not user.active:
            raise unprocessable("User is already deactivated")
        assignee = self._assignee(req, user)
        if assignee is not None:
            self.store.transfer_responsibilities(user, assignee)
        user.deactivated_at = self.now()
        user.manager_id = None
        return json_response(200, {"message": "User deactivated successfully"})

    @route("PUT", "/external/v1/users/{uid}/reactivate")
    def reactivate(self, req: SimRequest) -> SimResponse:
        user = self.user_from_path(req)
        if user.active:
            raise unprocessable(f"User cannot be reactivated: the user is {user.status.lower()}")
        seat_limit = self.options.seat_limit or self.store.seat_limit
        if seat_limit is not None and self.store.active_seats() >= seat_limit:
            raise unprocessable("Seat limit reached")
        user.deactivated_at = None
        return json_response(200, {"message": "User reactivated successfully"})

    @route("DELETE", "/external/v1/users/{uid}/delete")
    def delete(self, req: SimRequest) -> SimResponse:
        user = self.user_from_path(req)
        assignee = self._assignee(req, user)
        if assignee is not None:
            self.store.transfer_responsibilities(user, assignee)
        self.store.delete_user(user)
        return json_response(200, {"message": "User deleted successfully"})

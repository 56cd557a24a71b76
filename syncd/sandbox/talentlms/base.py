"""What every TalentLMS endpoint module shares: the store, the clock, JSON views of
objects and the lookups that answer the documented 400/404 errors."""

from __future__ import annotations

import hashlib
from typing import Any

from syncd.sandbox.clock import iso_offset
from syncd.sandbox.http import SimRequest
from syncd.sandbox.simulator import Simulator, SimulatorOptions
from syncd.sandbox.talentlms.envelopes import bad_request, not_found, positive_int
from syncd.sandbox.talentlms.store import Branch, Course, Group, Store, User


class TalentLMSOptions(SimulatorOptions):
    """TalentLMS-specific options (see docs/sandbox.md)."""

    api_keys: list[str] = ["sandbox-talentlms-key"]
    hourly_limit: int = 2000  # 2,000 or 10,000 by plan
    hourly_window: float = 3600.0
    burst_limit: int = 200  # 200 calls per 5 seconds
    burst_window: float = 5.0
    api_enabled: bool = True  # False: every call gets the documented 403
    batch_limit: int = 100
    max_page_size: int = 100
    default_page_size: int = 10


def _avatar(email: str) -> dict[str, str]:
    digest = hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()
    base = f"https://secure.gravatar.com/avatar/{digest}?rating=g&d=mp"
    sizes = {"default": 80, "sm": 80, "md": 300, "lg": 512, "xl": 1024}
    return {name: f"{base}&size={size}" for name, size in sizes.items()}


class TalentLMSBase(Simulator):
    """State and helpers; the endpoint mixins and the simulator extend it."""

    options: TalentLMSOptions
    store: Store

    def now(self) -> float:
        return self.clock.time()

    # ----- lookups that raise the documented errors -------------------------------------

    def user_from_path(self, req: SimRequest) -> User:
        user_id = positive_int(req.path_params.get("id"))
        if user_id is None:
            raise bad_request("User id is invalid")
        return self.user_by_id(user_id)

    def user_by_id(self, user_id: int) -> User:
        user = self.store.users.get(user_id)
        if user is None:
            raise not_found("user")
        return user

    def course_by_id(self, course_id: int) -> Course:
        course = self.store.courses.get(course_id)
        if course is None:
            raise not_found("course")
        return course

    def group_by_id(self, group_id: int) -> Group:
        group = self.store.groups.get(group_id)
        if group is None:
            raise not_found("group")
        return group

    def branch_by_id(self, branch_id: int) -> Branch:
        branch = self.store.branches.get(branch_id)
        if branch is None:
            raise not_found("branch")
        return branch

    # ----- JSON views -----------------------------------------------------------------

    def user_item(self, user: User) -> dict[str, Any]:
        """A user as ``GET /users`` lists it."""
        return {
            "id": user.id,
            "login": user.login,
            "name": user.name,
            "surname": user.surname,
            "email": user.email,
            "avatar": _avatar(user.email),
            "type": self.store.user_type_name(user.user_type_id),
            "registration": iso_offset(user.registration),
            "last_login": iso_offset(user.last_login) if user.last_login else None,
            "status": user.status,
        }

    def user_detail(self, user: User) -> dict[str, Any]:
        """A user as ``GET /users/:id`` returns it."""
        fields = self.store.user_fields
        return {
            "id": user.id,
            "login": user.login,
            "name": user.name,
            "surname": user.surname,
            "email": user.email,
            "credits": user.credits,
            "description": user.description,
            "avatar": _avatar(user.email),
            "custom_fields": [
                {
                    "id": fields[key].number,
                    "name": fields[key].name,
                    "value": value,
                    "type": fields[key].type,
                }
                for key, value in sorted(user.custom_fields.items(), key=lambda kv: kv[0])
                if key in fields and value != ""
            ],
            "email_notifications": user.email_notifications,
            "timezone": user.timezone,
            "locale": user.locale,
            "user_type": {
                "id": user.user_type_id,
                "name": self.store.user_type_name(user.user_type_id),
            },
            "status": user.status,
            "deactivation_date": user.deactivation_date,
            "available_types": [
                {"id": t.id, "name": t.name}
                for t in sorted(self.store.user_types.values(), key=lambda t: t.id)
            ],
        }

    def course_item(self, course: Course) -> dict[str, Any]:
        return {
            "id": course.id,
            "name": course.name,
            "category": course.category,
            "description": (
                {"html": course.description, "text": course.description}
                if course.description
                else None
            ),
            "code": course.code,
            "status": course.status,
            "creation_date": iso_offset(course.created),
            "last_updated_on": iso_offset(course.created),
            "price": {"amount": course.price, "currency": "USD"},
            "capacity": None,
            "is_hidden_from_catalog": False,
            "is_locked": False,
            "public_key": None,
            "is_prerequisite": False,
            "remaining_licenses": None,
        }

    def group_item(self, group: Group) -> dict[str, Any]:
        used = sum(1 for u in self.store.users.values() if group.id in u.groups)
        branch = self.store.branches.get(group.branch_id) if group.branch_id else None
        return {
            "id": group.id,
            "name": group.name,
            "description": group.description,
            "key_redemptions": {"max": group.max_key_redemptions, "used": used},
            "branch": {"id": branch.id, "name": branch.name} if branch else None,
            "price": {"amount": group.price or 0, "currency": "USD"},
        }

    def group_detail(self, group: Group) -> dict[str, Any]:
        branch = self.store.branches.get(group.branch_id) if group.branch_id else None
        return {
            "id": group.id,
            "name": group.name,
            "description": group.description,
            "branch": {"id": branch.id, "name": branch.name} if branch else None,
            "key": group.key,
            "max_key_redemptions": group.max_key_redemptions,
            "price": {"amount": group.price, "currency": "USD"} if group.price else None,
        }

    def branch_item(self, branch: Branch, host: str) -> dict[str, Any]:
        return {
            "id": branch.id,
            "name": branch.name,
            "url": f"{branch.name}-{host}",
            "description": branch.description,
            "active": branch.active,
        }

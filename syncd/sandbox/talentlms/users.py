"""TalentLMS users: list/filter, get (with ``resources``), create, update, delete, user fields."""

from __future__ import annotations

from typing import Any

from syncd.sandbox.http import SimRequest, SimResponse, empty_response, route
from syncd.sandbox.talentlms.base import TalentLMSBase
from syncd.sandbox.talentlms.envelopes import bad_request, data, errors, filters, listing
from syncd.sandbox.talentlms.store import ACTIVE, User
from syncd.sandbox.talentlms.validation import UserChanges, check_user

USER_FILTERS = ("email", "login", "custom_field_value")
RESOURCES = ("branches", "groups", "courses")


class UsersApi(TalentLMSBase):
    @route("GET", "/api/v2/users")
    def list_users(self, req: SimRequest) -> SimResponse:
        users = sorted(self.store.users.values(), key=lambda u: u.id)
        echoed: dict[str, dict[str, str]] = {}
        for field, (op, value) in filters(req).items():
            if field not in USER_FILTERS:
                continue
            if op != "eq":
                raise bad_request(f"Unsupported operator '{op}' for filter '{field}'")
            echoed[field] = {"eq": value}
            wanted = value.strip().lower()
            if field == "email":
                users = [u for u in users if u.email.lower() == wanted]
            elif field == "login":
                users = [u for u in users if u.login.lower() == wanted]
            else:
                users = [u for u in users if value in u.custom_fields.values()]
        return listing(
            req,
            [self.user_item(u) for u in users],
            max_size=self.options.max_page_size,
            default_size=self.options.default_page_size,
            filtered_by=echoed or None,
        )

    @route("GET", "/api/v2/users/{id}")
    def get_user(self, req: SimRequest) -> SimResponse:
        user = self.user_from_path(req)
        body = self.user_detail(user)
        wanted = {r.strip() for r in (req.arg("resources") or "").split(",") if r.strip()}
        if "all" in wanted:
            wanted = {*RESOURCES, "certificates"}
        if "branches" in wanted:
            body["branches"] = [
                {"id": b, "name": self.store.branches[b].name}
                for b in sorted(user.branches)
                if b in self.store.branches
            ]
        if "groups" in wanted:
            body["groups"] = [
                {"id": g, "name": self.store.groups[g].name}
                for g in sorted(user.groups)
                if g in self.store.groups
            ]
        if "courses" in wanted:
            body["courses"] = [
                {"id": c, "name": self.store.courses[c].name}
                for c in self.store.courses_of(user.id)
                if c in self.store.courses
            ]
        if "certificates" in wanted:
            body["certificates"] = [
                {"id": p.course_id, "name": self.store.courses[p.course_id].name}
                for (uid, _), p in sorted(self.store.progress.items())
                if uid == user.id
                and p.certificate is not None
                and p.course_id in self.store.courses
            ]
        return data(body)

    @route("POST", "/api/v2/users")
    def create_user(self, req: SimRequest) -> SimResponse:
        changes, problems = check_user(req.json(), self.store, creating=True)
        if problems or changes is None:
            return errors(400, *problems)
        user = self.new_user(changes)
        return data({"id": user.id})

    def new_user(self, changes: UserChanges) -> User:
        """Create a user from validated fields (also used by batch upserts)."""
        f = changes.fields
        user = User(
            id=self.store.next_id("user", self.store.users),
            login=f["login"],
            name=f["name"],
            surname=f["surname"],
            email=f["email"],
            registration=self.now(),
            status=changes.status or ACTIVE,
            user_type_id=f.get("user_type_id", 4),
            timezone=f.get("timezone", "UTC"),
            locale=f.get("locale", "en-US"),
            email_notifications=f.get("email_notifications", True),
            description=f.get("description"),
            credits=f.get("credits", 0),
            deactivation_date=f.get("deactivation_date"),
            has_password=changes.has_password,
            custom_fields={k: v for k, v in f.items() if k.startswith("custom_field_")},
        )
        return self.store.add_user(user)

    @route("PATCH", "/api/v2/users/{id}")
    def update_user(self, req: SimRequest) -> SimResponse:
        user = self.user_from_path(req)
        payload = req.json()
        changes, problems = check_user(payload, self.store, creating=False, user_id=user.id)
        if changes is not None and changes.status is None and not problems:
            problems.append(("bad_request", "Status is required"))
        if problems or changes is None:
            return errors(400, *problems)
        if (
            isinstance(payload, dict)
            and "deactivation_date" in payload
            and (payload["deactivation_date"] is None)
        ):
            changes.fields["deactivation_date"] = None
        self.apply_changes(user, changes)
        return empty_response(204)

    def apply_changes(self, user: User, changes: UserChanges) -> None:
        for key, value in changes.fields.items():
            if key.startswith("custom_field_"):
                user.custom_fields[key] = value
            elif hasattr(user, key):
                setattr(user, key, value)
        if changes.status is not None:
            user.status = changes.status
        if changes.has_password:
            user.has_password = True

    @route("DELETE", "/api/v2/users/{id}")
    def delete_user(self, req: SimRequest) -> SimResponse:
        user = self.user_from_path(req)
        self.store.delete_user(user.id)
        return empty_response(204)

    @route("GET", "/api/v2/user-fields")
    def list_user_fields(self, req: SimRequest) -> SimResponse:
        ordered = sorted(self.store.user_fields.values(), key=lambda f: f.order)
        items: list[dict[str, Any]] = []
        for index, uf in enumerate(ordered):
            items.append(
                {
                    "key": uf.key,
                    "type": uf.type,
                    "name": uf.name,
                    "mandatory": uf.mandatory,
                    "visible_on_reports": False,
                    "dropdown_values": uf.dropdown_values,
                    "checkbox_status": "off",
                    "selective_availability": False,
                    "branches_map": None,
                    "main_domain_availability": True,
                    "previous_key": ordered[index - 1].key if index else None,
                    "order": uf.order,
                }
            )
        return listing(
            req,
            items,
            max_size=self.options.max_page_size,
            default_size=self.options.default_page_size,
        )

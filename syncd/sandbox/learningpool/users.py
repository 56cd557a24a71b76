"""Sandbox Simple API users: list, get (by id or by the HR id), create, partial update,
deactivate by expiry and reactivate. None of these paths is Learning Pool's: its
public documents name no endpoint, so the sandbox serves these for the connector's
``endpoints:`` configuration to point at.

Being silent, the vendor leaves "already so" open; the sandbox is strict: the
deactivate action refuses an account already expired and the reactivate action one
without an expiry date (422), so an adapter must settle them by reading the account."""

from __future__ import annotations

from syncd.sandbox.http import SimRequest, SimResponse, json_response, route
from syncd.sandbox.learningpool.base import (
    API,
    LearningPoolBase,
    bad_request,
    invalid,
    json_object,
    not_found,
)
from syncd.sandbox.learningpool.store import LPUser
from syncd.sandbox.learningpool.validation import Errors, check_user

_STATUSES = ("active", "expired")


class UsersApi(LearningPoolBase):
    @route("GET", f"{API}/users")
    def list_users(self, req: SimRequest) -> SimResponse:
        users = sorted(self.store.users.values(), key=lambda u: u.id)
        now = self.now()
        for name in ("external_id", "username", "email"):
            wanted = req.arg(name)
            if wanted is not None:
                users = [
                    u for u in users if str(getattr(u, name) or "").casefold() == wanted.casefold()
                ]
        status = req.arg("status")
        if status is not None:
            if status not in _STATUSES:
                raise bad_request("status must be active or expired.")
            users = [u for u in users if u.expired(now) == (status == "expired")]
        return self.page(req, [self.user_view(u) for u in users])

    @route("GET", f"{API}/users/{{user_id}}")
    def get_user(self, req: SimRequest) -> SimResponse:
        return json_response(200, {"data": self.user_view(self.user_from_path(req))})

    @route("GET", f"{API}/users/external/{{hr_key}}")
    def get_user_by_external_id(self, req: SimRequest) -> SimResponse:
        user = self.store.user_by_external(req.path_params["hr_key"])
        if user is None:
            raise not_found("User")
        return json_response(200, {"data": self.user_view(user)})

    def _unique(self, values: dict[str, object], errors: Errors, user: LPUser | None) -> None:
        """Usernames and HR ids belong to one user each."""
        username = values.get("username")
        if isinstance(username, str):
            owner = self.store.user_by_username(username)
            if owner is not None and owner is not user:
                errors.setdefault("username", []).append("The username has already been taken.")
        external_id = values.get("external_id")
        if isinstance(external_id, str) and external_id:
            owner = self.store.user_by_external(external_id)
            if owner is not None and owner is not user:
                errors.setdefault("external_id", []).append(
                    "The external_id has already been taken."
                )

    @route("POST", f"{API}/users")
    def create_user(self, req: SimRequest) -> SimResponse:
        values, errors = check_user(json_object(req), creating=True)
        self._unique(values, errors, None)
        if errors:
            raise invalid(errors)
        now = self.now()
        user = LPUser(
            id=self.store.next_id("user", self.store.users, 10001),
            username="",
            email="",
            first_name="",
            last_name="",
            created_at=now,
            updated_at=now,
        )
        self._apply(user, values)
        self.store.users[user.id] = user
        response = json_response(201, {"data": self.user_view(user)})
        response.headers["Location"] = f"{req.url.rstrip('/')}/{user.id}"
        return response

    @route("PATCH", f"{API}/users/{{user_id}}")
    def update_user(self, req: SimRequest) -> SimResponse:
        user = self.user_from_path(req)
        values, errors = check_user(json_object(req), creating=False)
        self._unique(values, errors, user)
        if errors:
            raise invalid(errors)
        self._apply(user, values)
        return json_response(200, {"data": self.user_view(user)})

    def _apply(self, user: LPUser, values: dict[str, object]) -> None:
        for name, value in values.items():
            if name in ("language", "timezone") and value is None:
                continue  # the platform keeps its defaults
            setattr(user, name, value)
        user.updated_at = self.now()

    @route("POST", f"{API}/users/{{user_id}}/deactivate")
    def deactivate_user(self, req: SimRequest) -> SimResponse:
        """Expire the account (now, or at ``expires_at``): the login stops, data stays."""
        user = self.user_from_path(req)
        body = json_object(req, required=False)
        if user.expired(self.now()):
            raise invalid({"expires_at": ["The user has already expired."]})
        when = self.now()
        if body.get("expires_at") is not None:
            values, errors = check_user({"expires_at": body["expires_at"]}, creating=False)
            if errors:
                raise invalid(errors)
            when = float(values["expires_at"])
        user.expires_at = when
        user.updated_at = self.now()
        return json_response(200, {"data": self.user_view(user)})

    @route("POST", f"{API}/users/{{user_id}}/reactivate")
    def reactivate_user(self, req: SimRequest) -> SimResponse:
        """Clear the expiry date, so the account can sign in again."""
        user = self.user_from_path(req)
        if user.expires_at is None:
            raise invalid({"expires_at": ["The user has no expiry date."]})
        user.expires_at = None
        user.updated_at = self.now()
        return json_response(200, {"data": self.user_view(user)})

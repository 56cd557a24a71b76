"""What every HowNow endpoint module shares: options, error bodies, paging and JSON views."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from syncd.sandbox.clock import iso_z
from syncd.sandbox.hownow.store import Group, HowNowUser, Store
from syncd.sandbox.http import Reply, SimRequest, SimResponse, json_response
from syncd.sandbox.simulator import Simulator, SimulatorOptions

DEFAULT_CLIENT_ID = "sandbox-hownow-client"
DEFAULT_CLIENT_SECRET = "sandbox-hownow-secret"


class HowNowOptions(SimulatorOptions):
    """HowNow-specific options (see docs/sandbox.md)."""

    clients: dict[str, str] = {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET}
    token_lifetime: float = 3600.0
    per_minute: int = 50  # Essential 50, Pro 100
    minute_window: float = 60.0
    per_hour: int = 3000  # Essential 3,000, Pro 6,000
    hour_window: float = 3600.0
    seat_limit: int | None = None
    default_per_page: int = 20
    max_per_page: int = 100


def error(status: int, message: str) -> SimResponse:
    return json_response(status, {"error_message": message})


def not_found() -> Reply:
    return Reply(error(404, "Not found"))


def invalid_parameters() -> Reply:
    return Reply(error(400, "Invalid Parameters"))


def unprocessable(message: str) -> Reply:
    return Reply(json_response(422, {"errors": message}))


def _iso_ms(ts: float) -> str:
    """Groups use millisecond timestamps: ``2024-01-19T12:54:44.000Z``."""
    return iso_z(ts).replace("Z", ".000Z")


class HowNowBase(Simulator):
    """State and helpers; the endpoint mixins and the simulator extend it."""

    options: HowNowOptions
    store: Store

    def now(self) -> float:
        return self.clock.time()

    def page(
        self, req: SimRequest, items: Sequence[Any], filters: dict[str, Any] | None = None
    ) -> SimResponse:
        """``{"data": [...], "meta": {page, per_page, total_pages, total_count, filters}}``."""
        try:
            page = int(req.arg("page") or 1)
            per_page = int(req.arg("per_page") or self.options.default_per_page)
        except ValueError:
            raise invalid_parameters() from None
        if page < 1 or per_page < 1:
            raise invalid_parameters()
        per_page = min(per_page, self.options.max_per_page)
        chunk = list(items[(page - 1) * per_page : page * per_page])
        meta = {
            "page": page,
            "per_page": per_page,
            "total_pages": math.ceil(len(items) / per_page),
            "total_count": len(items),
            "filters": filters or {},
        }
        return json_response(200, {"data": chunk, "meta": meta})

    def user_from_path(self, req: SimRequest, key: str = "uid") -> HowNowUser:
        user = self.store.resolve_user(req.path_params.get(key))
        if user is None:
            raise not_found()
        return user

    # ----- JSON views -----------------------------------------------------------------

    @staticmethod
    def image(seed: int) -> dict[str, Any]:
        return {
            "url": f"https://avatars.sandbox.invalid/{seed % 10}.png",
            "uploaded": False,
            "backdrop_color_code": "#ffce00",
        }

    @staticmethod
    def avatar(user: HowNowUser) -> dict[str, Any]:
        """An uploaded avatar as the documents show one: a copy in HowNow's own file store
        (``users/avatars/000/065/728/thumbnail/avatar.png``), never the URL the upsert gave."""
        padded = f"{user.id:09d}"
        folder = "/".join(padded[i : i + 3] for i in range(0, 9, 3))
        return {
            "url": f"https://avatars.sandbox.invalid/users/avatars/{folder}/thumbnail/avatar.png",
            "uploaded": True,
            "backdrop_color_code": "",
        }

    def user_view(self, user: HowNowUser, *, detail: bool = False) -> dict[str, Any]:
        manager = self.store.users.get(user.manager_id) if user.manager_id else None
        role = self.store.job_roles.get(user.job_role_id) if user.job_role_id else None
        view: dict[str, Any] = {
            "id": user.id,
            "name": user.name,
            "external_user_id": user.external_user_id,
            "email": user.email,
            "status": user.status,
            "state": "enabled" if user.active else "disabled",
            "user_type": user.user_type,
            "created_at": iso_z(user.created_at),
            "joined_organisation_on": user.start_date,
            "last_signed_at": iso_z(user.last_signed_at) if user.last_signed_at else None,
            "last_active_at": iso_z(user.last_active_at) if user.last_active_at else None,
            "job_role": role.name if role else None,
            "manager": (
                {"id": manager.id, "name": manager.name, "image_details": self.image(manager.id)}
                if manager
                else None
            ),
            "group_count": sum(1 for g in self.store.groups.values() if user.id in g.members),
            "image_details": self.avatar(user) if user.avatar_url else self.image(user.id),
        }
        if detail:
            view["custom_fields"] = [
                {"name": k, "values": v} for k, v in sorted(user.custom_fields.items())
            ]
        return view

    def person(self, user_id: int | None) -> dict[str, Any]:
        """``{id, name, email, role}`` of an owner or author, ``{}`` when there is none."""
        user = self.store.users.get(user_id) if user_id else None
        if user is None:
            return {}
        return {"id": user.id, "name": user.name, "email": user.email, "role": user.user_type}

    def group_view(self, group: Group, *, detail: bool = False) -> dict[str, Any]:
        view: dict[str, Any] = {
            "id": group.id,
            "team_name": group.team_name,
            "created_at": _iso_ms(group.created_at),
            "updated_at": _iso_ms(group.created_at),
            "user_count": len(group.members),
            "owner": self.person(group.owner_id),
        }
        if detail:
            view["channels"] = group.channels
        else:
            view["channels_count"] = len(group.channels)
        return view

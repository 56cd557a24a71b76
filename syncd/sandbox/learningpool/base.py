"""What every sandbox Simple API module shares: options, error envelopes, paging and
the JSON views.

Learning Pool documents only the status codes of its errors (400, 401, 403, 404, 422,
500), not their bodies. The sandbox answers in the shape of a PHP (Laravel) API, which
the platform's PHP time zones hint at: ``{"message": ...}``, plus ``"errors": {field:
[messages]}`` on 422. That shape is the sandbox's choice, not the vendor's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal
from urllib.parse import urlencode

from pydantic import Field

from syncd.sandbox.http import Reply, SimRequest, SimResponse, json_response
from syncd.sandbox.learningpool.store import (
    Enrolment,
    LPCourse,
    LPGroup,
    LPUser,
    Store,
    iso,
)
from syncd.sandbox.simulator import Simulator, SimulatorOptions

DEFAULT_CLIENT_ID = "sandbox-lp-client"
DEFAULT_CLIENT_SECRET = "sandbox-lp-secret"

API = "/simple/v1"


class LearningPoolOptions(SimulatorOptions):
    """Learning Pool-specific options (see docs/sandbox-ilms-learningpool.md)."""

    clients: dict[str, str] = {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET}
    read_only_clients: list[str] = []
    token_path: str = Field("/oauth/token", pattern=r"^/[A-Za-z0-9._~/-]*$")
    token_bodies: list[Literal["form", "json"]] = Field(
        ["form", "json"], min_length=1, description="token request encodings accepted"
    )
    token_lifetime: float = Field(3600.0, gt=0, description="1 hour, as the seed says")
    per_minute: int = Field(60, ge=1, description="the sandbox's assumption: none is documented")
    minute_window: float = Field(60.0, gt=0)
    default_per_page: int = Field(50, ge=1)
    max_per_page: int = Field(100, ge=1)


def error(status: int, message: str) -> SimResponse:
    return json_response(status, {"message": message})


def not_found(what: str) -> Reply:
    return Reply(error(404, f"{what} not found."))


def bad_request(message: str) -> Reply:
    return Reply(error(400, message))


def invalid(errors: dict[str, list[str]]) -> Reply:
    first = next(iter(errors.values()))[0]
    more = sum(len(v) for v in errors.values()) - 1
    message = first if not more else f"{first} (and {more} more error{'s' * (more > 1)})"
    return Reply(json_response(422, {"message": message, "errors": errors}))


def json_object(req: SimRequest, *, required: bool = True) -> dict[str, Any]:
    """The request's JSON object body; an empty body is ``{}`` when not ``required``."""
    body = req.json()
    if body is None and not required:
        return {}
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    return body


class LearningPoolBase(Simulator):
    """State and helpers; the endpoint mixins and the simulator extend it."""

    options: LearningPoolOptions
    store: Store

    def now(self) -> float:
        return self.clock.time()

    def page(self, req: SimRequest, items: Sequence[Any]) -> SimResponse:
        """``{"data": [...], "links": {first, last, prev, next}, "meta": {...}}``.

        Pages are asked for with ``page`` (from 1) and ``per_page``, or with ``offset``
        (from 0) and ``limit``; an offset between two page starts is refused, so the
        links stay exact.
        """
        if req.arg("offset") is not None or req.arg("limit") is not None:
            return self._offset_page(req, items)
        try:
            page = int(req.arg("page") or 1)
            per_page = int(req.arg("per_page") or self.options.default_per_page)
        except ValueError:
            raise bad_request("page and per_page must be whole numbers.") from None
        if page < 1 or per_page < 1:
            raise bad_request("page and per_page must be 1 or more.")
        return self._page(req, items, page, per_page)

    def _offset_page(self, req: SimRequest, items: Sequence[Any]) -> SimResponse:
        try:
            offset = int(req.arg("offset") or 0)
            limit = int(req.arg("limit") or self.options.default_per_page)
        except ValueError:
            raise bad_request("offset and limit must be whole numbers.") from None
        if offset < 0 or limit < 1:
            raise bad_request("offset must be 0 or more and limit 1 or more.")
        limit = min(limit, self.options.max_per_page)
        if offset % limit:
            raise bad_request("offset must be a multiple of limit.")
        return self._page(req, items, offset // limit + 1, limit)

    def _page(self, req: SimRequest, items: Sequence[Any], page: int, per_page: int) -> SimResponse:
        per_page = min(per_page, self.options.max_per_page)
        last = max(1, math.ceil(len(items) / per_page))
        kept = [(k, v) for k, v in req.query if k not in ("page", "per_page", "offset", "limit")]

        def link(number: int) -> str:
            return f"{req.url}?{urlencode([*kept, ('page', number), ('per_page', per_page)])}"

        start = (page - 1) * per_page
        chunk = list(items[start : start + per_page])
        return json_response(
            200,
            {
                "data": chunk,
                "links": {
                    "first": link(1),
                    "last": link(last),
                    "prev": link(page - 1) if 1 < page <= last + 1 else None,
                    "next": link(page + 1) if page < last else None,
                },
                "meta": {
                    "current_page": page,
                    "per_page": per_page,
                    "from": start + 1 if chunk else None,
                    "to": start + len(chunk) if chunk else None,
                    "total": len(items),
                    "last_page": last,
                    "path": req.url,
                },
            },
        )

    # ----- lookups ------------------------------------------------------------------------

    def user_from_path(self, req: SimRequest) -> LPUser:
        user = self.store.user(req.path_params["user_id"])
        if user is None:
            raise not_found("User")
        return user

    def group_from_path(self, req: SimRequest) -> LPGroup:
        group = self.store.group(req.path_params["group_id"])
        if group is None:
            raise not_found("Group")
        return group

    def course_from_path(self, req: SimRequest) -> LPCourse:
        course = self.store.course(req.path_params["course_id"])
        if course is None:
            raise not_found("Learning experience")
        return course

    # ----- JSON views ---------------------------------------------------------------------

    def user_view(self, user: LPUser) -> dict[str, Any]:
        return {
            "id": user.id,
            "external_id": user.external_id,
            "username": user.username,
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "language": user.language,
            "timezone": user.timezone,
            "country": user.country,
            "function": user.function,
            "organisation_reference": user.organisation_reference,
            "expires_at": iso(user.expires_at),
            "status": "expired" if user.expired(self.now()) else "active",
            "created_at": iso(user.created_at),
            "updated_at": iso(user.updated_at),
        }

    @staticmethod
    def group_view(group: LPGroup) -> dict[str, Any]:
        return {
            "id": group.id,
            "name": group.name,
            "external_ref": group.external_ref,
            "description": group.description,
            "member_count": len(group.members),
            "created_at": iso(group.created_at),
        }

    @staticmethod
    def course_view(course: LPCourse) -> dict[str, Any]:
        return {"id": course.id, "external_id": course.external_id, "title": course.title}

    def enrolment_view(self, enrolment: Enrolment) -> dict[str, Any]:
        course = self.store.courses[enrolment.course_id]
        return {
            "id": enrolment.id,
            "user_id": enrolment.user_id,
            "course_id": course.id,
            "course_external_id": course.external_id,
            "status": enrolment.status,
            "progress": enrolment.progress,
            "score": enrolment.score,
            "enrolled_at": iso(enrolment.enrolled_at),
            "due_at": iso(enrolment.due_at),
            "completed_at": iso(enrolment.completed_at),
            "updated_at": iso(enrolment.updated_at),
        }

    def completion_view(self, enrolment: Enrolment) -> dict[str, Any]:
        user = self.store.users[enrolment.user_id]
        course = self.store.courses[enrolment.course_id]
        return {
            "id": enrolment.id,
            "user_id": user.id,
            "user_external_id": user.external_id,
            "username": user.username,
            "email": user.email,
            "course_id": course.id,
            "course_external_id": course.external_id,
            "course_title": course.title,
            "status": enrolment.status,
            "progress": enrolment.progress,
            "score": enrolment.score,
            "enrolled_at": iso(enrolment.enrolled_at),
            "completed_at": iso(enrolment.completed_at),
            "updated_at": iso(enrolment.updated_at),
        }

"""The HowNow External API simulator: OAuth client-credentials tokens that expire,
per-minute and per-hour limits, job status, default data and progress control calls."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from syncd.sandbox.clock import parse_iso
from syncd.sandbox.hownow.base import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    HowNowOptions,
    error,
)
from syncd.sandbox.hownow.catalog import CatalogApi
from syncd.sandbox.hownow.store import SeedError, Store
from syncd.sandbox.http import (
    BodyError,
    RouteSpec,
    SimRequest,
    SimResponse,
    control,
    json_response,
    route,
)
from syncd.sandbox.jobs import Job
from syncd.sandbox.ratelimit import Verdict, Window, retry_after_header

TOKEN_ROUTE = "issue_token"

DEFAULT_DATA: dict[str, Any] = {
    "custom_fields": ["location", "department"],
    "job_roles": [
        {"id": 9243, "external_id": "role_engineer", "name": "Software Engineer"},
        {"id": 9244, "external_id": "role_sales", "name": "Account Executive"},
    ],
    "users": [
        {
            "id": 300001,
            "external_user_id": "svc_admin",
            "name": "Sync Service Admin",
            "email": "svc-admin@example.com",
            "user_type": "Admin",
        },
    ],
    "groups": [
        {"id": 30749, "team_name": "Engineering Team", "owner": "EXT-svc_admin"},
        {"id": 30750, "team_name": "Sales Team"},
    ],
    "contents": [
        {
            "id": 184341,
            "external_id": "course_1",
            "title": "Information Security Basics",
            "content_type": "Course",
            "author": "EXT-svc_admin",
        },
        {
            "id": 184342,
            "external_id": "course_2",
            "title": "Code of Conduct",
            "content_type": "Nugget",
            "author": "EXT-svc_admin",
        },
        {
            "id": 184343,
            "external_id": "course_3",
            "title": "Sales Fundamentals",
            "content_type": "Course",
            "author": "EXT-svc_admin",
        },
    ],
}


@dataclass(slots=True)
class Token:
    client_id: str
    expires_at: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class HowNowSimulator(CatalogApi):
    """HowNow under ``{base_url}/token`` and ``{base_url}/external/v1``."""

    name: ClassVar[str] = "hownow"
    options_model = HowNowOptions
    tokens: dict[str, Token]

    # ----- tokens and authentication ------------------------------------------------

    def authenticate(self, req: SimRequest, route: RouteSpec) -> str | SimResponse:
        if route.handler == TOKEN_ROUTE:
            return self._client_credentials(req)
        header = req.header("authorization") or ""
        scheme, _, value = header.partition(" ")
        token = self.tokens.get(value.strip()) if scheme.lower() == "bearer" else None
        if token is None or token.expires_at <= self.now():
            return error(401, "Not authorized")
        acting = req.header("x-user-id")
        if acting:
            user = self.store.resolve_user(acting, allow_email=True)
            if user is None or not user.active:
                return error(401, "Not authorized")
        return token.client_id

    def _client_credentials(self, req: SimRequest) -> str | SimResponse:
        try:
            form = req.form()
        except BodyError:
            form = {}
        content_type = (req.header("content-type") or "").split(";")[0].strip().lower()
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if (
            content_type != "application/x-www-form-urlencoded"
            or form.get("grant_type") != "client_credentials"
            or not client_id
            or not secret
        ):
            return json_response(400, {"error": "invalid_request"})
        if self.options.clients.get(client_id) != secret:
            return json_response(401, {"error": "invalid_client"})
        return client_id

    @route("POST", "/token")
    def issue_token(self, req: SimRequest) -> SimResponse:
        lifetime = self.faults.settings.token_lifetime or self.options.token_lifetime
        now = self.now()
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = {
            "sub": req.credential,
            "iat": int(now),
            "exp": int(now + lifetime),
            "jti": f"{self.rng.getrandbits(64):016x}",
        }
        signature = _b64(self.rng.getrandbits(256).to_bytes(32, "big"))
        token = f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"
        self.tokens = {k: t for k, t in self.tokens.items() if t.expires_at > now}
        self.tokens[token] = Token(str(req.credential), now + lifetime)
        return json_response(
            200,
            {"access_token": token, "expires_in": max(1, round(lifetime)), "token_type": "Bearer"},
        )

    # ----- hooks ----------------------------------------------------------------------

    def rate_limit_windows(self) -> list[Window]:
        return [
            Window("minute", self.options.per_minute, self.options.minute_window),
            Window("hour", self.options.per_hour, self.options.hour_window),
        ]

    def too_many_requests(self, verdict: Verdict | None, retry_after: int | None) -> SimResponse:
        response = error(429, "Too Many Requests")
        if retry_after is not None:
            response.headers["Retry-After"] = retry_after_header(retry_after)
        return response

    def server_error(self, status: int) -> SimResponse:
        return error(status, "Something went wrong")

    def bad_body(self, req: SimRequest, problem: str) -> SimResponse:
        return error(400, "Invalid Parameters")

    def route_not_found(self, req: SimRequest) -> SimResponse:
        return error(404, "Not Found")

    def method_not_allowed(self, req: SimRequest) -> SimResponse:
        return error(405, "Method Not Allowed")

    # ----- jobs -----------------------------------------------------------------------

    @route("GET", "/external/v1/jobs/{job_id}/status")
    def job_status(self, req: SimRequest) -> SimResponse:
        job = self.jobs.get(req.path_params["job_id"])
        if job is None:
            return error(404, "Not found")
        return json_response(200, self.job_view(job))

    @staticmethod
    def job_view(job: Job) -> dict[str, Any]:
        if not job.done:
            return {"status": "in_progress", "errors": None}
        if job.state == "failed":
            return {"status": "failed", "errors": "Job failed (sandbox fault job_fail)"}
        failures = [e for _, r in job.item_errors for e in r.errors]
        if failures:
            return {"status": "failed", "errors": ", ".join(str(e) for e in failures)}
        warnings = [w for _, r in job.item_warnings for w in r.warnings]
        if warnings:
            return {
                "status": "completed_with_warnings",
                "errors": ", ".join(str(w) for w in warnings),
            }
        return {"status": "completed", "errors": None}

    # ----- data -----------------------------------------------------------------------

    def clear_state(self) -> None:
        self.store = Store()
        self.tokens = {}

    def default_data(self) -> dict[str, Any]:
        return DEFAULT_DATA

    def load(self, data: Mapping[str, Any]) -> dict[str, Any]:
        backup = copy.deepcopy(self.store)  # a seed applies whole or not at all
        try:
            return self.store.load(data, self.now())
        except (KeyError, TypeError, ValueError) as exc:
            self.store = backup
            detail = str(exc) if isinstance(exc, SeedError) else f"bad seed entry: {exc!r}"
            raise SeedError(detail) from None

    def dump_state(self) -> dict[str, Any]:
        state = self.store.dump()
        now = self.now()
        state["tokens"] = {
            "issued": len(self.tokens),
            "valid": sum(1 for t in self.tokens.values() if t.expires_at > now),
        }
        state["job_status"] = {job.id: self.job_view(job) for job in self.jobs.all()}
        return state

    def describe(self, base_url: str) -> str:
        if self.options.clients == {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET}:
            hint = f"client_id {DEFAULT_CLIENT_ID}, client_secret {DEFAULT_CLIENT_SECRET}"
        else:
            hint = "custom client credentials"
        return f"{base_url}  ({hint})"

    # ----- control calls --------------------------------------------------------------

    @control("POST", "/expire-tokens")
    def control_expire_tokens(self, req: SimRequest) -> SimResponse:
        """Expire every issued token now (what a token reaching its hour looks like)."""
        now = self.now()
        for token in self.tokens.values():
            token.expires_at = min(token.expires_at, now)
        return json_response(200, {"expired": len(self.tokens)})

    def _control_user_content(self, req: SimRequest) -> tuple[Any, Any, dict[str, Any]]:
        body = req.json()
        if not isinstance(body, dict):
            return None, None, {}
        user = self.store.resolve_user(str(body.get("user", "")), bare_is_external=True)
        content = self.store.content_by_ref(body.get("content"))
        return user, content, body

    @control("POST", "/progress")
    def control_progress(self, req: SimRequest) -> SimResponse:
        """Assign ``content`` to ``user`` if needed and set ``progress`` (100 completes it);
        ``status`` and ``completed_at`` optional."""
        user, content, body = self._control_user_content(req)
        if user is None or content is None:
            return json_response(404, {"error": "user and content must name a user and content"})
        progress = body.get("progress", 0)
        if not isinstance(progress, int) or not 0 <= progress <= 100:
            return json_response(400, {"error": "progress must be 0-100"})
        completed_at = parse_iso(body["completed_at"]) if body.get("completed_at") else None
        assignment = self.store.set_progress(
            user,
            content,
            progress,
            self.now(),
            status=body.get("status"),
            completed_at=completed_at,
        )
        return json_response(200, {"status": assignment.status, "progress": assignment.progress})

    @control("POST", "/sign-in")
    def control_sign_in(self, req: SimRequest) -> SimResponse:
        """Record a sign-in for ``user`` (an invited user becomes Active)."""
        user, _, _ = self._control_user_content(req)
        if user is None:
            return json_response(404, {"error": "user must name a user"})
        user.last_signed_at = user.last_active_at = self.now()
        return json_response(200, {"status": user.status})

    # ----- Python API for tests and the demo --------------------------------------------

    def set_progress(self, user: str, content: str, progress: int) -> None:
        """Set ``user`` (``EXT-…``/``ID-…``) progress on ``content`` (hownow_id or external id)."""
        with self.lock:
            found_user = self.store.resolve_user(user, bare_is_external=True)
            found_content = self.store.content_by_ref(content)
            if found_user is None or found_content is None:
                raise KeyError(f"no user {user!r} or content {content!r}")
            self.store.set_progress(found_user, found_content, progress, self.now())

    def expire_tokens(self) -> None:
        with self.lock:
            for token in self.tokens.values():
                token.expires_at = min(token.expires_at, self.now())

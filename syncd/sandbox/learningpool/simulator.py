"""The Learning Pool simulator: the OAuth 2.0 client-credentials token the seed documents
(1-hour tokens; renew on 401) at a configurable token path, and the sandbox's own
Simple API paths (the vendor publishes none) with a per-minute limit it does not
document either (the sandbox's assumption)."""

from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from syncd.sandbox.clock import Clock
from syncd.sandbox.http import (
    BodyError,
    Router,
    RouteSpec,
    SimRequest,
    SimResponse,
    control,
    json_response,
    route,
)
from syncd.sandbox.learningpool.base import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    LearningPoolOptions,
    error,
)
from syncd.sandbox.learningpool.learning import LearningApi
from syncd.sandbox.learningpool.store import SeedError, Store, parse_ts
from syncd.sandbox.ratelimit import Verdict, Window, retry_after_header
from syncd.sandbox.simulator import SimulatorOptions

TOKEN_HANDLER = "issue_token"

DEFAULT_DATA: dict[str, Any] = {
    "courses": [
        {"id": 501, "external_id": "LX-SEC-101", "title": "Information Security Basics"},
        {"id": 502, "external_id": "LX-COC-201", "title": "Code of Conduct"},
        {"id": 503, "external_id": "LX-SAL-301", "title": "Sales Fundamentals"},
    ],
    "groups": [
        {"id": 201, "name": "Engineering", "external_ref": "ENG"},
        {"id": 202, "name": "Sales", "external_ref": "SALES"},
        {"id": 203, "name": "All Staff", "external_ref": "ALL"},
    ],
}


@dataclass(slots=True)
class Token:
    client_id: str
    expires_at: float


def _oauth_error(status: int, code: str, description: str) -> SimResponse:
    """RFC 6749 section 5.2 error body, as OAuth token endpoints answer."""
    return json_response(status, {"error": code, "error_description": description})


def _path_route(spec: RouteSpec, path: str) -> RouteSpec:
    """``spec`` served at the literal ``path`` instead of its declared template."""
    pattern = re.compile("^" + re.escape(path.rstrip("/") or "/") + "/?$")
    return dataclasses.replace(spec, template=path, pattern=pattern)


class LearningPoolSimulator(LearningApi):
    """Learning Pool's token at ``{base_url}{token_path}`` and ``{base_url}/simple/v1/...``."""

    name: ClassVar[str] = "learningpool"
    options_model = LearningPoolOptions
    tokens: dict[str, Token]

    def __init__(
        self,
        options: Mapping[str, Any] | SimulatorOptions | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(options, clock=clock)
        # The token path is configuration (the seed does not name it): serve it where asked.
        self._api = Router(
            _path_route(r, self.options.token_path) if r.handler == TOKEN_HANDLER else r
            for r in self._routes
            if r.kind == "api"
        )

    def api_endpoints(self) -> list[str]:
        return sorted(
            f"POST {self.options.token_path}" if r.handler == TOKEN_HANDLER else r.endpoint
            for r in self._routes
            if r.kind == "api"
        )

    # ----- tokens and authentication ------------------------------------------------

    def authenticate(self, req: SimRequest, route: RouteSpec) -> str | SimResponse:
        if route.handler == TOKEN_HANDLER:
            return self._client_credentials(req)
        header = req.header("authorization") or ""
        scheme, _, value = header.partition(" ")
        token = self.tokens.get(value.strip()) if scheme.lower() == "bearer" else None
        if token is None or token.expires_at <= self.now():
            return error(401, "Unauthenticated.")
        if req.method != "GET" and token.client_id in self.options.read_only_clients:
            return error(403, "This action is unauthorized.")
        return token.client_id

    def _client_credentials(self, req: SimRequest) -> str | SimResponse:
        """Form-encoded or JSON ``grant_type``/``client_id``/``client_secret``, or the
        client in an HTTP Basic header (RFC 6749 section 2.3.1)."""
        media = (req.header("content-type") or "").split(";")[0].strip().lower()
        encoding = {"application/json": "json", "application/x-www-form-urlencoded": "form"}
        if encoding.get(media) not in self.options.token_bodies:
            wanted = " or ".join(self.options.token_bodies)
            return _oauth_error(400, "invalid_request", f"The token request must be {wanted}.")
        params: dict[str, Any] = {}
        try:
            if media == "application/json":
                body = req.json()
                params = body if isinstance(body, dict) else {}
            elif media == "application/x-www-form-urlencoded":
                params = dict(req.form())
        except BodyError:
            return _oauth_error(400, "invalid_request", "The request body cannot be read.")
        client_id, secret = params.get("client_id"), params.get("client_secret")
        scheme, _, encoded = (req.header("authorization") or "").partition(" ")
        if scheme.lower() == "basic" and not client_id:
            try:
                client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return _oauth_error(401, "invalid_client", "Client authentication failed.")
        if not params.get("grant_type") or not client_id or not secret:
            return _oauth_error(
                400,
                "invalid_request",
                "grant_type, client_id and client_secret are required.",
            )
        if params["grant_type"] != "client_credentials":
            return _oauth_error(
                400, "unsupported_grant_type", "Only client_credentials is supported."
            )
        if self.options.clients.get(str(client_id)) != secret:
            return _oauth_error(401, "invalid_client", "Client authentication failed.")
        return str(client_id)

    @route("POST", "/oauth/token")
    def issue_token(self, req: SimRequest) -> SimResponse:
        lifetime = self.faults.settings.token_lifetime or self.options.token_lifetime
        now = self.now()
        value = f"lp_{self.rng.getrandbits(192):048x}"
        self.tokens = {k: t for k, t in self.tokens.items() if t.expires_at > now}
        self.tokens[value] = Token(str(req.credential), now + lifetime)
        return json_response(
            200,
            {"token_type": "Bearer", "expires_in": max(1, round(lifetime)), "access_token": value},
        )

    # ----- hooks ----------------------------------------------------------------------

    def rate_limit_windows(self) -> list[Window]:
        return [Window("minute", self.options.per_minute, self.options.minute_window)]

    def rate_limit_headers(self, verdict: Verdict) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.options.per_minute),
            "X-RateLimit-Remaining": str(verdict.remaining.get("minute", 0)),
        }

    def too_many_requests(self, verdict: Verdict | None, retry_after: int | None) -> SimResponse:
        response = error(429, "Too Many Attempts.")
        wait = verdict.retry_after if verdict is not None else retry_after
        if wait is not None:
            response.headers["Retry-After"] = retry_after_header(wait)
        return response

    def server_error(self, status: int) -> SimResponse:
        return error(status, "Server Error")

    def bad_body(self, req: SimRequest, problem: str) -> SimResponse:
        return error(400, "The request body is not valid JSON.")

    def route_not_found(self, req: SimRequest) -> SimResponse:
        return error(404, "Not found.")

    def method_not_allowed(self, req: SimRequest) -> SimResponse:
        return error(405, f"The {req.method} method is not supported for this route.")

    # ----- data -------------------------------------------------------------------------

    def clear_state(self) -> None:
        self.store = Store()
        self.tokens = {}

    def default_data(self) -> dict[str, Any]:
        return DEFAULT_DATA

    def load(self, data: Mapping[str, Any]) -> dict[str, Any]:
        backup = copy.deepcopy(self.store)  # a seed applies whole or not at all
        try:
            return self.store.load(data, self.now())
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            self.store = backup
            detail = str(exc) if isinstance(exc, SeedError) else f"bad seed entry: {exc!r}"
            raise SeedError(detail) from None

    def dump_state(self) -> dict[str, Any]:
        now = self.now()
        state = self.store.dump(now)
        state["tokens"] = {
            "issued": len(self.tokens),
            "valid": sum(1 for t in self.tokens.values() if t.expires_at > now),
        }
        return state

    def describe(self, base_url: str) -> str:
        if self.options.clients == {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET}:
            hint = f"client_id {DEFAULT_CLIENT_ID}, client_secret {DEFAULT_CLIENT_SECRET}"
        else:
            hint = "custom client credentials"
        return f"{base_url}  (token {self.options.token_path}, API /simple/v1; {hint})"

    # ----- control calls --------------------------------------------------------------

    @control("POST", "/expire-tokens")
    def control_expire_tokens(self, req: SimRequest) -> SimResponse:
        """Every issued token expires now (what a token reaching its hour looks like)."""
        return json_response(200, {"expired": self.expire_tokens()})

    @control("POST", "/complete")
    def control_complete(self, req: SimRequest) -> SimResponse:
        """``{"user_id", "course_id", "progress"?, "score"?, "completed_at"?}``: the learner's
        progress (100 by default, which completes), enrolling first if needed."""
        body = req.json()
        if not isinstance(body, dict):
            return json_response(400, {"error": "body must be a JSON object"})
        user = self.store.user(body.get("user_id"))
        course = self.store.course(body.get("course_id"))
        if user is None or course is None:
            return json_response(
                404, {"error": "user_id and course_id must name a user and a course"}
            )
        progress, score = body.get("progress", 100), body.get("score")
        for name, value in (("progress", progress), ("score", score)):
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100
            ):
                return json_response(400, {"error": f"{name} must be a whole number 0-100"})
        try:
            completed_at = parse_ts(body.get("completed_at"))
        except SeedError as exc:
            return json_response(400, {"error": str(exc)})
        enrolment, _ = self.store.enrol(user, course, self.now())
        self.store.set_progress(
            enrolment, progress, self.now(), score=score, completed_at=completed_at
        )
        return json_response(200, {"data": self.enrolment_view(enrolment)})

    # ----- Python API for tests and the demo --------------------------------------------

    def complete(
        self,
        user_id: int,
        course_id: int | str,
        *,
        score: int | None = None,
        progress: int = 100,
        completed_at: float | None = None,
    ) -> dict[str, Any]:
        """Set a learner's progress on a course (100 completes it), enrolling if needed."""
        with self.lock:
            user, course = self.store.user(user_id), self.store.course(course_id)
            if user is None or course is None:
                raise KeyError(f"no user {user_id!r} or course {course_id!r}")
            enrolment, _ = self.store.enrol(user, course, self.now())
            self.store.set_progress(
                enrolment, progress, self.now(), score=score, completed_at=completed_at
            )
            return self.enrolment_view(enrolment)

    def expire_tokens(self) -> int:
        """Expire every issued token now; returns how many there were."""
        with self.lock:
            now = self.now()
            for token in self.tokens.values():
                token.expires_at = min(token.expires_at, now)
            return len(self.tokens)

"""The base every vendor simulator extends: one lock, one pipeline, one control surface.

A request goes through the same steps for every vendor: advance jobs, route,
injected faults, authentication, rate limits, the vendor's handler, rate-limit
headers, then the request log and counters. A vendor module supplies only its
routes (``@route``), its hooks (authentication, limit windows, error bodies) and
its data (``clear_state``, ``load``, ``dump``, ``default_data``).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from syncd.sandbox.clock import Clock
from syncd.sandbox.faults import FaultError, FaultInjector, RequestFault
from syncd.sandbox.http import (
    BodyError,
    Reply,
    Router,
    RouteSpec,
    SimRequest,
    SimResponse,
    collect_routes,
    json_response,
)
from syncd.sandbox.jobs import JobRegistry
from syncd.sandbox.ratelimit import SlidingWindowLimiter, Verdict, Window
from syncd.sandbox.recorder import DROPPED, Counters, RequestLog

log = structlog.get_logger(__name__)


class OptionsError(ValueError):
    """Simulator options that cannot be used; the message names the key."""


class SimulatorOptions(BaseModel):
    """Options every simulator takes; vendor modules subclass this with their own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(0, description="seed of the random generator (ids, fault draws)")
    job_duration: float = Field(2.0, ge=0, description="seconds an async job/task takes")
    defaults: bool = Field(True, description="start with the vendor's default data set")
    rate_limits: bool = Field(True, description="enforce the vendor's documented limits")
    request_log_size: int = Field(10_000, ge=1)
    faults: dict[str, Any] = Field(default_factory=dict, description="fault settings at start")


@dataclass(frozen=True, slots=True)
class Handled:
    """A simulator's answer: ``response`` None means close the connection unanswered."""

    response: SimResponse | None
    latency: float = 0.0
    trickle: float = 0.0  # seconds between the bytes of the body


def validate_options(model: type[SimulatorOptions], options: Mapping[str, Any]) -> SimulatorOptions:
    try:
        return model.model_validate(dict(options))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise OptionsError(problems) from None


def scripted_answer(status: int, body: Any, request_body: bytes) -> SimResponse:
    """An ``answer`` fault: ``body`` as JSON, a string as it is, ``{request_body}`` in a
    string replaced by what the client sent (a vendor that echoes the request)."""
    echoed = request_body.decode("utf-8", "replace")

    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace("{request_body}", echoed)
        if isinstance(value, list):
            return [fill(item) for item in value]
        if isinstance(value, dict):
            return {key: fill(item) for key, item in value.items()}
        return value

    if isinstance(body, str):
        raw = fill(body).encode("utf-8")
        return SimResponse(status, raw, {"content-type": "application/json"})
    return json_response(status, fill(body))


class Simulator:
    """One vendor's API. Subclasses set ``name``, ``options_model`` and declare routes."""

    name: ClassVar[str] = ""
    options_model: ClassVar[type[SimulatorOptions]] = SimulatorOptions
    _routes: ClassVar[list[RouteSpec]] = []

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._routes = collect_routes(cls)

    def __init__(
        self,
        options: Mapping[str, Any] | SimulatorOptions | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        if isinstance(options, SimulatorOptions):
            self.options = options
        else:
            self.options = validate_options(self.options_model, options or {})
        self.clock = clock or Clock()
        self.lock = threading.RLock()
        self.rng = random.Random(self.options.seed)
        self.faults = self._start_up_faults()
        self.jobs = JobRegistry(self.clock)
        self.limiter = SlidingWindowLimiter(self.rate_limit_windows(), self.clock)
        self.log = RequestLog(self.options.request_log_size)
        self.counters = Counters()
        self._api = Router(r for r in self._routes if r.kind == "api")
        self._control = Router(r for r in self._routes if r.kind == "control")
        self.reset()

    def _start_up_faults(self) -> FaultInjector:
        """A fault injector with the start-up settings and a freshly seeded generator."""
        injector = FaultInjector(self.clock, random.Random(self.options.seed + 1))
        try:
            injector.update(self.options.faults)
        except FaultError as exc:
            raise OptionsError(f"faults: {exc}") from None
        return injector

    # ----- hooks a vendor module overrides -------------------------------------------

    def rate_limit_windows(self) -> list[Window]:
        """The limits each credential gets (none by default)."""
        return []

    def authenticate(self, req: SimRequest, route: RouteSpec) -> str | SimResponse:
        """The credential the request is charged to, or the vendor's auth error."""
        return "anonymous"

    def rate_limit_headers(self, verdict: Verdict) -> dict[str, str]:
        """Headers the vendor documents on every answer (none by default)."""
        return {}

    def too_many_requests(self, verdict: Verdict | None, retry_after: int | None) -> SimResponse:
        return json_response(429, {"error": "Too Many Requests"})

    def server_error(self, status: int) -> SimResponse:
        return json_response(status, {"error": "Internal Server Error"})

    def bad_body(self, req: SimRequest, problem: str) -> SimResponse:
        return json_response(400, {"error": problem})

    def refusal(self, status: int, message: str, code: str | None) -> SimResponse:
        """A refusal the fault ``refuse_next`` forces, in the vendor's error shape."""
        return json_response(status, {"error": message})

    def route_not_found(self, req: SimRequest) -> SimResponse:
        return json_response(404, {"error": "Not Found"})

    def method_not_allowed(self, req: SimRequest) -> SimResponse:
        return json_response(405, {"error": "Method Not Allowed"})

    def clear_state(self) -> None:
        """Forget every vendor object (users, courses ...)."""

    def default_data(self) -> dict[str, Any]:
        """The seed document loaded at start and on reset when ``defaults`` is on."""
        return {}

    def load(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Add the objects of a seed document; returns what was added (counts, ids)."""
        if data:
            raise OptionsError(f"{self.name} cannot be seeded")
        return {}

    def dump_state(self) -> dict[str, Any]:
        """Every vendor object, as plain JSON (never a password or a token)."""
        return {}

    # ----- public Python API (thread-safe) -----------------------------------------------

    def reset(self) -> None:
        """Back to the start-up state: default data, start-up faults, empty logs."""
        with self.lock:
            self.clear_state()
            self.jobs.clear()
            self.limiter.reset()
            self.log.clear()
            self.counters.clear()
            self.rng.seed(self.options.seed)
            self.faults = self._start_up_faults()
            if self.options.defaults:
                self.load(self.default_data())

    def seed(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Add (or with ``{"replace": true}`` replace) vendor objects."""
        with self.lock:
            self.jobs.advance()
            data = dict(data)
            if data.pop("replace", False):
                self.clear_state()
            return self.load(data)

    def dump(self) -> dict[str, Any]:
        with self.lock:
            self.jobs.advance()
            state = self.dump_state()
            state["jobs"] = [job.summary(self.clock.time()) for job in self.jobs.all()]
            return state

    def set_faults(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        with self.lock:
            return self.faults.update(changes)

    def requests(self, since: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [r.as_dict() for r in self.log.records(since, limit)]

    def counts(self) -> dict[str, dict[str, int]]:
        with self.lock:
            return self.counters.snapshot()

    def count(self, endpoint: str | None = None, status: int | str | None = None) -> int:
        """Requests seen for ``endpoint`` ("GET /api/v2/users") with ``status`` (None = any)."""
        with self.lock:
            return self.counters.count(endpoint, status)

    def advance(self) -> None:
        """Let due jobs progress now (requests do this on their own)."""
        with self.lock:
            self.jobs.advance()

    # ----- the request pipeline -------------------------------------------------------

    def handle(self, req: SimRequest) -> Handled:
        """Answer one vendor API request."""
        started = time.perf_counter()
        with self.lock:
            self.jobs.advance()
            match = self._api.match(req.method, req.path)
            req.path_params = match.params
            fault = self.faults.decide(req.path, req.method)
            response = self._answer(req, match.route, match.method_allowed, fault)
            status: int | str = DROPPED if response is None else response.status
            endpoint = match.route.endpoint if match.route else None
            self.counters.add(endpoint, status)
            self.log.add(
                now=self.clock.time(),
                method=req.method,
                path=req.path,
                query="&".join(f"{k}={v}" for k, v in req.query),
                endpoint=endpoint,
                status=status,
                fault=fault.kind,
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
            )
        log.debug(
            "sandbox_request",
            vendor=self.name,
            method=req.method,
            endpoint=endpoint,
            status=status,
            fault=fault.kind,
        )
        return Handled(response, fault.latency, fault.trickle)

    def _answer(
        self, req: SimRequest, route: RouteSpec | None, method_allowed: bool, fault: RequestFault
    ) -> SimResponse | None:
        if fault.kind == "drop" and not fault.after_processing:
            return None
        if fault.kind == "storm":
            return self.too_many_requests(None, fault.retry_after)
        if fault.kind == "error":
            return self.server_error(fault.status)
        if fault.kind == "refuse":
            return self.refusal(fault.status, fault.message, fault.code)
        if fault.kind == "answer":
            return scripted_answer(fault.status, fault.body, req.body)
        response = self._serve(req, route, method_allowed)
        return None if fault.kind == "drop" else response

    def _serve(self, req: SimRequest, route: RouteSpec | None, method_allowed: bool) -> SimResponse:
        if route is None:
            return self.route_not_found(req) if method_allowed else self.method_not_allowed(req)
        verdict: Verdict | None = None
        if route.auth:
            credential = self.authenticate(req, route)
            if isinstance(credential, SimResponse):
                return credential
            req.credential = credential
            if self.options.rate_limits and self.limiter.windows:
                verdict = self.limiter.hit(credential)
                if not verdict.allowed:
                    response = self.too_many_requests(verdict, None)
                    response.headers.update(self.rate_limit_headers(verdict))
                    return response
        try:
            response = getattr(self, route.handler)(req)
        except Reply as reply:
            response = reply.response
        except BodyError as exc:
            response = self.bad_body(req, str(exc))
        except Exception:  # a simulator bug must not take the server down
            log.exception("sandbox_handler_failed", vendor=self.name, endpoint=route.endpoint)
            response = self.server_error(500)
        if verdict is not None:
            response.headers.update(self.rate_limit_headers(verdict))
        return response

    # ----- vendor-specific control endpoints ------------------------------------------

    def handle_control(self, req: SimRequest) -> SimResponse:
        """Answer ``/_sandbox/{vendor}/...`` requests declared with ``@control``."""
        with self.lock:
            self.jobs.advance()
            match = self._control.match(req.method, req.path)
            if match.route is None:
                status = 404 if match.method_allowed else 405
                return json_response(
                    status, {"error": f"no control endpoint {req.method} {req.path}"}
                )
            req.path_params = match.params
            try:
                return getattr(self, match.route.handler)(req)
            except Reply as reply:
                return reply.response
            except (BodyError, OptionsError) as exc:
                return json_response(400, {"error": str(exc)})

    def control_endpoints(self) -> list[str]:
        return sorted(r.endpoint for r in self._routes if r.kind == "control")

    def api_endpoints(self) -> list[str]:
        return sorted(r.endpoint for r in self._routes if r.kind == "api")

    def describe(self, base_url: str) -> str:
        """One line for ``syncd sandbox`` to print: base URL and how to sign in."""
        return base_url

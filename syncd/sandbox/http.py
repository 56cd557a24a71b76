"""The plain request/response values simulators work on, and their path router.

Simulators never see Starlette objects: the app turns each HTTP request into a
``SimRequest`` and each ``SimResponse`` back into bytes. That keeps vendor modules
small, synchronous (they run under one lock) and testable without a server.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl


class BodyError(ValueError):
    """The request body is not what the endpoint can read (bad JSON, bad form)."""


@dataclass(slots=True)
class SimRequest:
    """One request, as the vendor sees it: the path is relative to the vendor's base URL."""

    method: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    base_url: str = ""
    path_params: dict[str, str] = field(default_factory=dict)
    credential: str | None = None

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter ``name``."""
        for key, value in self.query:
            if key == name:
                return value
        return default

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        """The JSON body; an empty body reads as None."""
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise BodyError("body is not valid JSON") from exc

    def form(self) -> dict[str, str]:
        """The ``application/x-www-form-urlencoded`` body (last value wins)."""
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BodyError("form body is not UTF-8") from exc
        return dict(parse_qsl(text, keep_blank_values=True))

    @property
    def url(self) -> str:
        """The request's full public URL without its query string."""
        return f"{self.base_url}{self.path}"


@dataclass(slots=True)
class SimResponse:
    """What a simulator answers. ``body`` None means an empty body."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> tuple[bytes, str | None]:
        """The wire body and its media type."""
        if self.body is None:
            return b"", None
        if isinstance(self.body, bytes):
            return self.body, self.headers.get("content-type", "application/octet-stream")
        return json.dumps(self.body).encode("utf-8"), "application/json"


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> SimResponse:
    return SimResponse(status, body, dict(headers or {}))


def empty_response(status: int = 204) -> SimResponse:
    return SimResponse(status, None)


class Reply(Exception):
    """Raised by a handler to answer early (validation failures, not-found)."""

    def __init__(self, response: SimResponse) -> None:
        super().__init__(response.status)
        self.response = response


Handler = Callable[[Any, SimRequest], SimResponse]

_ROUTE_ATTR = "_sandbox_routes"


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """One endpoint: method, path template and the simulator method that serves it."""

    method: str
    template: str
    handler: str
    kind: str  # "api" (vendor API under the base URL) or "control" (under /_sandbox/{vendor})
    auth: bool = True
    pattern: re.Pattern[str] = field(compare=False, default=re.compile(""))

    @property
    def endpoint(self) -> str:
        """How counters and the request log name this endpoint."""
        return f"{self.method} {self.template}"


def _compile(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[a-zA-Z_][a-zA-Z0-9_]*\})", template.rstrip("/") or "/")
    regex = "".join(
        f"(?P<{part[1:-1]}>[^/]+)" if part.startswith("{") else re.escape(part) for part in parts
    )
    return re.compile(f"^{regex}/?$")


def _decorator(kind: str, method: str, template: str, auth: bool) -> Callable[[Handler], Handler]:
    def mark(func: Handler) -> Handler:
        specs = list(getattr(func, _ROUTE_ATTR, []))
        specs.append((kind, method.upper(), template, auth))
        setattr(func, _ROUTE_ATTR, specs)
        return func

    return mark


def route(method: str, template: str, *, auth: bool = True) -> Callable[[Handler], Handler]:
    """Declare a vendor API endpoint on a simulator method (stackable)."""
    return _decorator("api", method, template, auth)


def control(method: str, template: str) -> Callable[[Handler], Handler]:
    """Declare a vendor-specific control endpoint under ``/_sandbox/{vendor}``."""
    return _decorator("control", method, template, False)


def collect_routes(cls: type) -> list[RouteSpec]:
    """Every route declared on ``cls`` and its bases (subclass definitions win)."""
    seen: set[str] = set()
    specs: list[RouteSpec] = []
    for klass in cls.__mro__:
        for name, member in vars(klass).items():
            if name in seen:
                continue
            seen.add(name)
            for kind, method, template, auth in getattr(member, _ROUTE_ATTR, []):
                specs.append(RouteSpec(method, template, name, kind, auth, _compile(template)))
    return specs


@dataclass(slots=True)
class Match:
    route: RouteSpec | None
    params: dict[str, str]
    method_allowed: bool = True


class Router:
    """Matches a method and a vendor-relative path to a route (a trailing slash is optional)."""

    def __init__(self, routes: Iterable[RouteSpec]) -> None:
        # Literal segments first, so "/users/upsert" wins over "/users/{id}".
        self._routes = sorted(routes, key=lambda r: (r.template.count("{"), -len(r.template)))

    def match(self, method: str, path: str) -> Match:
        path_matched = False
        for spec in self._routes:
            found = spec.pattern.match(path)
            if not found:
                continue
            path_matched = True
            if spec.method == method or (method == "HEAD" and spec.method == "GET"):
                return Match(spec, dict(found.groupdict()))
        return Match(None, {}, method_allowed=not path_matched)

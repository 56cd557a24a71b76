"""The configured Learning Pool endpoints, and how one is called.

Learning Pool publishes no path for its Simple API, so every call goes to the
method and path the connector's ``target.endpoints`` names, never to a path of
syncd's own. An operation whose endpoint is missing, or whose path lacks a value
the call needs, is a configuration problem: ``EndpointMissing`` says exactly
which key to set.

Identifiers are sent two ways at once, so one adapter fits both shapes an API
may take: in the path when the template has the placeholder (``{user_id}``,
``{group_id}``, ``{course_id}``, ``{hr_key}``), and in the JSON body
(``user_id``, ``course_id``) of writes whose path lacks them
(``POST /enrolments`` with ``{"user_id", "course_id"}``).
"""

from __future__ import annotations

import string
from collections.abc import Collection, Mapping
from typing import Any

import httpx

from syncd.config.schema.targets import Endpoint, LearningPoolEndpoints
from syncd.http import VendorClient, VendorError
from syncd.limits import Priority

PURPOSE = {
    "users_list": "list users (filtered by a field) to find existing accounts",
    "user_get": "read one user",
    "user_create": "create users",
    "user_update": "update users",
    "user_deactivate": "deactivate users (set their expiry date)",
    "user_reactivate": "reactivate users (clear their expiry date)",
    "groups_list": "list groups",
    "group_member_add": "add group members",
    "group_member_remove": "remove group members",
    "enrolment_create": "enrol users on learning experiences",
    "completions_list": "read completions",
}


class EndpointMissing(VendorError):
    """An operation needs an endpoint (or a placeholder in one) that is not configured."""

    def __init__(self, name: str, detail: str | None = None) -> None:
        what = PURPOSE.get(name, name)
        message = detail or (
            f"target.endpoints.{name} is not configured, so syncd cannot {what} in "
            "Learning Pool; set it to the method and path your platform documents "
            "(e.g. {method: POST, path: /...})"
        )
        super().__init__(message)
        self.name = name


def placeholders(path: str) -> frozenset[str]:
    return frozenset(name for _, name, _, _ in string.Formatter().parse(path) if name)


def _id_value(value: Any) -> Any:
    """Numeric ids travel as JSON numbers, anything else as text."""
    text = str(value).strip()
    return int(text) if text.isdigit() else text


class Endpoints:
    """``target.endpoints`` with the one way syncd calls them."""

    def __init__(self, config: LearningPoolEndpoints, client: VendorClient) -> None:
        self._config = config
        self._client = client

    def has(self, name: str) -> bool:
        return getattr(self._config, name, None) is not None

    def get(self, name: str) -> Endpoint:
        endpoint = getattr(self._config, name, None)
        if endpoint is None:
            raise EndpointMissing(name)
        return endpoint

    def uses(self, name: str, placeholder: str) -> bool:
        return self.has(name) and placeholder in placeholders(self.get(name).path)

    def call(
        self,
        name: str,
        *,
        ids: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        body_ids: Collection[str] = (),
        priority: Priority | None = None,
        idempotent: bool | None = None,
        accept: Collection[int] = (),
    ) -> httpx.Response:
        """Call endpoint ``name``; ``ids`` fill its placeholders, ``body_ids`` go in the body too.

        ``body_ids`` names the ids to put in the JSON body when the path does not
        carry them (a POST-style membership or enrolment). GET and DELETE send no body.
        """
        endpoint = self.get(name)
        ids = dict(ids or {})
        wanted = placeholders(endpoint.path)
        lacking = sorted(wanted - {k for k, v in ids.items() if v not in (None, "")})
        if lacking:
            offered = ", ".join(f"{{{k}}}" for k in sorted(ids)) or "none"
            raise EndpointMissing(
                name,
                f"target.endpoints.{name}.path {endpoint.path!r} uses "
                f"{', '.join(f'{{{k}}}' for k in lacking)}, which this call cannot fill "
                f"(it knows {offered}); change the path",
            )
        payload: dict[str, Any] | None = None
        if endpoint.method not in ("GET", "DELETE"):
            payload = dict(body or {})
            for key in body_ids:
                if key not in wanted and ids.get(key) not in (None, ""):
                    payload.setdefault(key, _id_value(ids[key]))
        return self._client.request(
            endpoint.method,
            endpoint.path,
            path_params={k: ids[k] for k in wanted},
            params=params,
            json=payload,
            priority=priority,
            idempotent=idempotent,
            accept=accept,
        )

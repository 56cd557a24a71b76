"""The ``target`` settings for syncd's own Learning Pool sandbox — not Learning Pool's.

Learning Pool's public document names no Simple API path, paging, filter, token
encoding or deactivation method. These are what this sandbox serves
(docs/sandbox-ilms-learningpool.md), for ``syncd demo``, the examples and the tests.
A real platform needs what its Learning Pool account manager gives; the adapter has no
default of its own and never falls back to these.
"""

from __future__ import annotations

from typing import Any

from syncd.sandbox.learningpool.base import API, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from syncd.sandbox.learningpool.validation import MAX_LENGTH, READ_ONLY, REQUIRED, WRITABLE

SANDBOX_ENDPOINTS: dict[str, dict[str, Any]] = {
    "users_list": {
        "method": "GET",
        "path": f"{API}/users",
        "filters": {"external_id": "external_id", "username": "username", "email": "email"},
    },
    "user_get": {"method": "GET", "path": f"{API}/users/{{user_id}}"},
    "user_create": {"method": "POST", "path": f"{API}/users"},
    "user_update": {"method": "PATCH", "path": f"{API}/users/{{user_id}}"},
    "user_deactivate": {"method": "POST", "path": f"{API}/users/{{user_id}}/deactivate"},
    "user_reactivate": {"method": "POST", "path": f"{API}/users/{{user_id}}/reactivate"},
    "groups_list": {"method": "GET", "path": f"{API}/groups"},
    "group_members_list": {"method": "GET", "path": f"{API}/groups/{{group_id}}/members"},
    "group_member_add": {"method": "PUT", "path": f"{API}/groups/{{group_id}}/members/{{user_id}}"},
    "group_member_remove": {
        "method": "DELETE",
        "path": f"{API}/groups/{{group_id}}/members/{{user_id}}",
    },
    "user_enrolments_list": {"method": "GET", "path": f"{API}/users/{{user_id}}/enrolments"},
    "enrolment_create": {
        "method": "PUT",
        "path": f"{API}/courses/{{course_id}}/enrolments/{{user_id}}",
    },
    "completions_list": {
        "method": "GET",
        "path": f"{API}/completions",
        "since_param": "since",
    },
    "in_progress_list": {"method": "GET", "path": f"{API}/progress", "since_param": "since"},
}
"""Sandbox paths, ready to paste into a configuration that points at the sandbox."""

SANDBOX_CLIENT = {"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}
"""The sandbox's default client credentials (not secret: they only open the simulator)."""

SANDBOX_PAGING: dict[str, Any] = {
    "style": "page",
    "page_param": "page",
    "size_param": "per_page",
    "page_size": 100,  # the sandbox's largest page
}

SANDBOX_RECORDS: dict[str, Any] = {
    "envelope": "data",
    "listing": {
        "next_link": "links.next",
        "current_page": "meta.current_page",
        "last_page": "meta.last_page",
        "total": "meta.total",
    },
    "user": {
        "id": "id",
        "unique": ["username", "email"],
        "hr_id": "external_id",
        # What the sandbox's users take and check (validation.py), told to syncd as the
        # customer would: the expiry is written by deactivation only.
        "writable": [name for name in WRITABLE if name != "expires_at"],
        "required": list(REQUIRED),
        "read_only": list(READ_ONLY),
        "max_length": dict(MAX_LENGTH),
        "formats": {
            "username": "no_spaces",
            "email": "email",
            "timezone": "time_zone",
            "country": "country",
            "language": "language",
        },
    },
    "group": {"id": "id", "name": "name", "external_ref": "external_ref"},
    "member_user_id": "id",  # a group's members are listed as user records
    "enrolment_course": ["course_id", "course_external_id"],
    "result": {
        "id": "id",
        "user_id": "user_id",
        "course_id": ["course_id", "course_external_id"],
        "updated_at": "updated_at",
        "status": "status",
        "completed_at": "completed_at",
        "progress": "progress",
        "score": "score",
        "course_title": "course_title",
        "keep": ["id", "user_external_id", "course_external_id", "enrolled_at"],
    },
}
"""The sandbox's answers: records wrapped in ``data``, its field names and rules."""

SANDBOX_TARGET: dict[str, Any] = {
    **SANDBOX_CLIENT,
    "token_path": "/oauth/token",
    "token_encoding": "form",  # the sandbox takes JSON too
    "paging": SANDBOX_PAGING,
    "deactivation": {"method": "expiry", "field": "expires_at"},
    "endpoints": SANDBOX_ENDPOINTS,
    "records": SANDBOX_RECORDS,
}
"""Everything a ``learningpool`` target needs besides ``base_url``, as this sandbox serves it."""

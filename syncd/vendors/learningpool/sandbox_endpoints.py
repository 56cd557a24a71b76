"""The ``target.endpoints`` block for syncd's own Learning Pool sandbox — not Learning Pool's.

Learning Pool's public document names no Simple API path. These are the paths the
built-in sandbox serves (docs/sandbox-ilms-learningpool.md), for ``syncd demo`` and
the tests. A real platform needs the paths its Learning Pool account manager gives;
the adapter never falls back to these.
"""

from __future__ import annotations

from typing import Any

SANDBOX_ENDPOINTS: dict[str, dict[str, Any]] = {
    "users_list": {"method": "GET", "path": "/simple/v1/users"},
    "user_get": {"method": "GET", "path": "/simple/v1/users/{user_id}"},
    "user_create": {"method": "POST", "path": "/simple/v1/users"},
    "user_update": {"method": "PATCH", "path": "/simple/v1/users/{user_id}"},
    "user_deactivate": {"method": "POST", "path": "/simple/v1/users/{user_id}/deactivate"},
    "user_reactivate": {"method": "POST", "path": "/simple/v1/users/{user_id}/reactivate"},
    "groups_list": {"method": "GET", "path": "/simple/v1/groups"},
    "group_member_add": {"method": "PUT", "path": "/simple/v1/groups/{group_id}/members/{user_id}"},
    "group_member_remove": {
        "method": "DELETE",
        "path": "/simple/v1/groups/{group_id}/members/{user_id}",
    },
    "enrolment_create": {
        "method": "PUT",
        "path": "/simple/v1/courses/{course_id}/enrolments/{user_id}",
    },
    "completions_list": {
        "method": "GET",
        "path": "/simple/v1/completions",
        "since_param": "since",
    },
}
"""Sandbox paths, ready to paste into a configuration that points at the sandbox."""

SANDBOX_CLIENT = {"client_id": "sandbox-lp-client", "client_secret": "sandbox-lp-secret"}
"""The sandbox's default client credentials (not secret: they only open the simulator)."""

"""The ``target.endpoints`` block for syncd's own Learning Pool sandbox — not Learning Pool's.

Learning Pool's public document names no Simple API path. These are the paths this
sandbox serves (docs/sandbox-ilms-learningpool.md), for ``syncd demo`` and the tests.
A real platform needs the paths its Learning Pool account manager gives; the adapter
never falls back to these.
"""

from __future__ import annotations

from typing import Any

from syncd.sandbox.learningpool.base import API, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

SANDBOX_ENDPOINTS: dict[str, dict[str, Any]] = {
    "users_list": {"method": "GET", "path": f"{API}/users"},
    "user_get": {"method": "GET", "path": f"{API}/users/{{user_id}}"},
    "user_create": {"method": "POST", "path": f"{API}/users"},
    "user_update": {"method": "PATCH", "path": f"{API}/users/{{user_id}}"},
    "user_deactivate": {"method": "POST", "path": f"{API}/users/{{user_id}}/deactivate"},
    "user_reactivate": {"method": "POST", "path": f"{API}/users/{{user_id}}/reactivate"},
    "groups_list": {"method": "GET", "path": f"{API}/groups"},
    "group_member_add": {"method": "PUT", "path": f"{API}/groups/{{group_id}}/members/{{user_id}}"},
    "group_member_remove": {
        "method": "DELETE",
        "path": f"{API}/groups/{{group_id}}/members/{{user_id}}",
    },
    "enrolment_create": {
        "method": "PUT",
        "path": f"{API}/courses/{{course_id}}/enrolments/{{user_id}}",
    },
    "completions_list": {
        "method": "GET",
        "path": f"{API}/completions",
        "since_param": "since",
    },
}
"""Sandbox paths, ready to paste into a configuration that points at the sandbox."""

SANDBOX_CLIENT = {"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}
"""The sandbox's default client credentials (not secret: they only open the simulator)."""

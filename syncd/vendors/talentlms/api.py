"""TalentLMS API v2 wire conventions: paths, the list envelope, paging and error reading.

The digest's quirks live here so the rest of the adapter never meets them:
``_links.next`` cannot end a loop (it points at the page itself on the last
page), ``total_items`` counts one page while ``total_results`` counts all, the
default page size is 10, and the same concept ("already so") hides behind
several error ids and titles.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from syncd.http import (
    RecordRejected,
    StaticHeaderAuth,
    UnreachableError,
    VendorClient,
    json_payload,
    vendor_message,
    whole_number,
)
from syncd.limits import Priority

VENDOR = "talentlms"
API = "/api/v2"
PAGE_SIZE = 100  # the documented maximum; the default (10) would cost ten times the calls

USERS = f"{API}/users"
USER = f"{API}/users/{{id}}"
USER_FIELDS = f"{API}/user-fields"
BATCH_USERS = f"{API}/batch/users"
BATCH_ENROLLMENTS = f"{API}/batch/enrollments"
TASK = f"{API}/tasks/{{id}}"

PORTAL_REFUSALS = {
    403: "the API is not enabled for this domain, or the domain is inactive (TalentLMS API v2, "
    "'Authentication'); enable the API in the portal's settings or renew the portal"
}
"""A 403 refuses the portal, never one record: it is the document's only meaning for it."""
GROUPS = f"{API}/groups"
BRANCHES = f"{API}/branches"
GROUP_MEMBERSHIPS = f"{API}/group-memberships/"  # the documented trailing slash
BRANCH_USERS = f"{API}/branch-users"
ENROLLMENTS = f"{API}/enrollments"
LEARNING_PATH_ENROLLMENTS = f"{API}/learning-paths/enrollments"
COURSE_PROGRESS = f"{API}/course-progress"
TIMELINE = f"{API}/timeline"


def talentlms_auth(api_key: str, api_version: str) -> StaticHeaderAuth:
    """TalentLMS API v2: ``X-API-Key``, a pinned ``X-API-Version``, ``Accept: application/json``."""
    return StaticHeaderAuth(
        {"X-API-Key": api_key, "X-API-Version": api_version, "Accept": "application/json"},
        secret_headers=["X-API-Key"],
    )


def refused_in_body(response: httpx.Response) -> bool:
    """Whether an answer carries the ``_errors`` envelope (digest §2), whatever its status:
    a 200 holding ``_errors`` did not do what was asked, and says why."""
    try:
        payload = response.json() if response.content else None
    except (ValueError, RecursionError):
        return False
    return isinstance(payload, dict) and bool(payload.get("_errors"))


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list answer, with the totals that (unlike ``_links``) can be trusted."""

    number: int
    items: list[dict[str, Any]]
    total_pages: int | None
    total_results: int | None


def body_of(response: httpx.Response, call: str) -> dict[str, Any]:
    """The JSON object of a 2xx answer; a vendor answering anything else is unusable."""
    payload = json_payload(response, f"talentlms {call}", empty={})
    if not isinstance(payload, dict):
        raise UnreachableError(f"talentlms {call}: the answer is not a JSON object")
    return payload


def data_of(response: httpx.Response, call: str) -> Any:
    """``_data`` of an answer (``None`` when absent)."""
    return body_of(response, call).get("_data")


def read_page(
    client: VendorClient,
    template: str,
    number: int,
    *,
    params: Mapping[str, Any] | None = None,
    priority: Priority | None = None,
    size: int = PAGE_SIZE,
) -> Page:
    """One page of a list endpoint, always asking for ``size`` items."""
    query = {**dict(params or {}), "page[number]": number, "page[size]": size}
    response = client.get(template, params=query, priority=priority)
    body = body_of(response, f"GET {template}")
    items = body.get("_data")
    if not isinstance(items, list):
        raise UnreachableError(f"talentlms GET {template}: the answer carries no _data list")
    meta = body.get("_meta")
    pagination = meta.get("pagination") if isinstance(meta, dict) else None
    pagination = pagination if isinstance(pagination, dict) else {}
    return Page(
        number=number,
        items=[item for item in items if isinstance(item, dict)],
        total_pages=whole_number(pagination.get("total_pages")),
        total_results=whole_number(pagination.get("total_results")),
    )


def iter_pages(
    client: VendorClient,
    template: str,
    *,
    params: Mapping[str, Any] | None = None,
    priority: Priority | None = None,
    size: int = PAGE_SIZE,
    first: Page | None = None,
) -> Iterator[Page]:
    """Every page, numbered by us: stop at ``total_pages``, a short page or an empty one.

    The iteration count is capped by ``ceil(total_results / size) + 1`` so a vendor
    whose totals disagree with its pages cannot keep us reading forever.
    """
    page = first or read_page(client, template, 1, params=params, priority=priority, size=size)
    cap = None
    if page.total_results is not None:
        cap = math.ceil(page.total_results / size) + 1
    while True:
        yield page
        if not page.items or len(page.items) < size:
            return
        if page.total_pages is not None and page.number >= page.total_pages:
            return
        if cap is not None and page.number >= cap:
            return
        page = read_page(
            client, template, page.number + 1, params=params, priority=priority, size=size
        )


# ---------------------------------------------------------------------------------------------
# Errors and conflicts

_PERMANENT_WORDS = (
    "archived",
    "no longer",
    "not longer",
    "not available",
    "part of a learning path",
)
_REMOVED_WORDS = ("not a member", "not in group", "not enrolled", "not in the group")


def conflict_means_done(title: str, *, removing: bool) -> bool:
    """Whether a 409's words say "already so" rather than a refusal.

    Only for a write no documented read can confirm (learning paths, digest §8.6):
    every other membership and enrollment is settled by reading the account. The
    generic ``conflict`` id carries several meanings told apart only by the title
    (digest §11 #10): "already …" is success, "archived user" is a refusal. Unknown
    titles are refusals: reporting one failure too many is safer than recording an
    enrollment that does not exist.
    """
    text = title.lower()
    if any(word in text for word in _PERMANENT_WORDS):
        return False
    if removing:
        return any(word in text for word in _REMOVED_WORDS)
    return "already" in text


@dataclass(frozen=True, slots=True)
class Answer:
    """A membership or enrollment write's answer: a success, or the refusal in its words."""

    status: int
    message: str  # the vendor's title ("" for a success)
    code: str | None  # the vendor's error id (``conflict.user_not_in_group``)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def send_relation(
    client: VendorClient,
    method: str,
    path: str,
    body: Mapping[str, Any],
    *,
    readable: bool = True,
) -> Answer:
    """One membership or enrollment write, its refusals (409 or another 4xx) as an Answer.

    A write whose state can be read is sent once: a lost answer raises
    ``OutcomeUnknown``, for the state to be read before it is sent again
    (``syncd.vendors.settle``). One that cannot be read (``readable=False``: learning
    paths) is sent again by the client, the only way left to learn its fate.
    """
    try:
        response = client.request(
            method, path, json=dict(body), idempotent=not readable, priority=Priority.WRITE
        )
    except RecordRejected as error:
        return Answer(error.status, error.message, error.code)
    if response.status_code < 300:
        return Answer(response.status_code, "", None)
    title, code = vendor_message(response, client.secrets())
    return Answer(response.status_code, title, code)


def is_not_found(code: str | None, what: str) -> bool:
    """``not_found.user_not_found`` and friends (404 bodies name which side is missing)."""
    return code == f"not_found.{what}_not_found"

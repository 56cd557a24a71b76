"""Learning Pool wire conventions: the answer envelope, list paging and refusal reasons.

The public document says nothing of bodies, so these follow the sandbox (a Laravel
style API, which the platform's PHP time zones hint at) and stay tolerant:

- a record comes as ``{"data": {...}}`` or bare;
- a list as ``{"data": [...], "links": {"next"}, "meta": {"current_page", "last_page",
  "total"}}`` or as a bare JSON list; pages are asked for with ``page`` and
  ``per_page`` and the end is found from ``links.next``, ``meta`` or a short page,
  whichever the answer carries, so an API without these cannot loop forever;
- a refusal as ``{"message", "errors": {field: [messages]}}``, read into one reason per
  field so a person can fix the HR record.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from syncd.http import (
    ClientCredentialsAuth,
    UnreachableError,
    excerpt,
    json_payload,
    vendor_message,
    whole_number,
)
from syncd.limits import Priority
from syncd.vendors.learningpool.endpoints import Endpoints

VENDOR = "learningpool"
PAGE_SIZE = 100  # the sandbox's maximum; fewer calls than its default of 50
PAGE_PARAM = "page"
SIZE_PARAM = "per_page"


def learningpool_auth(
    base_url: str,
    client_id: str,
    client_secret: str,
    token_path: str = "/oauth/token",
    body: Literal["form", "json"] = "form",
    **options: Any,
) -> ClientCredentialsAuth:
    """Learning Pool Simple API: client credentials at a configurable token path."""
    return ClientCredentialsAuth(
        f"{base_url.rstrip('/')}{token_path}",
        client_id,
        client_secret,
        name="learningpool",
        token_path=token_path,
        client_auth="post",
        body=body,
        **options,
    )


def record_of(response: httpx.Response, call: str) -> dict[str, Any]:
    """The record of a 2xx answer (``data`` or the bare object); ``{}`` for an empty answer."""
    payload = json_payload(response, f"{VENDOR} {call}")
    if isinstance(payload, Mapping) and isinstance(payload.get("data"), Mapping):
        return dict(payload["data"])
    return dict(payload) if isinstance(payload, Mapping) else {}


@dataclass(frozen=True, slots=True)
class Page:
    number: int
    items: list[dict[str, Any]]
    has_more: bool
    total: int | None


def read_page(
    endpoints: Endpoints,
    name: str,
    number: int,
    *,
    params: Mapping[str, Any] | None = None,
    priority: Priority = Priority.READ,
) -> Page:
    """Page ``number`` of list endpoint ``name``, ``PAGE_SIZE`` items asked for."""
    query = {**dict(params or {}), PAGE_PARAM: number, SIZE_PARAM: PAGE_SIZE}
    response = endpoints.call(name, params=query, priority=priority)
    call = f"GET {endpoints.get(name).path}"
    payload = json_payload(response, f"{VENDOR} {call}")
    if isinstance(payload, list):
        items, links, meta = payload, {}, {}
    elif isinstance(payload, Mapping) and isinstance(payload.get("data"), list):
        items = payload["data"]
        links = payload.get("links") if isinstance(payload.get("links"), Mapping) else {}
        meta = payload.get("meta") if isinstance(payload.get("meta"), Mapping) else {}
    else:
        raise UnreachableError(f"{VENDOR} {call}: the answer carries no list of records")
    records = [dict(item) for item in items if isinstance(item, Mapping)]
    current = whole_number(meta.get("current_page")) or number
    last = whole_number(meta.get("last_page"))
    if "next" in links:
        has_more = bool(links.get("next"))
    elif last is not None:
        has_more = current < last
    else:
        has_more = len(records) >= PAGE_SIZE
    return Page(number, records, has_more and bool(records), whole_number(meta.get("total")))


def iter_pages(
    endpoints: Endpoints,
    name: str,
    *,
    params: Mapping[str, Any] | None = None,
    priority: Priority = Priority.READ,
    first: Page | None = None,
) -> Iterator[Page]:
    """Every page; capped by ``total`` so totals that disagree with pages cannot loop forever."""
    page = first or read_page(endpoints, name, 1, params=params, priority=priority)
    cap = -(-page.total // PAGE_SIZE) + 1 if page.total is not None else None
    while True:
        yield page
        if not page.has_more or (cap is not None and page.number >= cap):
            return
        page = read_page(endpoints, name, page.number + 1, params=params, priority=priority)


# ---------------------------------------------------------------------------------------------
# Refusals


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why Learning Pool refused a write: the reason to record, and the fields it names."""

    status: int
    reason: str
    fields: dict[str, list[str]]

    def mentions(self, field: str, *words: str) -> bool:
        texts = [t.lower() for t in self.fields.get(field, [])]
        return any(word in text for text in texts for word in words)


def refusal(response: httpx.Response, secrets: list[str]) -> Refusal:
    """The per-field reasons of a 4xx answer (``errors``), else its ``message``."""
    try:
        payload = json.loads(response.content) if response.content else None
    except ValueError:
        payload = None
    fields: dict[str, list[str]] = {}
    errors = payload.get("errors") if isinstance(payload, Mapping) else None
    if isinstance(errors, Mapping):
        for name, value in errors.items():
            texts = [value] if isinstance(value, str) else value if isinstance(value, list) else []
            fields[str(name)] = [str(text) for text in texts if str(text).strip()]
    if fields:
        parts = [f"{name}: {' '.join(texts)}" for name, texts in fields.items() if texts]
        reason = excerpt("; ".join(parts), secrets)
    else:
        reason, _ = vendor_message(response, secrets)
    return Refusal(response.status_code, f"{reason} (HTTP {response.status_code})", fields)

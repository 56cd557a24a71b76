"""TalentLMS v2 envelopes: ``_data``/``_links``/``_meta``/``_errors``, paging and filters.

Paging follows the examples exactly, quirks included: ``page[size]`` defaults to
10, ``prev`` on page 1 and ``next`` on the last page point at the page itself, and
``_meta.pagination.total_items`` counts the items of this page while
``total_results`` counts them all.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from syncd.sandbox.http import Reply, SimRequest, SimResponse, json_response

_FILTER = re.compile(r"^filter\[([a-z_]+)\](?:\[([a-z]+)\])?$")
_PLACEHOLDER = re.compile(r"^<[^<>]*>$")


def errors(status: int, *problems: tuple[str, str]) -> SimResponse:
    return json_response(status, {"_errors": [{"id": i, "title": t} for i, t in problems]})


def bad_request(title: str) -> Reply:
    return Reply(errors(400, ("bad_request", title)))


def not_found(what: str) -> Reply:
    """``not_found.user_not_found`` / "User not found" and friends."""
    return Reply(errors(404, (f"not_found.{what}_not_found", f"{what.capitalize()} not found")))


def conflict(error_id: str, title: str) -> Reply:
    return Reply(errors(409, (error_id, title)))


def data(payload: Any, status: int = 200) -> SimResponse:
    return json_response(status, {"_data": payload})


def is_placeholder(value: Any) -> bool:
    """Postman template values such as ``"<null|string>"``: the documented create example
    sends them and succeeds, so they count as "not given"."""
    return isinstance(value, str) and bool(_PLACEHOLDER.match(value))


def positive_int(value: Any) -> int | None:
    """An id given as an integer or a string of digits; None when it is not a positive one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.isdigit() and int(value) > 0:
        return int(value)
    return None


def require_id(value: Any, title: str) -> int:
    found = positive_int(value)
    if found is None:
        raise bad_request(title)
    return found


def filters(req: SimRequest) -> dict[str, tuple[str, str]]:
    """``filter[field][op]=v`` (and the shorthand ``filter[field]=v``) as field -> (op, value)."""
    found: dict[str, tuple[str, str]] = {}
    for key, value in req.query:
        match = _FILTER.match(key)
        if match:
            found[match.group(1)] = (match.group(2) or "eq", value)
    return found


def _page_params(req: SimRequest, max_size: int, default_size: int) -> tuple[int, int]:
    number_text = req.arg("page[number]", "1") or "1"
    size_text = req.arg("page[size]", str(default_size)) or str(default_size)
    number, size = positive_int(number_text), positive_int(size_text)
    if number is None:
        raise bad_request("Page number must be a positive integer")
    if size is None:
        raise bad_request("Page size must be a positive integer")
    return number, min(size, max_size)


def listing(
    req: SimRequest,
    items: Sequence[Any],
    *,
    max_size: int = 100,
    default_size: int = 10,
    filtered_by: dict[str, dict[str, str]] | None = None,
    link_path: str | None = None,
) -> SimResponse:
    """One page of ``items`` in the list envelope; ``link_path`` overrides the path in links."""
    number, size = _page_params(req, max_size, default_size)
    total = len(items)
    pages = max(1, math.ceil(total / size))
    page_items = list(items[(number - 1) * size : number * size])
    kept = [(k, v) for k, v in req.query if k.startswith("filter[")]
    # The server echoes filters in their canonical [eq] form.
    echoed = []
    for key, value in kept:
        match = _FILTER.match(key)
        if match:
            echoed.append((f"filter[{match.group(1)}][{match.group(2) or 'eq'}]", value))
    base = f"{req.base_url}{link_path or req.path}"

    def link(page: int) -> str:
        query = [f"{k}={quote(v, safe='@:+,')}" for k, v in echoed]
        query += [f"page[number]={page}", f"page[size]={size}"]
        return f"{base}?{'&'.join(query)}"

    meta: dict[str, Any] = {}
    if filtered_by:
        meta["filtered_by"] = filtered_by
    meta["pagination"] = {
        "page": number,
        "page_size": size,
        "total_items": len(page_items),
        "total_pages": pages,
        "total_results": total,
    }
    return json_response(
        200,
        {
            "_data": page_items,
            "_links": {
                "self": link(number),
                "first": link(1),
                "last": link(pages),
                "prev": link(max(1, number - 1)),
                "next": link(min(pages, number + 1)) if number < pages else link(number),
            },
            "_meta": meta,
        },
    )

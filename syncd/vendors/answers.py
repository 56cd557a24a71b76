"""Reading a vendor's answer body: its JSON, and the whole numbers paging totals are in.

Every vendor module needs these the same way. A 2xx answer whose body is not JSON
cannot be acted on: syncd reports the vendor as unreachable (exit code 4), naming
the call and the status, rather than guessing what was meant. Where a vendor puts
its records in that JSON, and what an empty body means, stays in its own module.
"""

from __future__ import annotations

from typing import Any

import httpx

from syncd.vendors.base import UnreachableError


def json_payload(response: httpx.Response, call: str, *, empty: Any = None) -> Any:
    """The answer's JSON, ``empty`` when it has no body; ``call`` names it in the error
    (``"talentlms GET /api/v2/users"``)."""
    try:
        return response.json() if response.content else empty
    except ValueError:
        raise UnreachableError(
            f"{call}: HTTP {response.status_code} with a body that is not JSON"
        ) from None


def whole_number(value: Any) -> int | None:
    """A count as JSON carries it: an int or its digits as text; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None

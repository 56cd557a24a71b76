"""Reading an answer: its JSON, the server's explanation of an error, its ``Retry-After``.

Whatever syncd quotes from a server goes through ``excerpt``: one line, secrets
masked, cut to ``MESSAGE_LIMIT`` characters. A 2xx answer whose body is not JSON
cannot be acted on: syncd reports the vendor as unreachable (exit code 4), naming
the call and the status, rather than guessing what was meant. Where a vendor puts
its records in that JSON, and what an empty body means, stays in its own module.
"""

from __future__ import annotations

import json as jsonlib
import time
from collections.abc import Iterable
from typing import Any

import httpx

from syncd.http.errors import UnreachableError
from syncd.limits import retry_after_seconds
from syncd.logs import MASK, redactor

MESSAGE_LIMIT = 300


def mask_secrets(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value masked, and anything shaped like a credential.

    Besides ``secrets``, every secret the process knows is masked (the configuration's,
    tokens, and passwords syncd generated or rendered), so a vendor that echoes a request
    body in its error cannot put a password into ``syncd errors``, the log or the store.
    """
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return redactor.redact_text(text)


def excerpt(text: str, secrets: Iterable[str] = (), limit: int = MESSAGE_LIMIT) -> str:
    """Server text fit for a message: one line, secrets masked, at most ``limit`` characters."""
    text = mask_secrets(" ".join(text.split()), secrets)
    return text[: limit - 1] + "…" if len(text) > limit else text


def short_body(response: httpx.Response, secrets: Iterable[str] = ()) -> str:
    """An excerpt of a response body for an error message (never a whole page)."""
    try:
        text = response.text
    except (UnicodeDecodeError, httpx.ResponseNotRead):
        return ""
    return excerpt(text, secrets)


def _texts(value: Any) -> list[str]:
    """Human-readable strings inside an error value (string, list, dict of field -> messages)."""
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list):
        return [text for item in value for text in _texts(item)]
    if isinstance(value, dict):
        for key in ("title", "message", "detail", "error_message", "error_description", "error"):
            if isinstance(value.get(key), str) and value[key].strip():
                return [value[key]]
        return [f"{field}: {text}" for field, item in value.items() for text in _texts(item)]
    return []


def vendor_message(response: httpx.Response, secrets: Iterable[str] = ()) -> tuple[str, str | None]:
    """The vendor's explanation of an error answer, and its error id when there is one.

    Reads TalentLMS ``_errors[].title``/``id``, HowNow ``error_message``/``error``/
    ``errors`` (string or list), iLMS ``Message``, Learning Pool ``message``/``detail``, a
    JSON list of strings, else the plain text; then ``excerpt``.
    """
    code: str | None = None
    parts: list[str] = []
    try:
        payload = jsonlib.loads(response.content) if response.content else None
    except (ValueError, RecursionError):  # not JSON, or nested past any real answer
        payload = None
    if isinstance(payload, dict):
        # iLMS answers "Message", "ModelState"...: keys are compared without case.
        payload = {str(k).lower(): v for k, v in payload.items()}
        errors = payload.get("_errors")
        if isinstance(errors, list):
            for item in errors:
                if isinstance(item, dict) and code is None and isinstance(item.get("id"), str):
                    code = item["id"]
            parts += _texts(errors)
        for key in (
            "error_message",
            "message",
            "errors",
            "error_description",
            "detail",
            "title",
            "reason_phrase",
        ):
            parts += _texts(payload.get(key))
        if not parts and isinstance(payload.get("error"), str | list | dict):
            parts += _texts(payload["error"])
        if isinstance(payload.get("error"), str) and code is None:
            code = payload["error"]
    elif isinstance(payload, list):
        parts += _texts(payload)
    elif payload is None and response.content:
        text = response.text.strip()
        if text and not text.startswith("<"):  # an HTML error page says nothing useful
            parts.append(text)
    unique = list(dict.fromkeys(" ".join(p.split()) for p in parts))
    message = "; ".join(unique) or response.reason_phrase or f"HTTP {response.status_code}"
    return excerpt(message, secrets), (code[:100] if code else None)


def oauth_error(response: httpx.Response) -> str:
    """The RFC 6749 §5.2 error code and description, which name the problem without secrets."""
    payload = json_object(response)
    if not isinstance(payload.get("error"), str):
        return ""
    description = payload.get("error_description")
    error = payload["error"]
    return f"{error} ({description})" if isinstance(description, str) else error


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON when it is an object, else an empty dict."""
    try:
        payload = response.json()
    except (ValueError, RecursionError):
        return {}
    return payload if isinstance(payload, dict) else {}


def json_payload(response: httpx.Response, call: str, *, empty: Any = None) -> Any:
    """The answer's JSON, ``empty`` when it has no body; ``call`` names it in the error
    (``"talentlms GET /api/v2/users"``)."""
    try:
        return response.json() if response.content else empty
    except (ValueError, RecursionError) as error:
        what = "nested too deeply" if isinstance(error, RecursionError) else "not JSON"
        said = short_body(response)
        raise UnreachableError(
            f"{call}: HTTP {response.status_code} with a body that is {what}"
            + (f": {said}" if said else ""),
            status=response.status_code,
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


def retry_after(response: httpx.Response) -> float | None:
    """The answer's ``Retry-After`` in seconds from now (seconds or an HTTP date), else None."""
    return retry_after_seconds(response.headers.get("retry-after"), time.time())

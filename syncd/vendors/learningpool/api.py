"""Learning Pool wire conventions: the token request, the record envelope, refusal reasons.

The public document gives the OAuth2 client-credentials flow but not the token path
or how the request is encoded: both come from the target (``token_path``,
``token_encoding``). It says nothing of bodies:

- a record comes wrapped in the key ``target.records.envelope`` names, or bare
  (``none``);
- a refusal as ``{"message", "errors": {field: [messages]}}`` (read into one reason per
  field so a person can fix the HR record) or as anything else, quoted.

Lists are read by ``paging``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from syncd.http import ClientCredentialsAuth, excerpt, json_payload, vendor_message

VENDOR = "learningpool"


def learningpool_auth(
    base_url: str,
    client_id: str,
    client_secret: str,
    token_path: str,
    body: Literal["form", "json"],
    **options: Any,
) -> ClientCredentialsAuth:
    """Learning Pool Simple API: client credentials at the configured path and encoding."""
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


def unwrapped(payload: Any, envelope: str | None) -> Any:
    """What ``envelope`` (``target.records.envelope``; None: bare) wraps in ``payload``."""
    if envelope is None:
        return payload
    return payload.get(envelope) if isinstance(payload, Mapping) else None


def field_value(record: Mapping[str, Any], name: str) -> Any:
    """Field ``name`` of a record; dots reach into nested objects (``meta.total``)."""
    value: Any = record
    for part in name.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def record_of(response: httpx.Response, call: str, envelope: str | None) -> dict[str, Any]:
    """The record of a 2xx answer, inside ``envelope``; ``{}`` for an empty answer."""
    record = unwrapped(json_payload(response, f"{VENDOR} {call}"), envelope)
    return dict(record) if isinstance(record, Mapping) else {}


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

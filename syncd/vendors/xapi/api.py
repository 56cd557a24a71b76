"""An LRS's statements resource (xAPI 1.0.3 communication, §2.1) as plain calls.

Every call carries ``X-Experience-API-Version: 1.0.3`` and goes through a
``VendorClient``: the configured rate limit (shared with every process through the state
store), 429s and ``Retry-After`` ridden out, retries of passing faults. ``PUT`` is
idempotent, so a lost answer is simply sent again. The client's base is the endpoint's
origin: a ``more`` link is a full path (§2.1.3, "excluding scheme, host and port"),
which may leave the endpoint's own path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from syncd.config.schema.rate_limits import RateLimitConfig
from syncd.config.schema.xapi import LrsConnection
from syncd.http import RecordRejected, VendorClient, VendorError, build_auth, json_payload
from syncd.vendors.client import VendorApi, vendor_client
from syncd.vendors.context import AdapterContext
from syncd.vendors.xapi.vocabulary import VENDOR, VERSION_HEADER, XAPI_VERSION


class QueryRefused(VendorError):
    """The LRS refused a statements query (a 4xx): a bad parameter, or an expired more link."""


@dataclass(frozen=True, slots=True)
class _Origin:
    """What ``vendor_client`` reads of a target: the LRS's origin, limits, timeout, deadline."""

    base_url: str
    rate_limit: RateLimitConfig
    timeout: float
    deadline: float = 300.0  # seconds one whole call may take (as every vendor's default)


@dataclass(frozen=True, slots=True)
class StatementsPage:
    """One answer of ``GET /statements``: its statements and the ``more`` path (None: last)."""

    statements: list[dict[str, Any]]
    more: str | None


def open_lrs(connection: LrsConnection, context: AdapterContext) -> LrsApi:
    """The LRS at ``connection.endpoint``, its calls within the configured rate limit."""
    parts = urlsplit(connection.endpoint)
    origin = _Origin(f"{parts.scheme}://{parts.netloc}", connection.rate_limit, connection.timeout)
    auth = connection.auth
    identity = ""
    if auth is not None:
        identity = auth.username if auth.type == "basic" else getattr(auth, "client_id", "bearer")
    client = vendor_client(
        VENDOR,
        origin,
        context,
        auth=build_auth(auth),
        credential_parts=(parts.path, identity),
        headers={VERSION_HEADER: XAPI_VERSION, "Accept": "application/json"},
    )
    return LrsApi(client, f"{parts.path}/statements")


def _template(path: str) -> str:
    """A literal path as a ``VendorClient`` path template (braces kept as they are)."""
    return path.replace("{", "{{").replace("}", "}}")


class LrsApi(VendorApi):
    """``PUT``/``GET`` of statements; answers as plain values, refusals as exceptions."""

    def __init__(self, client: VendorClient, statements_path: str) -> None:
        super().__init__(client)
        self.statements_path = statements_path

    def put_statement(self, statement: dict[str, Any]) -> int:
        """Store ``statement`` under its id: 204 (stored, or the same one was), or 409.

        Raises ``RecordRejected`` when the LRS refuses the statement itself (400, 403 ...).
        """
        response = self.client.put(
            _template(self.statements_path),
            params={"statementId": statement["id"]},
            json=statement,
        )
        return response.status_code

    def statement(self, statement_id: str) -> dict[str, Any] | None:
        """The statement the LRS holds under ``statement_id``; None when it holds none.

        xAPI answers with the statement itself; some LRSs wrap it in a StatementResult.
        """
        response = self.client.get(
            _template(self.statements_path),
            params={"statementId": statement_id},
            accept={404},
        )
        if response.status_code == 404:
            return None
        found = json_payload(response, f"{VENDOR} GET statement {statement_id}")
        if not isinstance(found, dict):
            return None
        if isinstance(found.get("statements"), list):  # a StatementResult (Ralph answers so)
            matches = [s for s in found["statements"] if isinstance(s, dict)]
            return next((s for s in matches if s.get("id") == statement_id), None)
        return found

    def page(self, more: str | None = None, params: dict[str, str] | None = None) -> StatementsPage:
        """The first page of a query (``params``), or the page a ``more`` path leads to."""
        path = self.statements_path if more is None else self._same_origin(more)
        call = f"{VENDOR} GET {self.statements_path}"
        try:
            response = self.client.get(_template(path), params=params if more is None else None)
        except RecordRejected as refused:
            raise QueryRefused(f"{call}: the LRS refused the query ({refused})") from None
        payload = json_payload(response, call, empty={})
        statements = payload.get("statements") if isinstance(payload, dict) else None
        if not isinstance(statements, list):
            raise VendorError(
                f"{call}: the answer holds no statements list (not a StatementResult)"
            )
        link = payload.get("more")
        return StatementsPage(
            [item for item in statements if isinstance(item, dict)],
            link if isinstance(link, str) and link.strip() else None,
        )

    def _same_origin(self, more: str) -> str:
        """The path and query of a ``more`` link; one leading to another host is refused,
        since the credentials go with it."""
        base = httpx.URL(self.client.base_url)
        target = base.join(more.strip())
        if (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
            raise VendorError(
                f"the LRS's more link leads to {target.scheme}://{target.host}, away from "
                f"{base.host}; syncd sends its credentials to the configured endpoint only"
            )
        return target.raw_path.decode()  # the path and its query, as the LRS encoded them

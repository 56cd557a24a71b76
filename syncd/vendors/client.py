"""Builds a vendor's HTTP client from its target configuration and the context it is given.

Every adapter gets its client here, so every vendor call shares one rate-limit
budget per credential, through the limiter backend in the context: the state
store's (several processes and replicas) as ``syncd.assemble`` builds it, or
this adapter's own memory. ``VendorApi`` is the base of a vendor's calls made
through that client.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from syncd.http import VendorClient
from syncd.limits import RateLimiter, credential_id
from syncd.shutdown import pausable_sleep
from syncd.vendors.context import AdapterContext


def vendor_client(
    vendor: str,
    target: Any,
    context: AdapterContext,
    *,
    auth: httpx.Auth | None,
    credential_parts: tuple[str, ...],
    headers: dict[str, str] | None = None,
    portal_refusals: dict[int, str] | None = None,
    refused_in_body: Callable[[httpx.Response], bool] | None = None,
) -> VendorClient:
    """A client for ``target`` whose limiter is keyed by a hash of the credential.

    ``credential_parts`` are the values that identify the credential (an API
    key, a client id): two connectors using one credential share its budget.
    """
    credential = credential_id(vendor, target.base_url, *credential_parts)
    limiter = RateLimiter(
        credential, target.rate_limit.windows(), backend=context.limiter, name=vendor
    )
    return VendorClient(
        vendor,
        target.base_url,
        auth=auth,
        limiter=limiter,
        timeout=target.timeout,
        deadline=target.deadline,
        retry=context.retry,
        headers=headers,
        sleep=pausable_sleep,
        portal_refusals=portal_refusals,
        connector=context.connector,
        refused_in_body=refused_in_body,
    )


class VendorApi:
    """A vendor's calls, all made through one ``VendorClient``, which counts and closes them."""

    def __init__(self, client: VendorClient) -> None:
        self.client = client

    @property
    def api_calls(self) -> int:
        return self.client.api_calls

    def close(self) -> None:
        self.client.close()

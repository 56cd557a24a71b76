"""Builds a vendor's HTTP client from its target configuration and the engine's context.

Every adapter gets its client here, so every vendor call shares one rate-limit
budget per credential: through the state store when the engine gives one
(several processes and replicas), in process memory otherwise.
"""

from __future__ import annotations

import threading
from typing import Any

import httpx
from sqlalchemy import Engine

from syncd.http import RetryPolicy, VendorClient
from syncd.limits import MemoryBackend, RateLimiter, credential_id
from syncd.shutdown import pausable_sleep
from syncd.state.db import make_engine
from syncd.state.limiter import SqlBackend
from syncd.vendors.base import AdapterContext

_engines: dict[str, Engine] = {}
_memory = MemoryBackend()
_lock = threading.Lock()


def _state_engine(url: str) -> Engine:
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = make_engine(url)
        return engine


def vendor_client(
    vendor: str,
    target: Any,
    context: AdapterContext,
    *,
    auth: httpx.Auth | None,
    credential_parts: tuple[str, ...],
    headers: dict[str, str] | None = None,
) -> VendorClient:
    """A client for ``target`` whose limiter is keyed by a hash of the credential.

    ``credential_parts`` are the values that identify the credential (an API
    key, a client id): two connectors using one credential share its budget.
    ``context.options`` may carry ``retry`` (a RetryPolicy) for tests.
    """
    credential = credential_id(vendor, target.base_url, *credential_parts)
    backend = SqlBackend(_state_engine(context.state_url)) if context.state_url else _memory
    limiter = RateLimiter(credential, target.rate_limit.windows(), backend=backend, name=vendor)
    retry = context.options.get("retry")
    return VendorClient(
        vendor,
        target.base_url,
        auth=auth,
        limiter=limiter,
        timeout=target.timeout,
        retry=retry if isinstance(retry, RetryPolicy) else None,
        headers=headers,
        sleep=pausable_sleep,
    )

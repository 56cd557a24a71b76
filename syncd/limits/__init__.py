"""Rate limiting per vendor credential, shared by every process that uses the credential.

- ``policy``: the windows, priorities and the arithmetic of waiting (pure);
- ``backend``: what a backend is; ``memory``: the one-process backend (the state
  store's is ``syncd.state.limiter.SqlBackend``);
- ``limiter``: ``RateLimiter``, the waiting loop callers take permits from.

This package depends on nothing of syncd but ``syncd.shutdown``.
"""

from __future__ import annotations

from syncd.limits.backend import LimitBackend, Wakeups
from syncd.limits.limiter import Permit, RateLimiter, RateLimitTimeout
from syncd.limits.memory import MemoryBackend
from syncd.limits.policy import (
    DEFAULT_RESERVE,
    Finished,
    Grant,
    LimitPolicy,
    Priority,
    Snapshot,
    VendorSignal,
    Window,
    WindowUsage,
    as_windows,
    credential_id,
    retry_after_seconds,
)

__all__ = [
    "DEFAULT_RESERVE",
    "Finished",
    "Grant",
    "LimitBackend",
    "LimitPolicy",
    "MemoryBackend",
    "Permit",
    "Priority",
    "RateLimitTimeout",
    "RateLimiter",
    "Snapshot",
    "VendorSignal",
    "Wakeups",
    "Window",
    "WindowUsage",
    "as_windows",
    "credential_id",
    "retry_after_seconds",
]

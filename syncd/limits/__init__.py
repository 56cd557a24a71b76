"""Rate limiting per vendor credential, shared by every process that uses the credential.

- ``policy``: the windows, priorities and the arithmetic of waiting (pure);
- ``backend``: what a backend is, and the decisions every backend takes alike;
  ``memory``: the one-process backend (the state store's is
  ``syncd.state.limiter.SqlBackend``);
- ``limiter``: ``RateLimiter``, the waiting loop callers take permits from.

This package depends on nothing of syncd but ``syncd.shutdown``. Its face is what the
other layers use; the policy's own vocabulary stays in ``syncd.limits.policy``.
"""

from __future__ import annotations

from syncd.limits.backend import LimitBackend
from syncd.limits.limiter import Permit, RateLimiter, RateLimitTimeout
from syncd.limits.memory import MemoryBackend
from syncd.limits.policy import Finished, Priority, Window, credential_id, retry_after_seconds

__all__ = [
    "Finished",
    "LimitBackend",
    "MemoryBackend",
    "Permit",
    "Priority",
    "RateLimitTimeout",
    "RateLimiter",
    "Window",
    "credential_id",
    "retry_after_seconds",
]

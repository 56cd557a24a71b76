"""HowNow: users through asynchronous upserts, leavers and rehires, learning results both ways.

``HowNowAdapter`` is the push/pull adapter; the ``hownow`` sink, which writes learning
results from other LMSs into HowNow, is ``syncd.vendors.hownow.sink``.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    """The adapter (and the HTTP stack under it) loads when first asked for: what the
    vendor can do (``facts``) does not need it."""
    if name == "HowNowAdapter":
        from syncd.vendors.hownow.adapter import HowNowAdapter

        return HowNowAdapter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["HowNowAdapter"]

"""iLMS (Inspired LMS) REST API: ``ILMSAdapter`` is what ``syncd.assemble`` builds."""

from typing import Any


def __getattr__(name: str) -> Any:
    """The adapter (and the HTTP stack under it) loads when first asked for: what the
    vendor can do (``facts``) does not need it."""
    if name == "ILMSAdapter":
        from syncd.vendors.ilms.adapter import ILMSAdapter

        return ILMSAdapter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ILMSAdapter"]

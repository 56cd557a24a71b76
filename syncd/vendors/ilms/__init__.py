"""iLMS (Inspired LMS) REST API: ``ILMSAdapter`` is what the registry loads."""

from syncd.vendors.ilms.adapter import ILMSAdapter

__all__ = ["ILMSAdapter"]

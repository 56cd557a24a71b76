"""iLMS (Inspired LMS) REST API: ``ILMSAdapter`` is what ``syncd.assemble`` builds."""

from syncd.vendors.ilms.adapter import ILMSAdapter

__all__ = ["ILMSAdapter"]

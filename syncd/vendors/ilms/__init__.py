"""iLMS (Inspired LMS) REST API: ``ILMSAdapter`` is what ``syncd.assemble`` builds."""

from typing import TYPE_CHECKING

from syncd.lazy import lazy_attributes

if TYPE_CHECKING:
    from syncd.vendors.ilms.adapter import ILMSAdapter

# The adapter (and the HTTP stack under it) loads when first asked for: ``facts`` alone
# does not need it.
__getattr__ = lazy_attributes(__name__, {"ILMSAdapter": "syncd.vendors.ilms.adapter"})

__all__ = ["ILMSAdapter"]

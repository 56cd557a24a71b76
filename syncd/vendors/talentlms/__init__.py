"""TalentLMS (API v2): ``TalentLMSAdapter`` is what ``syncd.assemble`` builds."""

from typing import TYPE_CHECKING

from syncd.lazy import lazy_attributes

if TYPE_CHECKING:
    from syncd.vendors.talentlms.adapter import TalentLMSAdapter

# The adapter (and the HTTP stack under it) loads when first asked for: ``facts`` alone
# does not need it.
__getattr__ = lazy_attributes(__name__, {"TalentLMSAdapter": "syncd.vendors.talentlms.adapter"})

__all__ = ["TalentLMSAdapter"]

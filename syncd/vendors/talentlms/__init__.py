"""TalentLMS (API v2): ``TalentLMSAdapter`` is what ``syncd.assemble`` builds."""

from syncd.vendors.talentlms.adapter import TalentLMSAdapter

__all__ = ["TalentLMSAdapter"]

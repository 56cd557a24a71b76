"""TalentLMS (API v2): ``TalentLMSAdapter`` is what the registry loads."""

from syncd.vendors.talentlms.adapter import TalentLMSAdapter

__all__ = ["TalentLMSAdapter"]

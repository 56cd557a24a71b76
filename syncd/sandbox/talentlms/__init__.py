"""TalentLMS API v2 simulator (``{base_url}/api/v2/...``)."""

from syncd.sandbox.talentlms.simulator import DEFAULT_API_KEY, TalentLMSSimulator

SIMULATOR = TalentLMSSimulator

__all__ = ["DEFAULT_API_KEY", "SIMULATOR", "TalentLMSSimulator"]

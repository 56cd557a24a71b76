"""iLMS (Inspired LMS) REST API simulator (``{base_url}/organizations/{orgID}/...``)."""

from syncd.sandbox.ilms.base import DEFAULT_API_LOGIN_ID, DEFAULT_ORG_ID, DEFAULT_TRANSACTION_KEY
from syncd.sandbox.ilms.simulator import ILMSSimulator

SIMULATOR = ILMSSimulator

__all__ = [
    "DEFAULT_API_LOGIN_ID",
    "DEFAULT_ORG_ID",
    "DEFAULT_TRANSACTION_KEY",
    "SIMULATOR",
    "ILMSSimulator",
]

"""HowNow External API simulator (``{base_url}/token`` and ``{base_url}/external/v1/...``)."""

from syncd.sandbox.hownow.base import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from syncd.sandbox.hownow.simulator import HowNowSimulator

SIMULATOR = HowNowSimulator

__all__ = ["DEFAULT_CLIENT_ID", "DEFAULT_CLIENT_SECRET", "SIMULATOR", "HowNowSimulator"]

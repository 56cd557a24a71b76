"""Learning Pool simulator: the documented OAuth client-credentials token at a configurable
path (``{base_url}/oauth/token`` by default) and the sandbox's own Simple API paths
(``{base_url}/simple/v1/...``), which the connector's ``endpoints:`` point at."""

from syncd.sandbox.learningpool.base import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from syncd.sandbox.learningpool.simulator import LearningPoolSimulator

SIMULATOR = LearningPoolSimulator

__all__ = ["DEFAULT_CLIENT_ID", "DEFAULT_CLIENT_SECRET", "SIMULATOR", "LearningPoolSimulator"]

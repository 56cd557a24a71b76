"""Learning Pool (Simple API): ``LearningPoolAdapter`` is what ``syncd.assemble`` builds.

Every path it calls comes from the connector's ``target.endpoints``; see README.md
in this folder for what is Learning Pool's and what is the sandbox's.
"""

from syncd.vendors.learningpool.adapter import LearningPoolAdapter

__all__ = ["LearningPoolAdapter"]

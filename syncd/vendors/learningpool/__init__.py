"""Learning Pool (Simple API): ``LearningPoolAdapter`` is what ``syncd.assemble`` builds.

Every path it calls comes from the connector's ``target.endpoints``; see README.md
in this folder for what is Learning Pool's and what is the sandbox's.
"""

from typing import TYPE_CHECKING

from syncd.lazy import lazy_attributes

if TYPE_CHECKING:
    from syncd.vendors.learningpool.adapter import LearningPoolAdapter

# The adapter (and the HTTP stack under it) loads when first asked for: ``facts`` alone
# does not need it.
__getattr__ = lazy_attributes(
    __name__, {"LearningPoolAdapter": "syncd.vendors.learningpool.adapter"}
)

__all__ = ["LearningPoolAdapter"]

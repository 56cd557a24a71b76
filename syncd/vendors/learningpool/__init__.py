"""Learning Pool (Simple API): ``LearningPoolAdapter`` is what ``syncd.assemble`` builds.

Every path it calls comes from the connector's ``target.endpoints``; see README.md
in this folder for what is Learning Pool's and what is the sandbox's.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    """The adapter (and the HTTP stack under it) loads when first asked for: what the
    vendor can do (``facts``) does not need it."""
    if name == "LearningPoolAdapter":
        from syncd.vendors.learningpool.adapter import LearningPoolAdapter

        return LearningPoolAdapter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["LearningPoolAdapter"]

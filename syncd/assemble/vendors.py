"""The vendors syncd can drive: each name and its adapter class, imported explicitly.

An adapter class declares what its vendor can do (``facts``); configuration checks
and the CLI read the declarations from here.
"""

from __future__ import annotations

from syncd.vendors.base import Adapter, VendorFacts
from syncd.vendors.hownow import HowNowAdapter
from syncd.vendors.ilms import ILMSAdapter
from syncd.vendors.learningpool import LearningPoolAdapter
from syncd.vendors.talentlms import TalentLMSAdapter

ADAPTERS: dict[str, type[Adapter]] = {
    "talentlms": TalentLMSAdapter,
    "hownow": HowNowAdapter,
    "ilms": ILMSAdapter,
    "learningpool": LearningPoolAdapter,
}


def adapter_class(vendor: str) -> type[Adapter]:
    """The adapter class of ``vendor``; ValueError naming the known vendors otherwise."""
    try:
        return ADAPTERS[vendor]
    except KeyError:
        raise ValueError(
            f"unknown vendor {vendor!r}; known: {', '.join(sorted(ADAPTERS))}"
        ) from None


def vendor_facts(vendor: str) -> VendorFacts:
    """What ``vendor`` declares it can do."""
    return adapter_class(vendor).facts


def write_only_fields() -> frozenset[str]:
    """Every vendor's write-only fields (passwords), which output never shows."""
    return frozenset().union(
        *(cls.facts.capabilities.write_only_fields for cls in ADAPTERS.values())
    )

"""The vendors syncd can drive: each name and its adapter class, imported explicitly.

An adapter class declares what its vendor can do (``facts``, kept in the vendor's light
``facts`` module); configuration checks and the CLI read the declarations from here. A
class is imported the first time its vendor's adapter is built, so a command loads only
the vendors its configuration names, and a push with nothing to send none of their
HTTP stack.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from syncd.vendors.base import Adapter, VendorFacts


def _talentlms() -> type[Adapter]:
    from syncd.vendors.talentlms import TalentLMSAdapter

    return TalentLMSAdapter


def _hownow() -> type[Adapter]:
    from syncd.vendors.hownow import HowNowAdapter

    return HowNowAdapter


def _ilms() -> type[Adapter]:
    from syncd.vendors.ilms import ILMSAdapter

    return ILMSAdapter


def _learningpool() -> type[Adapter]:
    from syncd.vendors.learningpool import LearningPoolAdapter

    return LearningPoolAdapter


ADAPTERS: dict[str, Callable[[], type[Adapter]]] = {
    "talentlms": _talentlms,
    "hownow": _hownow,
    "ilms": _ilms,
    "learningpool": _learningpool,
}
"""Vendor name -> what imports and gives its adapter class."""


def adapter_class(vendor: str) -> type[Adapter]:
    """The adapter class of ``vendor``; ValueError naming the known vendors otherwise."""
    try:
        load = ADAPTERS[vendor]
    except KeyError:
        raise ValueError(
            f"unknown vendor {vendor!r}; known: {', '.join(sorted(ADAPTERS))}"
        ) from None
    return load()


def vendor_facts(vendor: str) -> VendorFacts:
    """What ``vendor`` declares it can do: its light ``facts`` module, not its adapter."""
    if vendor == "talentlms":
        from syncd.vendors.talentlms.facts import FACTS
    elif vendor == "hownow":
        from syncd.vendors.hownow.facts import FACTS
    elif vendor == "ilms":
        from syncd.vendors.ilms.facts import FACTS
    elif vendor == "learningpool":
        from syncd.vendors.learningpool.facts import FACTS
    else:
        return adapter_class(vendor).facts  # the error naming the known vendors
    return FACTS


def write_only_fields() -> frozenset[str]:
    """Every vendor's write-only fields (passwords), which output never shows."""
    return frozenset().union(
        *(vendor_facts(vendor).capabilities.write_only_fields for vendor in ADAPTERS)
    )

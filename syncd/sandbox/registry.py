"""Which vendors the sandbox serves: one simulator class per vendor, named here.

Adding a vendor is adding its package under ``syncd/sandbox/`` and one line to
``SIMULATORS``.
"""

from __future__ import annotations

from collections.abc import Iterable

from syncd.sandbox.hownow import HowNowSimulator
from syncd.sandbox.ilms import ILMSSimulator
from syncd.sandbox.learningpool import LearningPoolSimulator
from syncd.sandbox.simulator import Simulator
from syncd.sandbox.talentlms import TalentLMSSimulator

SIMULATORS: dict[str, type[Simulator]] = {
    "talentlms": TalentLMSSimulator,
    "hownow": HowNowSimulator,
    "ilms": ILMSSimulator,
    "learningpool": LearningPoolSimulator,
}
KNOWN_VENDORS = tuple(SIMULATORS)


class UnknownVendorError(ValueError):
    """A vendor the sandbox does not know."""


def available_vendors() -> list[str]:
    """The vendors the sandbox serves, in a stable order."""
    return list(KNOWN_VENDORS)


def simulator_class(vendor: str) -> type[Simulator]:
    try:
        return SIMULATORS[vendor]
    except KeyError:
        raise UnknownVendorError(
            f"unknown vendor {vendor!r}; known: {', '.join(KNOWN_VENDORS)}"
        ) from None


def resolve_vendors(vendors: Iterable[str] | None) -> list[str]:
    """The vendors to serve: all of them when None, else the named ones (deduplicated)."""
    if vendors is None:
        return available_vendors()
    names: list[str] = []
    for vendor in vendors:
        simulator_class(vendor)  # raises for an unknown vendor
        if vendor not in names:
            names.append(vendor)
    if not names:
        raise UnknownVendorError("no vendor to serve")
    return names

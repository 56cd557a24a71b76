"""Which vendors the sandbox can serve: one module per vendor, found by name.

Adding a vendor is adding ``syncd/sandbox/<vendor>.py`` (or a package) that
defines ``SIMULATOR``, a ``Simulator`` subclass. Nothing else needs to change.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable

from syncd.sandbox.simulator import Simulator

KNOWN_VENDORS = ("talentlms", "hownow", "ilms", "learningpool")


class UnknownVendorError(ValueError):
    """A vendor the sandbox does not know or cannot serve yet."""


def _module_name(vendor: str) -> str:
    return f"syncd.sandbox.{vendor}"


def available_vendors() -> list[str]:
    """The known vendors whose simulator module exists, in a stable order."""
    return [v for v in KNOWN_VENDORS if importlib.util.find_spec(_module_name(v)) is not None]


def simulator_class(vendor: str) -> type[Simulator]:
    if vendor not in KNOWN_VENDORS:
        raise UnknownVendorError(f"unknown vendor {vendor!r}; known: {', '.join(KNOWN_VENDORS)}")
    if vendor not in available_vendors():
        raise UnknownVendorError(
            f"no simulator for {vendor!r} yet; available: {', '.join(available_vendors())}"
        )
    module = importlib.import_module(_module_name(vendor))
    cls = getattr(module, "SIMULATOR", None)
    if not (isinstance(cls, type) and issubclass(cls, Simulator)):
        raise UnknownVendorError(f"{_module_name(vendor)} does not define SIMULATOR")
    return cls


def resolve_vendors(vendors: Iterable[str] | None) -> list[str]:
    """The vendors to serve: all available ones when None, else the named ones (deduplicated)."""
    if vendors is None:
        return available_vendors()
    names: list[str] = []
    for vendor in vendors:
        simulator_class(vendor)  # raises for unknown or unavailable vendors
        if vendor not in names:
            names.append(vendor)
    if not names:
        raise UnknownVendorError("no vendor to serve")
    return names

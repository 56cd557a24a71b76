"""How the sandbox looks a value up in the iLMS lookup tables (vendor document appendices).

F023 takes a time zone full name, F011 a country name or code, F012 a US state or
Canadian province name or code, F006 a language name. The tables themselves are facts
transcribed from the vendor's document, kept once in ``syncd.vendors.ilms.lookups``
with their quirks (a stray ")", codes that are not ISO, "PQ" for Quebec): the sandbox
accepts exactly what the vendor documents, so a client that sends anything else learns
it here, not in production. How a value is matched against them stays the sandbox's
own, so that the simulator checks the adapter rather than repeating it.
"""

from __future__ import annotations

from syncd.vendors.ilms.lookups import (
    CANADA_PROVINCES,
    COUNTRIES,
    LANGUAGES,
    TIME_ZONES,
    US_STATES,
)

__all__ = [
    "CANADA_PROVINCES",
    "COUNTRIES",
    "LANGUAGES",
    "TIME_ZONES",
    "US_STATES",
    "country",
    "language",
    "state",
    "time_zone",
]


def _folded(values: tuple[str, ...]) -> dict[str, str]:
    return {v.casefold(): v for v in values}


_TIME_ZONES = _folded(TIME_ZONES)
_COUNTRIES = _folded(tuple(n for n, _ in COUNTRIES) + tuple(c for _, c in COUNTRIES))
_STATES = _folded(
    tuple(n for n, _ in US_STATES + CANADA_PROVINCES)
    + tuple(c for _, c in US_STATES + CANADA_PROVINCES)
)


def time_zone(value: str) -> str | None:
    """The table's spelling of a time zone full name (case-insensitive), None if unknown."""
    return _TIME_ZONES.get(value.strip().casefold())


def country(value: str) -> str | None:
    """The table's spelling of a country name or code; a name stays a name, a code a code."""
    return _COUNTRIES.get(value.strip().casefold())


def state(value: str) -> str | None:
    """The table's spelling of a US state or Canadian province name or code."""
    return _STATES.get(value.strip().casefold())


def language(value: str, enabled: tuple[str, ...] = LANGUAGES) -> str | None:
    """The language name if it is one of ``enabled`` (the organization's languages)."""
    return _folded(enabled).get(value.strip().casefold())

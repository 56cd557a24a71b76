"""Local simulators of the vendor APIs, served on loopback (SPEC §8).

``Sandbox`` runs them in a background thread for tests and ``syncd demo``;
``serve`` runs them in the foreground for ``syncd sandbox``. Each vendor lives in
its own module (``talentlms``, ``hownow`` ...) built on ``Simulator``.
"""

from syncd.sandbox.clock import Clock, ManualClock
from syncd.sandbox.faults import FaultSettings
from syncd.sandbox.registry import KNOWN_VENDORS, available_vendors
from syncd.sandbox.server import Sandbox, serve
from syncd.sandbox.simulator import OptionsError, Simulator, SimulatorOptions

__all__ = [
    "KNOWN_VENDORS",
    "Clock",
    "FaultSettings",
    "ManualClock",
    "OptionsError",
    "Sandbox",
    "Simulator",
    "SimulatorOptions",
    "available_vendors",
    "serve",
]

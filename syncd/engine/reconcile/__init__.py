"""Reconciliation: a full compare of one connector's LMS with the links and HR (SPEC §9).

``run`` reads both sides, ``situations`` gives each LMS account its situation (pure),
``actions`` turns the connector's policies into push operations (pure), ``report``
words the result.
"""

from __future__ import annotations

from syncd.engine.reconcile.actions import Policies
from syncd.engine.reconcile.report import report_lines
from syncd.engine.reconcile.run import (
    DIRECTION,
    ReconcileResult,
    ReconcileSettings,
    run_reconcile,
)
from syncd.engine.reconcile.situations import Finding, Situation

__all__ = [
    "DIRECTION",
    "Finding",
    "Policies",
    "ReconcileResult",
    "ReconcileSettings",
    "Situation",
    "report_lines",
    "run_reconcile",
]

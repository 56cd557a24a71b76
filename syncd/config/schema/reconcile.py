"""What a connector does about the LMS as it really is: reconciliation and leavers' groups.

``reconcile`` configures ``syncd reconcile`` (and, with a ``schedule``, its runs under
``syncd run``): what to do with each situation a full compare with the LMS finds.
``users.on_leave`` says what happens to a deactivated leaver's groups.
"""

from __future__ import annotations

from typing import Literal

from syncd.config.schema.strict import Strict
from syncd.config.schema.values import Schedule


class ReconcileConfig(Strict):
    """Policies per situation; without ``--apply`` (or a schedule) nothing is acted on."""

    schedule: Schedule | None = None  # None: only when `syncd reconcile` is run by hand
    on_drift: Literal["correct", "report"] = "correct"
    on_orphan: Literal["report", "deactivate"] = "report"
    on_missing_remote: Literal["recreate", "report"] = "recreate"
    on_unlinked_match: Literal["link", "report"] = "link"


class OnLeaveConfig(Strict):
    """A deactivated leaver's groups: kept as they were, or removed with the deactivation.

    Enrollments are never removed from a leaver: that would discard their progress.
    """

    groups: Literal["keep", "remove"] = "keep"

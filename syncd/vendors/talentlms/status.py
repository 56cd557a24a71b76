"""Setting an account active or inactive, despite three documented ways of saying it.

The create body types ``status`` as a boolean, the update body as an enum, the
update table names the field ``active`` (boolean); the examples send
``"active"`` (digest §5.5, §11 #1). We send the string first, fall back to the
other forms when a 400 names the attribute, confirm the first change of each
direction with a read, and keep the form that worked for this portal.
"""

from __future__ import annotations

from typing import Any

import structlog

from syncd.http import RecordRejected

log = structlog.get_logger(__name__)


def _string(active: bool) -> dict[str, Any]:
    return {"status": "active" if active else "inactive"}


def _boolean(active: bool) -> dict[str, Any]:
    return {"status": active}


def _active_flag(active: bool) -> dict[str, Any]:
    return {"active": active}


FORMS = (_string, _boolean, _active_flag)
FORM_NAMES = ("status string", "status boolean", "active boolean")


class StatusForms:
    """Which form this portal accepts, learned once per adapter."""

    def __init__(self) -> None:
        self.index = 0
        self.verified: set[bool] = set()  # directions confirmed by reading the account back

    def body(self, active: bool) -> dict[str, Any]:
        return FORMS[self.index](active)

    @property
    def name(self) -> str:
        return FORM_NAMES[self.index]

    def can_fall_back(self) -> bool:
        return self.index + 1 < len(FORMS)

    def fall_back(self, reason: str) -> None:
        self.index += 1
        self.verified.clear()
        log.warning("talentlms_status_form_changed", form=self.name, reason=reason)

    @staticmethod
    def refused(error: RecordRejected) -> bool:
        """A 400 about the status attribute itself (not about another field of the body)."""
        text = error.message.lower()
        return error.status in (400, 422) and ("status" in text or "'active'" in text)

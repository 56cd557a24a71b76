"""Whether a Learning Pool account is active, and what deactivates or reactivates it.

Learning Pool's help centre recommends expiring an account ("Expires At") over
deleting it: the login stops, the data and enrolments stay, and it can be undone.
How its API does that is undocumented, so ``target.deactivation`` says it:

- ``expiry``: deactivate sends ``{field: <a minute ago>}``, reactivate ``{field: null}``.
  A minute ago, not now: a platform whose clock runs a little behind must already see
  the account expired. An account whose ``field`` is a past time is inactive.
- ``flag``: deactivate sends ``{field: inactive}``, reactivate ``{field: active}``.
- ``action``: the configured endpoints act by themselves and get an empty body.

In every method ``field`` is what an answer or a read-back is judged by, and a
record that does not show it says nothing either way (None).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from syncd.config.schema.targets import Deactivation
from syncd.model import iso_utc
from syncd.vendors.learningpool.endpoints import EndpointMissing
from syncd.vendors.learningpool.fields import text
from syncd.vendors.pulling import parse_time

EXPIRY_LEAD = timedelta(minutes=1)

_UNSET = (
    "target.deactivation is not configured, so syncd cannot {what} Learning Pool users; "
    "set it to how your platform does it (e.g. {{method: expiry, field: expires_at}})"
)


class Activity:
    """``target.deactivation``, applied: the bodies to send and how to read the state."""

    def __init__(self, config: Deactivation | None, now: Callable[[], datetime]) -> None:
        self._config = config
        self._now = now

    @property
    def owned_field(self) -> str | None:
        """The user field syncd sets to deactivate, which a mapping may therefore not set."""
        if self._config is None or self._config.method == "action":
            return None
        return self._config.field

    def _settings(self, endpoint: str, what: str) -> Deactivation:
        if self._config is None:
            raise EndpointMissing(endpoint, _UNSET.format(what=what))
        return self._config

    def deactivate_body(self) -> dict[str, Any]:
        config = self._settings("user_deactivate", "deactivate")
        if config.method == "expiry":
            return {config.field: iso_utc(self._now() - EXPIRY_LEAD)}
        if config.method == "flag":
            return {config.field: config.inactive[0]}
        return {}

    def reactivate_body(self) -> dict[str, Any]:
        config = self._settings("user_reactivate", "reactivate")
        if config.method == "expiry":
            return {config.field: None}
        if config.method == "flag":
            return {config.field: config.active}
        return {}

    def active(self, record: Mapping[str, Any]) -> bool | None:
        """Whether ``record`` shows an active account; None when it does not show it."""
        config = self._config
        if config is None or config.field not in record:
            return None
        value = record[config.field]
        if config.method == "expiry":
            if value is None or not text(value):
                return True
            expires = parse_time(value)
            return None if expires is None else expires > self._now()
        return text(value).casefold() not in {text(v).casefold() for v in config.inactive}

    def holds(self, record: Mapping[str, Any], active: bool) -> bool | None:
        """Whether ``record`` shows the account deactivated (or reactivated) as syncd does it.

        A reactivated account by expiry has no expiry date left: one merely set to expire
        later is active today but not reactivated. None when the record does not show it.
        """
        config = self._config
        if config is not None and config.method == "expiry" and active:
            if config.field not in record:
                return None
            return record[config.field] is None or not text(record[config.field])
        shown = self.active(record)
        return None if shown is None else shown is active

    def describe(self) -> str:
        """How the platform shows the state, for reasons: ``expires_at`` or ``status``."""
        return self._config.field if self._config is not None else "its state"

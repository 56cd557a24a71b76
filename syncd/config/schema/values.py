"""Value types of the configuration: guard thresholds, schedules, conditions, course ids."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    model_serializer,
    model_validator,
)
from pydantic import Strict as StrictType

from syncd.config.schema.durations import Duration
from syncd.config.schema.strict import Strict


def _threshold_json_schema(schema: dict[str, Any]) -> None:
    """As the file writes it (``5%`` or ``25``), not as the model holds it."""
    description = schema.get("description", "")
    schema.clear()
    schema.update(
        description=description,
        anyOf=[
            {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*%?\s*$", "examples": ["5%"]},
            {"type": "integer", "minimum": 0},
        ],
    )


class Threshold(Strict):
    """A guard limit: a share of the linked users (``5%``) or an absolute count (``25``)."""

    model_config = ConfigDict(**Strict.model_config, json_schema_extra=_threshold_json_schema)

    percent: float | None = Field(None, ge=0, le=100)
    absolute: int | None = Field(None, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(_THRESHOLD_FORMS)
        if isinstance(value, int):
            return {"absolute": value}
        if isinstance(value, str):
            text = value.strip()
            if re.fullmatch(r"\d+(\.\d+)?\s*%", text):
                return {"percent": float(text.rstrip("%").strip())}
            if re.fullmatch(r"\d+", text):
                return {"absolute": int(text)}
            raise ValueError(f"{value!r}: {_THRESHOLD_FORMS}")
        if isinstance(value, dict):
            return value
        raise ValueError(_THRESHOLD_FORMS)

    @model_validator(mode="after")
    def _one_of(self) -> Threshold:
        if (self.percent is None) == (self.absolute is None):
            raise ValueError(_THRESHOLD_FORMS)
        return self

    @model_serializer
    def _serialize(self) -> str | int:
        if self.percent is not None:
            return f"{self.percent:g}%"
        return self.absolute  # type: ignore[return-value]

    def exceeded(self, count: int, linked_total: int) -> bool:
        """Whether ``count`` deactivations among ``linked_total`` linked users is too many."""
        if self.percent is not None:
            return count > linked_total * self.percent / 100
        return count > (self.absolute or 0)


_THRESHOLD_FORMS = "write a share of the linked users (e.g. 5%) or an absolute number (e.g. 25)"


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{value!r} is not a time zone name of the IANA database (e.g. Europe/Berlin, "
            "America/New_York, UTC)"
        ) from None
    return value


def _crontab(value: str) -> str:
    from apscheduler.triggers.cron import CronTrigger

    try:
        trigger = CronTrigger.from_crontab(value, timezone=UTC)
    except ValueError as error:
        raise ValueError(
            f"{value!r} is not a 5-field crontab (minute hour day month weekday): {error}"
        ) from None
    if trigger.get_next_fire_time(None, datetime.now(UTC)) is None:
        raise ValueError(f"{value!r} never fires (no such day exists): the cycle would never run")
    return value


ZoneName = Annotated[str, AfterValidator(_zone)]
"""A time zone name of the IANA database (``Europe/Berlin``)."""

Crontab = Annotated[str, AfterValidator(_crontab)]
"""A 5-field crontab that fires at least once."""


class Schedule(Strict):
    """When a cycle runs: ``{every: 15m}`` or ``{cron: "*/15 * * * *"}`` (5-field crontab).

    A crontab is read in ``timezone`` (an IANA name such as ``Europe/Berlin``, default
    UTC), so "at 02:00" stays 02:00 local time across daylight saving changes.
    """

    every: Duration | None = None
    cron: Crontab | None = None
    timezone: ZoneName | None = Field(None, examples=["Europe/Berlin", "America/New_York"])

    @model_validator(mode="after")
    def _exactly_one(self) -> Schedule:
        if (self.every is None) == (self.cron is None):
            raise ValueError("give exactly one of every (e.g. every: 15m) or cron")
        if self.every is not None and self.every <= timedelta(0):
            raise ValueError("every must be longer than 0s")
        if self.timezone is not None and self.cron is None:
            raise ValueError("timezone applies to cron only: every runs at the same pace anywhere")
        return self

    @property
    def zone(self) -> Any:
        """The zone the crontab is read in."""
        return ZoneInfo(self.timezone) if self.timezone is not None else UTC

    def trigger(self) -> Any:
        """The APScheduler trigger for this schedule."""
        if self.cron is not None:
            from apscheduler.triggers.cron import CronTrigger

            return CronTrigger.from_crontab(self.cron, timezone=self.zone)
        from apscheduler.triggers.interval import IntervalTrigger

        assert self.every is not None
        return IntervalTrigger(seconds=self.every.total_seconds(), timezone=UTC)


def _template_or_bool(value: Any) -> Any:
    if isinstance(value, str | bool):
        return value
    raise ValueError("must be true, false or a template such as \"{{ status == 'active' }}\"")


Condition = Annotated[str | bool, BeforeValidator(_template_or_bool)]
"""``active`` / ``when``: a bool, or a template whose result is true/false."""


def _course_id(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        raise ValueError("must be a course id (a number or a non-empty text)")
    return value


CourseId = Annotated[Annotated[int, StrictType()] | str, BeforeValidator(_course_id)]


def _text_map(value: Any) -> Any:
    """YAML reads ``{101: Sales}`` with a number key; group names are text."""
    if not isinstance(value, dict):
        return value
    result = {}
    for key, item in value.items():
        for part in (key, item):
            if not isinstance(part, str | int | float) or isinstance(part, bool):
                raise ValueError(f"{part!r} is not a group name (write text)")
        result[str(key)] = str(item)
    return result

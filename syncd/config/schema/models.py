"""The pydantic models of SPEC §3, from ``state`` down to one connector's rules."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    JsonValue,
    SecretStr,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from syncd.config.schema.durations import Duration
from syncd.config.schema.reconcile import OnLeaveConfig, ReconcileConfig
from syncd.config.schema.sinks import SinkConfig
from syncd.config.schema.sources import SourceConfig
from syncd.config.schema.strict import Strict
from syncd.config.schema.targets import TargetConfig
from syncd.config.schema.values import Condition, CourseId, Schedule, Threshold, _text_map
from syncd.config.schema.xapi import XapiSourceConfig


class StateConfig(Strict):
    url: SecretStr = SecretStr("sqlite:///syncd-state.db")  # may hold a password
    auto_migrate: bool = True

    @field_validator("url")
    @classmethod
    def _database(cls, value: SecretStr) -> SecretStr:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            backend = make_url(value.get_secret_value()).get_backend_name()
        except ArgumentError:
            raise ValueError(
                "is not a database URL (e.g. sqlite:///syncd-state.db or "
                "postgresql+psycopg://user@host/db)"
            ) from None
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(f"the state store must be SQLite or PostgreSQL, not {backend}")
        return value


class LogConfig(Strict):
    format: Literal["json", "console"] | None = None  # None: console on a TTY, json otherwise
    level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("format", "level", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


class ServerConfig(Strict):
    listen: str = "127.0.0.1:9465"

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        _split_listen(value)
        return value

    @property
    def host(self) -> str:
        return _split_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return _split_listen(self.listen)[1]


def _split_listen(value: str) -> tuple[str, int]:
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d+)|([^:\s\[\]]+):(\d+)", value.strip())
    if not match:
        raise ValueError(f"{value!r} is not host:port (e.g. 127.0.0.1:9465 or [::1]:9465)")
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4))
    if port > 65535:
        raise ValueError(f"port {port} is out of range (0-65535)")
    return host, port


class UsersConfig(Strict):
    """How one HR record becomes one LMS account."""

    match: str | None = None  # the LMS field that finds existing accounts on first sync
    fields: dict[str, JsonValue] = Field(min_length=1)
    active: Condition = True
    on_missing: Literal["deactivate", "delete", "ignore"] = "deactivate"
    on_leave: OnLeaveConfig = Field(default_factory=OnLeaveConfig)


class GroupRule(Strict):
    """One membership per rendered value (a list gives several); ``map`` renames values."""

    from_: str = Field(alias="from")
    map: Annotated[
        dict[str, str],
        BeforeValidator(_text_map),
        WithJsonSchema({"type": "object", "additionalProperties": {"type": ["string", "number"]}}),
    ] = Field(default_factory=dict)
    create_missing: bool = False
    kind: Literal["group", "branch"] = "group"


class EnrollmentRule(Strict):
    when: Condition = True
    courses: list[CourseId] = Field(min_length=1)
    learning_paths: list[CourseId] = Field(default_factory=list)


class GuardConfig(Strict):
    max_deactivations: Threshold = Field(default_factory=lambda: Threshold.model_validate("10%"))


class PullConfig(Strict):
    """Learning results back to HR; without its own ``schedule`` it follows the connector's."""

    sink: str
    schedule: Schedule | None = None
    start_date: date | None = None  # how far back the first pull reaches
    overlap: Duration = timedelta(hours=1)  # re-read this much before the cursor
    budget_share: float = Field(0.5, gt=0, le=1)  # share of the rate limit pull may use
    # Results of LMS accounts linked to nobody (admins, external learners): counted apart in
    # ``syncd status`` and /metrics (report) or not at all (ignore); never a failure.
    unlinked: Literal["report", "ignore"] = "report"
    # Windows of the syncd_certifications_expiring gauge; the first is `syncd results`' default.
    expiring_within: list[Duration] = Field(default_factory=lambda: [timedelta(days=30)])
    # Where results come from: the vendor's API, a learning record store (``xapi``), or both.
    from_: Literal["vendor", "xapi", "both"] = Field("vendor", alias="from")
    xapi: XapiSourceConfig | None = None

    @model_validator(mode="after")
    def _source_configured(self) -> PullConfig:
        if self.from_ != "vendor" and self.xapi is None:
            raise ValueError(f"from: {self.from_} needs an xapi block (endpoint, auth, actor)")
        if self.from_ == "vendor" and self.xapi is not None:
            raise ValueError("xapi is set but from is vendor: set from: xapi or both")
        return self

    @property
    def reads_vendor(self) -> bool:
        return self.from_ != "xapi"


NAME_LENGTH = 100
"""The longest connector or sink name the state store keeps (its ``connector`` columns)."""

ShortName = Annotated[str, Field(max_length=NAME_LENGTH)]


class ConnectorConfig(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$", max_length=NAME_LENGTH)
    source: str
    scope: str | None = None
    schedule: Schedule
    paused: bool = False
    target: TargetConfig
    users: UsersConfig
    groups: list[GroupRule] = Field(default_factory=list)
    enrollments: list[EnrollmentRule] = Field(default_factory=list)
    guard: GuardConfig = Field(default_factory=GuardConfig)
    pull: PullConfig | None = None
    reconcile: ReconcileConfig | None = None


class Config(Strict):
    state: StateConfig = Field(default_factory=StateConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    sources: dict[str, SourceConfig] = Field(default_factory=dict)
    sinks: dict[ShortName, SinkConfig] = Field(default_factory=dict)
    connectors: list[ConnectorConfig] = Field(default_factory=list)

    def connector(self, name: str) -> ConnectorConfig:
        """The connector called ``name``; KeyError listing the known names otherwise."""
        for connector in self.connectors:
            if connector.name == name:
                return connector
        known = ", ".join(c.name for c in self.connectors) or "none"
        raise KeyError(f"no connector named {name!r} (configured: {known})")

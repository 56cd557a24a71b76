"""Configuration models of the LMS targets (SPEC §3 ``connectors[].target``).

One model per vendor, discriminated by ``type``. What they share: a vendor URL that
must be https (loopback excepted, so the sandbox works), a timeout and a deadline, and a rate limit
that defaults to what the vendor documents, because tripping a vendor's limit is
the failure users forgive least.
"""

from __future__ import annotations

import re
import string
from datetime import timedelta
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator

from syncd.config.schema.durations import Duration
from syncd.config.schema.rate_limits import RateLimitConfig, merge_rate_limit
from syncd.config.schema.strict import Strict
from syncd.config.schema.urls import VendorUrl

TALENTLMS_RATE_LIMIT = {"per_hour": 2000, "burst": 200, "burst_window": "5s"}
HOWNOW_RATE_LIMIT = {"per_minute": 50, "per_hour": 3000}
UNDOCUMENTED_RATE_LIMIT = {"per_minute": 60}  # iLMS and Learning Pool publish none: stay modest


class _TargetBase(Strict):
    default_rate_limit: ClassVar[dict[str, Any]]  # what the vendor documents, or a modest guess

    base_url: VendorUrl
    timeout: float = Field(30.0, gt=0)  # seconds any one read may wait
    deadline: float = Field(300.0, gt=0)  # seconds one whole call may take, trickle or not
    rate_limit: RateLimitConfig
    # A vendor job (TalentLMS task, HowNow upsert job) still unfinished this long after it
    # was sent is given up and reported, naming the people in it.
    job_timeout: Duration = timedelta(minutes=30)

    @field_validator("job_timeout")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value.total_seconds() <= 0:
            raise ValueError("must be longer than 0s (e.g. 30m)")
        return value

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        return merge_rate_limit(cls.default_rate_limit)(data)


class TalentLMSTarget(_TargetBase):
    default_rate_limit: ClassVar[dict[str, Any]] = TALENTLMS_RATE_LIMIT
    type: Literal["talentlms"]
    api_key: SecretStr
    api_version: str = "2025-01-01"
    password_length: int = Field(20, ge=8, le=191)  # new accounts need one; v2 allows 191 chars


def _identifier_text(value: Any) -> Any:
    """YAML reads ``client_id: 12345`` as a number; identifiers are text."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Identifier = Annotated[str, BeforeValidator(_identifier_text), Field(min_length=1)]

_HOWNOW_USER_REF = re.compile(r"(ID-\d+|EXT-[A-Za-z0-9_-]+)")
_HOWNOW_ACTING_USER = re.compile(r"(ID-\d+|EXT-[A-Za-z0-9_-]+|EMAIL-\S+@\S+)")


class HowNowTarget(_TargetBase):
    default_rate_limit: ClassVar[dict[str, Any]] = HOWNOW_RATE_LIMIT
    type: Literal["hownow"]
    client_id: Identifier
    client_secret: SecretStr
    deactivate_assign_to: str  # HowNow refuses to deactivate a content owner without an heir
    x_user_id: str | None = None

    @field_validator("deactivate_assign_to")
    @classmethod
    def _user_ref(cls, value: str) -> str:
        if not _HOWNOW_USER_REF.fullmatch(value):
            raise ValueError(
                "must name an active, non-ReadOnly HowNow user as EXT-<external_user_id> "
                "or ID-<number> (e.g. EXT-svc_admin)"
            )
        return value

    @field_validator("x_user_id")
    @classmethod
    def _acting_user(cls, value: str | None) -> str | None:
        if value is not None and not _HOWNOW_ACTING_USER.fullmatch(value):
            raise ValueError("must be EXT-<external_user_id>, ID-<number> or EMAIL-<address>")
        return value


class ILMSTarget(_TargetBase):
    default_rate_limit: ClassVar[dict[str, Any]] = UNDOCUMENTED_RATE_LIMIT
    type: Literal["ilms"]
    org_id: Identifier
    api_login_id: SecretStr
    transaction_key: SecretStr
    # What the iLMS document leaves to each organization's settings:
    send_registration_mail: bool = False  # iLMS mails new users only when asked (L373)
    required_fields: list[str] = Field(default_factory=list)  # mandatory "dep" fields (F004 …)
    allow_amp_hash: bool = False  # "& #" in names and the hierarchy (refused unless iLMS Connect)
    ldap: bool = False  # LDAP organizations restrict the first character of e-mail addresses
    languages: list[str] | None = None  # the languages enabled (default: all 22 documented)

    @field_validator("org_id")
    @classmethod
    def _numeric(cls, value: str) -> str:
        if not value.isdigit():
            raise ValueError("must be the numeric iLMS organization id (e.g. 99999)")
        return value


ENDPOINT_PLACEHOLDERS = frozenset({"user_id", "hr_key", "group_id", "course_id"})
"""Names a Learning Pool endpoint path may use: ``/users/{user_id}/groups/{group_id}``."""

_PLACEHOLDER_MARKER = "<CONFIRM>"


class Endpoint(Strict):
    """One Learning Pool operation its public documents leave out, configured by the customer."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    path: str = Field(min_length=1)

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if _PLACEHOLDER_MARKER in value:
            raise ValueError(f"still holds the {_PLACEHOLDER_MARKER} placeholder")
        if not value.startswith("/"):
            raise ValueError("must start with / (it is appended to base_url)")
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        except ValueError as error:
            raise ValueError(f"has unbalanced braces: {error}") from None
        unknown = sorted(names - ENDPOINT_PLACEHOLDERS)
        if unknown:
            allowed = ", ".join(f"{{{n}}}" for n in sorted(ENDPOINT_PLACEHOLDERS))
            raise ValueError(f"unknown placeholder {{{unknown[0]}}}; allowed: {allowed}")
        return value


class CompletionsEndpoint(Endpoint):
    """The completions feed, and the query parameter (if any) that filters it by last change.

    ``since_param`` names a parameter taking an ISO 8601 time and returning records changed
    at or after it; without one syncd reads the feed in a scan within its call budget.
    """

    since_param: str | None = Field(None, min_length=1, pattern=r"^[A-Za-z0-9_.\[\]-]+$")


class LearningPoolEndpoints(Strict):
    """Every operation syncd may use; one left out is a capability the connector lacks."""

    users_list: Endpoint | None = None
    user_get: Endpoint | None = None
    user_create: Endpoint | None = None
    user_update: Endpoint | None = None
    user_deactivate: Endpoint | None = None
    user_reactivate: Endpoint | None = None
    groups_list: Endpoint | None = None
    group_member_add: Endpoint | None = None
    group_member_remove: Endpoint | None = None
    enrolment_create: Endpoint | None = None
    completions_list: CompletionsEndpoint | None = None

    def configured(self) -> frozenset[str]:
        return frozenset(name for name in type(self).model_fields if getattr(self, name))


class LearningPoolTarget(_TargetBase):
    default_rate_limit: ClassVar[dict[str, Any]] = UNDOCUMENTED_RATE_LIMIT
    type: Literal["learningpool"]
    client_id: Identifier
    client_secret: SecretStr
    token_path: str = Field("/oauth/token", pattern=r"^/")
    endpoints: LearningPoolEndpoints = Field(default_factory=LearningPoolEndpoints)


TargetConfig = Annotated[
    TalentLMSTarget | HowNowTarget | ILMSTarget | LearningPoolTarget,
    Field(discriminator="type"),
]

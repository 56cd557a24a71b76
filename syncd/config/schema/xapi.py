"""Configuration of a learning record store (xAPI 1.0.3): the ``xapi`` sink and ``pull.xapi``.

Both talk to an LRS the same way (``LrsConnection``: its endpoint, credentials, rate
limit) and name people and courses the same way (``XapiActor``, the activity IRIs), so
what the sink writes, the source reads back.
"""

from __future__ import annotations

import string
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, field_validator, model_validator

from syncd.config.schema.rate_limits import RateLimitConfig, merge_rate_limit
from syncd.config.schema.sources import HttpAuth, SendsCredentials
from syncd.config.schema.strict import Strict
from syncd.config.schema.urls import VendorUrl

XAPI_RATE_LIMIT = {"per_minute": 300}
"""xAPI sets no rate limit and LRSs publish none: a modest pace, to raise for your LRS."""

ACTOR_PLACEHOLDERS = ("hr_key", "lms_user_id")
RESULT_STATUSES = Literal["not_started", "in_progress", "completed", "passed", "failed", "waived"]


def _iri(value: str) -> str:
    """An absolute http(s) IRI without a trailing slash (paths are appended to it)."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{value!r} is not an absolute http(s) IRI (e.g. https://lms.example.com)")
    if any(char.isspace() for char in value.strip()):
        raise ValueError(f"{value!r} holds white space, which no IRI may")
    return value.strip().rstrip("/")


Iri = Annotated[str, AfterValidator(_iri)]


def placeholder_of(template: str) -> str:
    """The one placeholder (``hr_key`` or ``lms_user_id``) of an mbox template."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as error:
        raise ValueError(f"has unbalanced braces: {error}") from None
    if len(names) != 1 or names[0] not in ACTOR_PLACEHOLDERS:
        raise ValueError(
            "must hold exactly one placeholder, {hr_key} or {lms_user_id} "
            "(e.g. mailto:{hr_key}@example.com)"
        )
    return names[0]


class XapiAccount(Strict):
    """``actor.account``: ``homePage`` is this IRI, ``name`` the person's HR key or LMS id."""

    home_page: Iri
    name: Literal["hr_key", "lms_user_id"] = "hr_key"


class XapiActor(Strict):
    """How a statement names the person: an ``account``, an ``mbox`` built by a template, or
    an ``mbox`` holding the LMS user's own e-mail (``email_field``)."""

    account: XapiAccount | None = None
    mbox: str | None = None  # mailto:{hr_key}@example.com
    # The users.fields key holding the LMS user's e-mail: the actor is mailto:<that e-mail>
    # as syncd last pushed it (the link), and is read back through the links.
    email_field: str | None = Field(None, min_length=1)

    @field_validator("mbox")
    @classmethod
    def _mbox(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith("mailto:") or "@" not in value:
            raise ValueError(
                "must be a mailto: address template (e.g. mailto:{hr_key}@example.com)"
            )
        placeholder_of(value)
        return value

    @model_validator(mode="after")
    def _one_at_least(self) -> XapiActor:
        if self.account is None and self.mbox is None and self.email_field is None:
            raise ValueError("set account (home_page, name), mbox or email_field")
        return self

    @property
    def forms(self) -> int:
        """How many actor forms are set (a statement written by the sink has one)."""
        return sum(form is not None for form in (self.account, self.mbox, self.email_field))


class LrsConnection(SendsCredentials):
    """An LRS's xAPI endpoint (statements live at ``{endpoint}/statements``) and its limits."""

    default_rate_limit: ClassVar[dict[str, Any]] = XAPI_RATE_LIMIT
    url_field: ClassVar[str] = "endpoint"

    endpoint: VendorUrl  # e.g. https://lrs.example.com/data/xAPI
    auth: HttpAuth | None = None  # basic (an LRS key and secret) or oauth2
    rate_limit: RateLimitConfig
    timeout: float = Field(30.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        return merge_rate_limit(cls.default_rate_limit)(data)


class XapiSinkConfig(LrsConnection):
    """Learning results sent to an LRS as xAPI statements (``sinks: {type: xapi}``)."""

    type: Literal["xapi"]
    actor: XapiActor
    activity_base: Iri  # a course's activity IRI is {activity_base}/{vendor}/{course id}
    extension_base: Iri | None = None  # default {activity_base}/extensions
    language: str = Field("en-US", pattern=r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")
    batch_size: int = Field(50, ge=1, le=1000)  # statements per sink write (one PUT each)

    @model_validator(mode="after")
    def _one_actor_form(self) -> XapiSinkConfig:
        if self.actor.forms > 1:
            raise ValueError(
                "actor: set one of account, mbox and email_field (a statement has one actor)"
            )
        return self

    @property
    def extensions(self) -> str:
        return self.extension_base or f"{self.activity_base}/extensions"


class XapiSourceConfig(LrsConnection):
    """``pull.xapi``: where a connector reads learning results from an LRS."""

    actor: XapiActor  # every form set is recognised
    # Statements whose activity id starts with this are courses: the rest of the id is the
    # course id. Without it the whole activity IRI is the course id.
    activity_prefix: str | None = Field(None, min_length=1)
    extension_base: Iri | None = None  # where the xapi sink put certificate extensions
    verbs: dict[str, RESULT_STATUSES] = Field(default_factory=dict)  # verb IRI -> status
    page_size: int | None = Field(None, ge=1, le=10_000)  # ``limit``; None: the LRS's own

    @field_validator("verbs")
    @classmethod
    def _verb_iris(cls, value: dict[str, str]) -> dict[str, str]:
        for verb in value:
            _iri(verb)
        return value

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

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from syncd.config.schema.durations import Duration
from syncd.config.schema.rate_limits import RateLimitConfig, merge_rate_limit
from syncd.config.schema.strict import Strict
from syncd.config.schema.urls import VendorUrl

TALENTLMS_RATE_LIMIT = {"per_hour": 2000, "burst": 200, "burst_window": "5s"}
HOWNOW_RATE_LIMIT = {"per_minute": 50, "per_hour": 3000}
UNDOCUMENTED_RATE_LIMIT = {"per_minute": 60}  # iLMS and Learning Pool publish none: stay modest


class _TargetBase(Strict):
    default_rate_limit: ClassVar[dict[str, Any]]  # what the vendor documents, or a modest guess
    # Options that decide what a person's account should look like or whether it is valid:
    # part of the mapping fingerprint, so changing one re-plans everyone.
    shapes_people: ClassVar[frozenset[str]] = frozenset()

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


Identifier = Annotated[
    str,
    BeforeValidator(_identifier_text),
    Field(min_length=1),
    WithJsonSchema({"anyOf": [{"type": "string", "minLength": 1}, {"type": "integer"}]}),
]

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
    shapes_people: ClassVar[frozenset[str]] = frozenset(
        {"required_fields", "allow_amp_hash", "ldap", "languages"}
    )
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
    # Pulls read a course's enrollments only when its summary counts moved; this often they
    # read every course's enrollments anyway (what counts cannot show: a re-take, a swap).
    # null: never.
    results_recheck_every: Duration | None = timedelta(days=1)

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


_PARAMETER = r"^[A-Za-z0-9_.\[\]-]+$"
"""A query parameter's name: ``since``, ``filter[email]``, ``page.size``."""

Parameter = Annotated[str, Field(min_length=1, pattern=_PARAMETER)]


class UsersListEndpoint(Endpoint):
    """The user listing, and the query parameter (if any) that filters it by each field.

    ``filters`` maps a field of ``users.fields`` (``email``) to the parameter that finds
    the accounts holding a value (``email`` for ``?email=...``). A field without one is
    looked up by reading the whole listing, which costs more calls but guesses nothing.
    """

    filters: dict[str, Parameter] = Field(default_factory=dict)


class FeedEndpoint(Endpoint):
    """A results feed (completions, in-progress), and its "changed since" parameter, if any.

    ``since_param`` names a parameter taking an ISO 8601 time and returning records changed
    at or after it; without one syncd reads the feed in a scan within its call budget.
    """

    since_param: Parameter | None = None


class LearningPoolEndpoints(Strict):
    """Every operation syncd may use; one left out is a capability the connector lacks."""

    users_list: UsersListEndpoint | None = None
    user_get: Endpoint | None = None
    user_create: Endpoint | None = None
    user_update: Endpoint | None = None
    user_deactivate: Endpoint | None = None
    user_reactivate: Endpoint | None = None
    groups_list: Endpoint | None = None
    group_members_list: Endpoint | None = None
    group_member_add: Endpoint | None = None
    group_member_remove: Endpoint | None = None
    user_enrolments_list: Endpoint | None = None
    enrolment_create: Endpoint | None = None
    completions_list: FeedEndpoint | None = None
    in_progress_list: FeedEndpoint | None = None

    def configured(self) -> frozenset[str]:
        return frozenset(name for name in type(self).model_fields if getattr(self, name))


LIST_ENDPOINTS = frozenset(
    {
        "users_list",
        "groups_list",
        "group_members_list",
        "user_enrolments_list",
        "completions_list",
        "in_progress_list",
    }
)
"""The endpoints that answer a list, read page by page as ``paging`` says."""


class Paging(Strict):
    """How the platform's listings are paged; Learning Pool documents none of it.

    ``style: page`` sends the page number (1, 2, ...) in ``page_param``; ``style: offset``
    sends how many records to skip (0, 100, ...). ``size_param`` carries ``page_size``.
    ``max_pages`` is syncd's own bound on one listing: a listing longer than that, or a
    page that repeats the one before (an API ignoring ``page_param``), is an error naming
    the endpoint instead of a loop.
    """

    style: Literal["page", "offset"]
    page_param: Parameter
    size_param: Parameter
    page_size: int = Field(ge=1, le=10_000)
    max_pages: int = Field(1000, ge=1)


Value = str | int | float | bool


class Deactivation(Strict):
    """How the platform deactivates a user and shows it; Learning Pool's API does not say.

    - ``expiry``: the deactivate call sets ``field`` to a minute ago and the reactivate
      call clears it (``null``); an account whose ``field`` is a past time is inactive.
      This is the help centre's "Expires At", which Learning Pool recommends.
    - ``flag``: the deactivate call sets ``field`` to ``inactive`` and the reactivate
      call to ``active``.
    - ``action``: the configured endpoints do it themselves and get no body; an account
      whose ``field`` holds one of the ``inactive`` values is inactive.

    ``field`` is also what syncd reads back to confirm, and syncd owns it: a mapping may
    not set it.
    """

    method: Literal["expiry", "flag", "action"]
    field: Parameter
    inactive: list[Value] = Field(default_factory=list)
    active: Value | None = None

    @field_validator("inactive", mode="before")
    @classmethod
    def _listed(cls, value: Any) -> Any:
        return value if isinstance(value, list) else [value]

    @model_validator(mode="after")
    def _complete(self) -> Deactivation:
        if self.method == "expiry" and (self.inactive or self.active is not None):
            raise ValueError("method expiry takes no inactive or active values (it sets a time)")
        if self.method != "expiry" and not self.inactive:
            raise ValueError(
                f"method {self.method} needs inactive: the value(s) of {self.field} "
                "that mean deactivated"
            )
        if self.method == "flag" and self.active is None:
            raise ValueError(f"method flag needs active: the value of {self.field} to reactivate")
        if self.method == "flag" and len(self.inactive) != 1:
            raise ValueError("method flag needs exactly one inactive value (the one it sends)")
        return self


FieldName = Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]
"""A field of the platform's JSON records; dots reach into nested objects (``meta.total``)."""

FORMATS = Literal["email", "no_spaces", "time_zone", "country", "language"]


class UserRecord(Strict):
    """A user record as the platform's API names its fields (Learning Pool publishes none).

    ``id`` holds the account id. ``unique`` are fields the platform keeps unique
    (compared without case; the first is the natural match key). ``hr_id``, when the
    mapping sends it, proves an account is this person's. ``writable`` are the fields a
    mapping may set; ``required``, ``read_only``, ``max_length`` and ``formats`` are
    the rules checked before sending, each reason naming the field.
    """

    id: FieldName
    unique: list[FieldName] = Field(min_length=1)
    hr_id: FieldName | None = None
    writable: list[FieldName] = Field(min_length=1)
    required: list[FieldName] = Field(default_factory=list)
    read_only: list[FieldName] = Field(default_factory=list)
    max_length: dict[FieldName, Annotated[int, Field(ge=1)]] = Field(default_factory=dict)
    formats: dict[FieldName, FORMATS] = Field(default_factory=dict)

    @property
    def keys(self) -> list[str]:
        """Fields that find one account: the HR id first, then the unique ones."""
        return [*([self.hr_id] if self.hr_id else []), *self.unique]

    @property
    def caseless(self) -> frozenset[str]:
        return frozenset(self.keys)


class GroupRecord(Strict):
    """A group record: its id, its name and (optionally) its External Ref."""

    id: FieldName
    name: FieldName
    external_ref: FieldName | None = None


class ResultRecord(Strict):
    """A completions (or in-progress) record: who, which course, what state, and when.

    ``course_id`` lists the fields that may name the course, the first holding a value
    wins. ``updated_at`` is the feed's own change time (its cursor). ``keep`` are fields
    kept with the result as the vendor's raw values.
    """

    user_id: FieldName
    course_id: list[FieldName] = Field(min_length=1)
    updated_at: FieldName
    id: FieldName | None = None
    status: FieldName | None = None
    completed_at: FieldName | None = None
    started_at: FieldName | None = None
    progress: FieldName | None = None
    score: FieldName | None = None
    course_title: FieldName | None = None
    certificate_url: FieldName | None = None
    certificate_expires_at: FieldName | None = None
    keep: list[FieldName] = Field(default_factory=list)


class ListingMeta(Strict):
    """Where a listing's answer says whether more follows; none set: a short page ends it."""

    next_link: FieldName | None = None  # e.g. links.next: empty or null on the last page
    current_page: FieldName | None = None
    last_page: FieldName | None = None
    total: FieldName | None = None


class LearningPoolRecords(Strict):
    """How the platform's answers hold records, and its records' field names.

    ``envelope`` is the key an answer wraps its record or list in (``data``), or
    ``none`` for bare answers. Each other part is needed by the endpoints that read it:
    ``user`` by every user operation, ``group`` by ``groups_list``, ``member_user_id``
    by ``group_members_list``, ``enrolment_course`` by ``user_enrolments_list``,
    ``result`` by the results feeds. ``config check`` names each one missing.
    """

    envelope: FieldName | None = None
    listing: ListingMeta = Field(default_factory=ListingMeta)
    user: UserRecord | None = None
    group: GroupRecord | None = None
    member_user_id: FieldName | None = None
    enrolment_course: list[FieldName] | None = Field(None, min_length=1)
    result: ResultRecord | None = None

    @property
    def wrapper(self) -> str | None:
        """The envelope's key; None for bare answers."""
        return None if self.envelope in (None, "none") else self.envelope


class LearningPoolTarget(_TargetBase):
    """Learning Pool's Simple API: its public document gives only the OAuth2 client
    credentials flow, so the token path and encoding, every endpoint, the paging and the
    deactivation method are the customer's to configure, with no default of syncd's."""

    default_rate_limit: ClassVar[dict[str, Any]] = UNDOCUMENTED_RATE_LIMIT
    type: Literal["learningpool"]
    client_id: Identifier
    client_secret: SecretStr
    # Required, but checked with the connector (``LearningPoolFacts.unset``) so that one
    # ``config check`` names every key still to set, not these two first and the rest after.
    token_path: str | None = Field(None, pattern=r"^/")
    token_encoding: Literal["form", "json"] | None = None
    endpoints: LearningPoolEndpoints = Field(default_factory=LearningPoolEndpoints)
    paging: Paging | None = None
    deactivation: Deactivation | None = None
    records: LearningPoolRecords = Field(default_factory=LearningPoolRecords)


TargetConfig = Annotated[
    TalentLMSTarget | HowNowTarget | ILMSTarget | LearningPoolTarget,
    Field(discriminator="type"),
]

"""Configuration models of the HR sources (SPEC §3 ``sources:``)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Self
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, SecretStr, model_validator

from syncd.config.schema.strict import Strict
from syncd.config.schema.urls import is_loopback_host
from syncd.jsonpath import JsonPathSyntaxError, compile_path


def _json_path(expression: str) -> str:
    """Caught at ``config check``, not at the first cycle."""
    try:
        compile_path(expression)
    except JsonPathSyntaxError as error:
        raise ValueError(str(error)) from None
    return expression


JsonPath = Annotated[str, AfterValidator(_json_path)]


class BearerAuth(Strict):
    type: Literal["bearer"]
    token: SecretStr


class BasicAuth(Strict):
    type: Literal["basic"]
    username: str
    password: SecretStr


class OAuth2ClientCredentials(Strict):
    type: Literal["oauth2"]
    token_url: str
    client_id: str
    client_secret: SecretStr
    scope: str | None = None
    # How the client authenticates to the token endpoint: HTTP Basic (RFC 6749 §2.3.1,
    # which every server must accept) or client_id/client_secret in the form body.
    client_auth: Literal["basic", "post"] = "basic"


HttpAuth = Annotated[BearerAuth | BasicAuth | OAuth2ClientCredentials, Field(discriminator="type")]


class NextLinkPagination(Strict):
    type: Literal["next_link"]
    path: JsonPath  # to the next URL, e.g. $.links.next


class PageNumberPagination(Strict):
    type: Literal["page"]
    param: str = "page"
    size_param: str | None = "per_page"
    size: int = Field(100, ge=1, le=10_000)
    start: int = 1


class CursorPagination(Strict):
    type: Literal["cursor"]
    param: str = "cursor"  # query parameter that carries the cursor
    path: JsonPath  # to the next cursor in the response


Pagination = Annotated[
    NextLinkPagination | PageNumberPagination | CursorPagination, Field(discriminator="type")
]


class CsvSourceConfig(Strict):
    type: Literal["csv"]
    path: str
    key: str
    delimiter: str = Field(",", min_length=1, max_length=1)
    encoding: Literal["utf-8", "utf-8-sig", "latin-1"] = "utf-8"


class SqlSourceConfig(Strict):
    type: Literal["sql"]
    url: SecretStr  # may embed a password
    query: str
    key: str
    chunk_size: int = Field(1000, ge=1)


def refuse_clear_credentials(url: str, auth: HttpAuth | None) -> None:
    """Credentials travel only over https, or plain http to this machine (the sandbox)."""
    parts = urlsplit(url)
    if auth is not None and parts.scheme == "http" and not is_loopback_host(parts.hostname or ""):
        raise ValueError(
            f"url: refusing to send the {auth.type} credentials over plain http to "
            f"{parts.hostname}: use https"
        )


class SendsCredentials(Strict):
    """A block whose ``auth`` is sent to the URL in its ``url_field``: refused at load time
    when that would be over plain http to another machine (``refuse_clear_credentials``)."""

    url_field: ClassVar[str] = "url"

    @model_validator(mode="after")
    def _credentials_stay_safe(self) -> Self:
        refuse_clear_credentials(getattr(self, self.url_field), self.auth)
        return self


class HttpSourceConfig(SendsCredentials):
    type: Literal["http"]
    url: str
    key: str
    records: JsonPath = "$[*]"  # to the list of records
    auth: HttpAuth | None = None
    paginate: Pagination | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: float = 30.0  # seconds any one read may wait
    deadline: float = Field(300.0, gt=0)  # seconds one whole page may take, trickle or not
    max_pages: int = Field(10_000, ge=1)
    max_page_bytes: int = Field(50_000_000, ge=1_000)
    # Next links may lead only to the configured URL's host, or to these (with credentials).
    allowed_hosts: list[str] = Field(default_factory=list)


SourceConfig = Annotated[
    CsvSourceConfig | SqlSourceConfig | HttpSourceConfig, Field(discriminator="type")
]

"""Configuration models of the HR sinks that receive learning results (SPEC §3 ``sinks:``).

The ``xapi`` sink's model lives with the xAPI source's (``xapi``): they name people and
courses alike.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr

from syncd.config.schema.sources import HttpAuth, SendsCredentials
from syncd.config.schema.strict import Strict
from syncd.config.schema.xapi import XapiSinkConfig


class CsvSinkConfig(Strict):
    type: Literal["csv"]
    path: str
    mode: Literal["append", "rewrite"] = "append"
    delimiter: str = Field(",", min_length=1, max_length=1)
    # OWASP CSV injection: a cell a spreadsheet would run is written behind a quote.
    escape_formulas: bool = True


class SqlSinkConfig(Strict):
    type: Literal["sql"]
    url: SecretStr
    table: str = Field("training_records", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


class HttpSinkConfig(SendsCredentials):
    type: Literal["http"]
    url: str
    auth: HttpAuth | None = None
    batch_size: int = Field(100, ge=1, le=10_000)
    hmac_secret: SecretStr | None = None  # signs each body: X-Syncd-Signature: sha256=<hex>
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: float = 30.0  # seconds any one read may wait
    deadline: float = Field(300.0, gt=0)  # seconds one whole call may take


class HowNowSinkConfig(Strict):
    """Writes learning results into HowNow (its engagement upsert); see the HowNow adapter."""

    type: Literal["hownow"]
    base_url: str
    client_id: str
    client_secret: SecretStr


SinkConfig = Annotated[
    CsvSinkConfig | SqlSinkConfig | HttpSinkConfig | HowNowSinkConfig | XapiSinkConfig,
    Field(discriminator="type"),
]

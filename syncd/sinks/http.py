"""Learning results POSTed as JSON batches to an HR endpoint.

Each request carries ``{"results": [...rows...]}`` with at most ``batch_size``
rows, and these headers a receiver can rely on:

- ``Idempotency-Key``: the SHA-256 of the body, so the same batch sent again
  (a retry, or a re-send after a crash) carries the same key and can be
  recognised; a different batch never shares it.
- ``X-Syncd-Signature: sha256=<hex>`` when ``hmac_secret`` is set: the
  HMAC-SHA256 of the exact body bytes, for the receiver to check the sender.

Passing faults (timeouts, connection errors, 5xx, 408, 429) are retried with
backoff and the same key; any other non-2xx answer refuses the batch.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any

import httpx
import structlog

from syncd.config.schema.sinks import HttpSinkConfig
from syncd.http import HrEndpoint, ReadLimits, RetryPolicy
from syncd.model import LearningResult
from syncd.sink_protocol import SinkBase, SinkError

log = structlog.get_logger(__name__)

MAX_ANSWER_BYTES = 1_000_000
"""An HR endpoint's answer to a batch is a receipt, never megabytes: more is refused unread."""

SIGNATURE_HEADER = "X-Syncd-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def encode_batch(rows: list[dict[str, Any]]) -> bytes:
    """The request body: compact, UTF-8, columns in contract order (so stable)."""
    return json.dumps({"results": rows}, ensure_ascii=False, separators=(",", ":")).encode()


def idempotency_key(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def signature(body: bytes, secret: str) -> str:
    """The ``X-Syncd-Signature`` value a receiver recomputes to check a body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class HttpSink(SinkBase):
    """An HTTP endpoint receiving JSON batches (SPEC §3 ``sinks: type: http``)."""

    def __init__(
        self,
        name: str,
        config: HttpSinkConfig,
        *,
        retry: RetryPolicy | None = None,
        auth: httpx.Auth | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.max_batch = config.batch_size
        hmac_secret = config.hmac_secret
        self._endpoint = HrEndpoint.of(
            name,
            config.url,
            config.auth,
            SinkError,
            retry=retry,
            auth=auth,
            secrets=(hmac_secret.get_secret_value(),) if hmac_secret is not None else (),
        )
        self._client = self._endpoint.client(config.timeout, config.deadline, config.headers)

    def write(self, results: Sequence[LearningResult]) -> None:
        """POST the results in requests of at most ``batch_size`` rows.

        Give at most ``max_batch`` results per call for all-or-nothing delivery:
        of a larger call, the requests before a refused one stay delivered (their
        keys make a re-send of them recognisable to the receiver).
        """
        size = self.config.batch_size
        rows = [result.as_row() for result in results]
        for start in range(0, len(rows), size):
            self._post(rows[start : start + size])

    def close(self) -> None:
        self._client.close()

    def _post(self, rows: list[dict[str, Any]]) -> None:
        body = encode_batch(rows)
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            IDEMPOTENCY_HEADER: idempotency_key(body),
        }
        if self.config.hmac_secret is not None:
            headers[SIGNATURE_HEADER] = signature(body, self.config.hmac_secret.get_secret_value())

        def build() -> httpx.Request:
            return self._client.build_request(
                "POST", self.config.url, content=body, headers=headers
            )

        where = f"POST {self._endpoint.show(self.config.url)}"
        response = self._endpoint.send(
            self._client, build, where, ReadLimits(self.config.deadline, MAX_ANSWER_BYTES)
        )
        log.info(
            "sink_written",
            sink=self.name,
            type="http",
            rows=len(rows),
            status=response.status_code,
            idempotency_key=headers[IDEMPOTENCY_HEADER][:16],
        )

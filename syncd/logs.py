"""structlog set-up, done once, and the redaction processor that keeps secrets out of logs.

Redaction works on two levels: values under sensitive keys (``Authorization``,
``X-API-Key``, ``TransactionKey``, ``APILoginID``, tokens, passwords ...) are
masked whatever they hold, and every configured secret is masked wherever it
appears inside any string (an error message, a URL, a nested dict).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Iterator, MutableMapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any, TextIO

import structlog

MASK = "****"

SENSITIVE_KEYS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api_key",
        "apikey",
        "transactionkey",
        "transaction_key",
        "apiloginid",
        "api_login_id",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "client_secret",
        "secret",
        "password",
        "passwd",
        "cookie",
        "set-cookie",
        "hmac_secret",
    }
)

_CREDENTIAL_NAMES = r"(?:access_token|refresh_token|client_secret|api_key|apikey|password|token)"

# Credentials that show up inside free text: "Bearer abc", "token=abc", "X-API-Key: abc".
_INLINE_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-._~+/]+=*"),
    re.compile(r"(?i)(basic\s+)[A-Za-z0-9+/]+=*"),
    # A quoted value ("password": "a&b, c") is masked whole, up to its closing quote.
    re.compile(
        rf"(?i)({_CREDENTIAL_NAMES}[\"']?\s*[=:]\s*\")(?:\\.|[^\"\\])*(\")"
    ),
    re.compile(rf"(?i)({_CREDENTIAL_NAMES}[\"']?\s*[=:]\s*')(?:\\.|[^'\\])*(')"),
    re.compile(
        rf"(?i)({_CREDENTIAL_NAMES}"
        r"[\"']?\s*[=:]\s*)(?![\"'])[^\s&\"',;}]+"
    ),
    re.compile(r"(?i)((?:x-api-key|transactionkey|apiloginid)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;}]+"),
    re.compile(r"(?i)(://[^:/@\s]+:)[^@\s/]+(@)"),  # passwords inside URLs
)

_MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words


class Redactor:
    """A structlog processor masking secrets in every value of an event, however deep."""

    def __init__(
        self, secrets: Iterable[str] = (), *, min_length: int = _MIN_SECRET_LENGTH
    ) -> None:
        self._secrets: list[str] = []
        self._min_length = min_length
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Register more secret values (e.g. a token obtained at run time)."""
        fresh = {s for s in secrets if s and len(s) >= self._min_length}
        self._secrets = sorted(set(self._secrets) | fresh, key=len, reverse=True)

    def __call__(self, _logger: Any, _method: str, event_dict: MutableMapping[str, Any]):
        for key in list(event_dict):
            event_dict[key] = self.redact(event_dict[key], key)
        return event_dict

    def redact(self, value: Any, key: str | None = None) -> Any:
        if key is not None and key.lower() in SENSITIVE_KEYS and value not in (None, ""):
            return MASK
        if isinstance(value, str):
            return self.redact_text(value)
        if isinstance(value, dict):
            return {k: self.redact(v, str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.redact(v) for v in value]
        if isinstance(value, BaseException):
            return self.redact_text(f"{type(value).__name__}: {value}")
        return value

    def redact_text(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        for pattern in _INLINE_PATTERNS:
            text = pattern.sub(
                lambda m: m.group(1) + MASK + (m.group(2) if m.lastindex == 2 else ""), text
            )
        return text


redactor = Redactor()
"""The process-wide redactor; ``configure`` and token caches feed it secrets."""


def add_secrets(secrets: Iterable[str]) -> None:
    redactor.add(secrets)


class _StandardError:
    """``sys.stderr`` as it is when each line is written: a live progress display may stand in
    for it for a while, printing the log lines above its own."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


LEVELS = ("debug", "info", "warning", "error", "critical")


def shifted_level(level: str, shift: int) -> str:
    """``level`` made ``shift`` steps quieter (positive) or chattier (negative), within bounds:
    ``-q`` and ``-v`` on the command line move the configured ``log.level`` this way."""
    index = LEVELS.index(level.lower()) if level.lower() in LEVELS else LEVELS.index("info")
    return LEVELS[max(0, min(len(LEVELS) - 1, index + shift))]


@contextmanager
def log_context(**values: Any) -> Iterator[None]:
    """Every log line of this thread carries ``values`` until the block ends.

    A cycle binds its connector, direction, vendor and run id this way, so each line it
    logs (the vendor's calls and events included) says which cycle it belongs to;
    the daemon's worker threads are reused, hence the reset on the way out.
    """
    tokens = structlog.contextvars.bind_contextvars(**values)
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)


def _iso_times(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]):
    """Times in values as ISO 8601 in UTC (``2026-05-01T09:00:00Z``), never ``str()``'s
    blank-separated form or a local zone; a date stays a date."""
    for key, value in event_dict.items():
        if isinstance(value, datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            event_dict[key] = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
        elif isinstance(value, date):
            event_dict[key] = value.isoformat()
    return event_dict


QUIET_LIBRARIES = {
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "alembic": logging.WARNING,
    "uvicorn": logging.WARNING,
    "apscheduler": logging.ERROR,
}
"""Libraries whose lines say nothing an operator needs below these levels: httpx's carry
filled URLs (personal data; syncd logs path templates instead), Alembic's are its
set-up chatter ("Context impl", "Will assume transactional DDL"), uvicorn's start-up
and APScheduler's lines per job run say what syncd's daemon and cycle lines say
better (a run "skipped: maximum number of running instances" is the schedule meeting
a cycle still running, by design)."""


def configure(
    fmt: str | None = None,
    level: str = "info",
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> None:
    """Set up structlog once for the process.

    ``fmt`` is ``json`` or ``console``; ``None`` picks console on a TTY and JSON
    otherwise. Standard-library loggers (uvicorn, alembic) go through the same
    chain; ``QUIET_LIBRARIES`` show only their warnings.
    """
    stream = stream or _StandardError()  # type: ignore[assignment]
    redactor.add(secrets)
    if fmt is None:
        fmt = "console" if stream.isatty() else "json"
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _iso_times,
        structlog.processors.format_exc_info,
        redactor,
    ]
    numeric_level = logging.getLevelName(level.upper())
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric_level)
    for noisy, quiet_below in QUIET_LIBRARIES.items():
        logging.getLogger(noisy).setLevel(max(quiet_below, numeric_level))

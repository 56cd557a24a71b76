"""Secrets of a resolved configuration: listed for the log redactor, shown as ``****`` in output."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from pydantic import SecretStr

from syncd.config.schema.durations import format_duration
from syncd.config.schema.models import Config

MASK = "****"


_SENSITIVE_QUERY_KEYS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "access_token",
        "api_key",
        "apikey",
        "client_secret",
        "sslpassword",
        "key",
    }
)


def _url_secrets(text: str) -> list[str]:
    """Passwords inside a URL: ``user:PASSWORD@host`` and ``?password=...``."""
    if "://" not in text:
        return []
    try:
        parts = urlsplit(text)
        password = parts.password
    except ValueError:
        return []
    found = []
    if password:
        found += [password, unquote(password)]
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key.lower() in _SENSITIVE_QUERY_KEYS and value:
            found.append(value)
    return found


def mask_url(text: str) -> str:
    """``postgresql://app:s3cret@db/x`` -> ``postgresql://app:****@db/x``; other text unchanged."""
    if "://" not in text:
        return text
    try:
        parts = urlsplit(text)
        has_password = parts.password is not None
    except ValueError:
        return text
    if has_password:
        userinfo, _, hostport = parts.netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        text = text.replace(f"//{parts.netloc}", f"//{user}:{MASK}@{hostport}", 1)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if any(key.lower() in _SENSITIVE_QUERY_KEYS for key, _ in pairs):
        query = urlencode(
            [(k, MASK if k.lower() in _SENSITIVE_QUERY_KEYS else v) for k, v in pairs], safe="*"
        )
        text = text.replace(f"?{parts.query}", f"?{query}", 1)
    return text


def _plain(config: Config) -> Any:
    return config.model_dump(mode="python", by_alias=True)


def secrets(config: Config) -> list[str]:
    """Every secret value of the resolved configuration, for the log redactor."""
    found: set[str] = set()

    def visit(value: Any) -> None:
        if isinstance(value, SecretStr):
            secret = value.get_secret_value()
            if secret:
                found.add(secret)
            found.update(_url_secrets(secret))
        elif isinstance(value, str):
            found.update(_url_secrets(value))
        elif isinstance(value, dict):
            for item in value.values():
                visit(item)
        elif isinstance(value, list | tuple):
            for item in value:
                visit(item)

    visit(_plain(config))
    return sorted(s for s in found if s)


def masked(config: Config) -> dict:
    """The resolved configuration as plain data, every secret shown as ``****``.

    Keys left unset (None) are left out: they would only bury what is configured.
    """

    def convert(value: Any) -> Any:
        if isinstance(value, SecretStr):
            secret = value.get_secret_value()
            if "://" in secret and urlsplit(secret).scheme:
                return mask_url(secret)
            return MASK
        if isinstance(value, str):
            return mask_url(value)
        if isinstance(value, timedelta):
            return format_duration(value)
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, dict):
            ordered = {"type": value["type"], **value} if "type" in value else value
            return {key: convert(item) for key, item in ordered.items() if item is not None}
        if isinstance(value, list | tuple):
            return [convert(item) for item in value]
        return value

    return convert(_plain(config))

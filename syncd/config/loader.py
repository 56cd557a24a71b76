"""Loading a configuration file through every pass, and ``syncd config check``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import yaml
from pydantic import ValidationError

from syncd.config.checks import _cross_check
from syncd.config.interpolate import _Interpolator
from syncd.config.masking import masked
from syncd.config.models import Config
from syncd.config.problems import ConfigError, Problem, _os_reason, _Problems
from syncd.config.translate import _translate
from syncd.config.yamlfile import _parse_yaml


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> Config:
    """The validated configuration at ``path``, or ConfigError listing every problem."""
    file = str(path)
    environ = os.environ if environ is None else environ
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = _os_reason(error)
        raise ConfigError([Problem(file, "", f"cannot read the configuration: {reason}")]) from None
    document = _parse_yaml(text, file)
    data = document.data
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            [Problem(file, "", "must be a mapping of sections (state, log, server, sources, ...)")]
        )
    problems = _Problems(file, data, document.lines)
    problems.extend_raw(document.problems)
    interpolated = _Interpolator(environ, Path(path).resolve().parent, problems).walk(data)
    problems.interpolated = interpolated.resolved
    data = interpolated.value

    config = None
    try:
        config = Config.model_validate(data)
    except ValidationError as error:
        for raw_path, message in _translate(error, data):
            problems.add(raw_path, message)
    _cross_check(data, problems)
    if problems.items or config is None:
        raise ConfigError(problems.sorted())
    return config


def check(path: str | Path, environ: Mapping[str, str] | None = None) -> tuple[int, str]:
    """``syncd config check``: (0, resolved YAML with secrets masked) or (2, every problem)."""
    try:
        config = load_config(path, environ)
    except ConfigError as error:
        return 2, str(error)
    count = len(config.connectors)
    body = yaml.safe_dump(masked(config), sort_keys=False, allow_unicode=True)
    noun = "connector" if count == 1 else "connectors"
    return 0, f"configuration OK: {count} {noun}\n{body}"

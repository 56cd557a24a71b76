"""Loading a configuration file through every pass, and ``syncd config check``.

The checks that need the vendors' declarations and the mapping compiler are passed in
as ``connector_checks``; ``syncd.assemble`` gives them, so the CLI, the daemon and the
demo load through ``syncd.assemble.load_config``. Alone, this package checks only what
the configuration itself can know.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml
from pydantic import ValidationError

from syncd.config.checks import ConnectorCheck, _cross_check, match_problems
from syncd.config.interpolate import _Interpolator
from syncd.config.masking import masked
from syncd.config.problems import ConfigError, Problem, _os_reason, _Problems
from syncd.config.schema.models import Config
from syncd.config.translate import _translate
from syncd.config.yamlfile import _parse_yaml

CONFIG_CHECKS: tuple[ConnectorCheck, ...] = (match_problems,)
"""The per-connector checks the configuration can make on its own."""


def load_config(
    path: str | Path,
    environ: Mapping[str, str] | None = None,
    *,
    connector_checks: Sequence[ConnectorCheck] = CONFIG_CHECKS,
) -> Config:
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
    _cross_check(data, problems, connector_checks)
    if problems.items or config is None:
        raise ConfigError(problems.sorted())
    return config


def check(
    path: str | Path,
    environ: Mapping[str, str] | None = None,
    *,
    connector_checks: Sequence[ConnectorCheck] = CONFIG_CHECKS,
) -> tuple[int, str]:
    """``syncd config check``: (0, resolved YAML with secrets masked) or (2, every problem)."""
    try:
        config = load_config(path, environ, connector_checks=connector_checks)
    except ConfigError as error:
        return 2, str(error)
    count = len(config.connectors)
    if not count:
        return 2, f"{path}: connectors: none is configured, so syncd has nothing to do"
    body = yaml.safe_dump(masked(config), sort_keys=False, allow_unicode=True)
    noun = "connector" if count == 1 else "connectors"
    return 0, f"configuration OK: {count} {noun}\n{body}"

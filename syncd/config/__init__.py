"""The configuration (SPEC §3): YAML in, validated models out, or every problem at once.

Loading is four passes over one document, each collecting problems instead of
stopping at the first: YAML syntax, ``${...}`` interpolation, the pydantic models,
then what no single model can see (references between sections, names used twice,
and the per-connector checks the caller gives: ``syncd.assemble`` adds what the vendor
can do and whether the templates compile). A problem names the file, the key path
(``connectors[talentlms].target.base_url``) and, when known, the line. Secrets are
never echoed: ``masked`` and ``check`` show them as ``****``.

Each pass has its own module (``yamlfile``, ``interpolate``, ``translate``, ``checks``),
the pydantic models have the ``schema`` package, and the problems (``problems``),
secrets (``masking``) and the entry points (``loader``) theirs. This package imports
nothing of syncd but the vocabulary. Import from ``syncd.config`` or
``syncd.config.schema.<module>``.
"""

from __future__ import annotations

from syncd.config.checks import ConnectorCheck, ConnectorParts
from syncd.config.loader import CONFIG_CHECKS, check, load_config
from syncd.config.masking import MASK, mask_url, masked, secrets
from syncd.config.problems import ConfigError, Problem
from syncd.config.schema.durations import (
    DURATION_FORMS,
    Duration,
    format_duration,
    parse_duration,
)
from syncd.config.schema.models import (
    Config,
    ConnectorConfig,
    EnrollmentRule,
    GroupRule,
    GuardConfig,
    LogConfig,
    PullConfig,
    ServerConfig,
    StateConfig,
    UsersConfig,
)
from syncd.config.schema.values import Condition, CourseId, Schedule, Threshold

__all__ = [
    "CONFIG_CHECKS",
    "DURATION_FORMS",
    "MASK",
    "Condition",
    "Config",
    "ConfigError",
    "ConnectorCheck",
    "ConnectorConfig",
    "ConnectorParts",
    "CourseId",
    "Duration",
    "EnrollmentRule",
    "GroupRule",
    "GuardConfig",
    "LogConfig",
    "Problem",
    "PullConfig",
    "Schedule",
    "ServerConfig",
    "StateConfig",
    "Threshold",
    "UsersConfig",
    "check",
    "format_duration",
    "load_config",
    "mask_url",
    "masked",
    "parse_duration",
    "secrets",
]

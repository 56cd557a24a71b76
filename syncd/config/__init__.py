"""The configuration (SPEC §3): YAML in, validated models out, or every problem at once.

Loading is four passes over one document, each collecting problems instead of
stopping at the first: YAML syntax, ``${...}`` interpolation, the pydantic models,
then what no single model can see (references between sections, names used twice,
what the vendor can do, whether the templates compile). A problem names the file,
the key path (``connectors[talentlms].target.base_url``) and, when known, the line.
Secrets are never echoed: ``masked`` and ``check`` show them as ``****``.

Each pass has its own module (``yamlfile``, ``interpolate``, ``translate``, ``checks``),
as have the models (``models``, ``values``), the problems (``problems``), secrets
(``masking``) and the entry points (``loader``). Import from ``syncd.config``: this
package's names are the API, its module layout is not.
"""

from __future__ import annotations

from syncd.config.loader import check, load_config
from syncd.config.masking import MASK, mask_url, masked, secrets
from syncd.config.models import (
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
from syncd.config.problems import ConfigError, Problem
from syncd.config.values import Condition, CourseId, Schedule, Threshold
from syncd.vendors.targets import DURATION_FORMS, Duration, format_duration, parse_duration

__all__ = [
    "DURATION_FORMS",
    "MASK",
    "Condition",
    "Config",
    "ConfigError",
    "ConnectorConfig",
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

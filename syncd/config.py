"""The configuration (SPEC §3): YAML in, validated models out, or every problem at once.

Loading is four passes over one document, each collecting problems instead of
stopping at the first: YAML syntax, ``${...}`` interpolation, the pydantic models,
then what no single model can see (references between sections, names used twice,
what the vendor can do, whether the templates compile). A problem names the file,
the key path (``connectors[talentlms].target.base_url``) and, when known, the line.
Secrets are never echoed: ``masked`` and ``check`` show them as ``****``.
"""

from __future__ import annotations

import difflib
import os
import re
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    JsonValue,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic import Strict as StrictType

from syncd.settings_base import Strict
from syncd.sinks.config import SinkConfig
from syncd.sources.config import SourceConfig
from syncd.vendors.targets import (
    DURATION_FORMS,
    Duration,
    LearningPoolTarget,
    TargetConfig,
    format_duration,
    parse_duration,
)

__all__ = [
    "DURATION_FORMS",
    "Config",
    "ConfigError",
    "ConnectorConfig",
    "Duration",
    "Problem",
    "Schedule",
    "Threshold",
    "check",
    "format_duration",
    "load_config",
    "masked",
    "parse_duration",
    "secrets",
]

MASK = "****"

# ---------------------------------------------------------------------------------------------
# Problems


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the configuration, where it is, and what to do about it."""

    file: str
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}: " if self.path else f"{self.file}: "
        suffix = f" (line {self.line})" if self.line is not None else ""
        return f"{where}{self.message}{suffix}"


class ConfigError(Exception):
    """The configuration is unusable; ``problems`` lists everything wrong with it at once."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


# ---------------------------------------------------------------------------------------------
# Value types


class Threshold(Strict):
    """A guard limit: a share of the linked users (``5%``) or an absolute count (``25``)."""

    percent: float | None = Field(None, ge=0, le=100)
    absolute: int | None = Field(None, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(_THRESHOLD_FORMS)
        if isinstance(value, int):
            return {"absolute": value}
        if isinstance(value, str):
            text = value.strip()
            if re.fullmatch(r"\d+(\.\d+)?\s*%", text):
                return {"percent": float(text.rstrip("%").strip())}
            if re.fullmatch(r"\d+", text):
                return {"absolute": int(text)}
            raise ValueError(f"{value!r}: {_THRESHOLD_FORMS}")
        if isinstance(value, dict):
            return value
        raise ValueError(_THRESHOLD_FORMS)

    @model_validator(mode="after")
    def _one_of(self) -> Threshold:
        if (self.percent is None) == (self.absolute is None):
            raise ValueError(_THRESHOLD_FORMS)
        return self

    @model_serializer
    def _serialize(self) -> str | int:
        if self.percent is not None:
            return f"{self.percent:g}%"
        return self.absolute  # type: ignore[return-value]

    def exceeded(self, count: int, linked_total: int) -> bool:
        """Whether ``count`` deactivations among ``linked_total`` linked users is too many."""
        if self.percent is not None:
            return count > linked_total * self.percent / 100
        return count > (self.absolute or 0)


_THRESHOLD_FORMS = "write a share of the linked users (e.g. 5%) or an absolute number (e.g. 25)"


class Schedule(Strict):
    """When a cycle runs: ``{every: 15m}`` or ``{cron: "*/15 * * * *"}`` (5-field crontab)."""

    every: Duration | None = None
    cron: str | None = None

    @field_validator("cron")
    @classmethod
    def _crontab(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value, timezone=UTC)
        except ValueError as error:
            raise ValueError(
                f"{value!r} is not a 5-field crontab (minute hour day month weekday): {error}"
            ) from None
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Schedule:
        if (self.every is None) == (self.cron is None):
            raise ValueError("give exactly one of every (e.g. every: 15m) or cron")
        if self.every is not None and self.every <= timedelta(0):
            raise ValueError("every must be longer than 0s")
        return self

    def trigger(self, timezone: Any = UTC) -> Any:
        """The APScheduler trigger for this schedule."""
        if self.cron is not None:
            from apscheduler.triggers.cron import CronTrigger

            return CronTrigger.from_crontab(self.cron, timezone=timezone)
        from apscheduler.triggers.interval import IntervalTrigger

        assert self.every is not None
        return IntervalTrigger(seconds=self.every.total_seconds(), timezone=timezone)


def _template_or_bool(value: Any) -> Any:
    if isinstance(value, str | bool):
        return value
    raise ValueError("must be true, false or a template such as \"{{ status == 'active' }}\"")


Condition = Annotated[str | bool, BeforeValidator(_template_or_bool)]
"""``active`` / ``when``: a bool, or a template whose result is true/false."""


def _course_id(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        raise ValueError("must be a course id (a number or a non-empty text)")
    return value


CourseId = Annotated[Annotated[int, StrictType()] | str, BeforeValidator(_course_id)]


def _text_map(value: Any) -> Any:
    """YAML reads ``{101: Sales}`` with a number key; group names are text."""
    if not isinstance(value, dict):
        return value
    result = {}
    for key, item in value.items():
        for part in (key, item):
            if not isinstance(part, str | int | float) or isinstance(part, bool):
                raise ValueError(f"{part!r} is not a group name (write text)")
        result[str(key)] = str(item)
    return result


# ---------------------------------------------------------------------------------------------
# Models


class StateConfig(Strict):
    url: SecretStr = SecretStr("sqlite:///syncd-state.db")  # may hold a password
    auto_migrate: bool = True

    @field_validator("url")
    @classmethod
    def _database(cls, value: SecretStr) -> SecretStr:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            backend = make_url(value.get_secret_value()).get_backend_name()
        except ArgumentError:
            raise ValueError(
                "is not a database URL (e.g. sqlite:///syncd-state.db or "
                "postgresql+psycopg://user@host/db)"
            ) from None
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(f"the state store must be SQLite or PostgreSQL, not {backend}")
        return value


class LogConfig(Strict):
    format: Literal["json", "console"] | None = None  # None: console on a TTY, json otherwise
    level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("format", "level", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


class ServerConfig(Strict):
    listen: str = "127.0.0.1:9465"

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        _split_listen(value)
        return value

    @property
    def host(self) -> str:
        return _split_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return _split_listen(self.listen)[1]


def _split_listen(value: str) -> tuple[str, int]:
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d+)|([^:\s\[\]]+):(\d+)", value.strip())
    if not match:
        raise ValueError(f"{value!r} is not host:port (e.g. 127.0.0.1:9465 or [::1]:9465)")
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4))
    if port > 65535:
        raise ValueError(f"port {port} is out of range (0-65535)")
    return host, port


class UsersConfig(Strict):
    """How one HR record becomes one LMS account."""

    match: str | None = None  # the LMS field that finds existing accounts on first sync
    fields: dict[str, JsonValue] = Field(min_length=1)
    active: Condition = True
    on_missing: Literal["deactivate", "delete", "ignore"] = "deactivate"


class GroupRule(Strict):
    """One membership per rendered value (a list gives several); ``map`` renames values."""

    from_: str = Field(alias="from")
    map: Annotated[dict[str, str], BeforeValidator(_text_map)] = Field(default_factory=dict)
    create_missing: bool = False
    kind: Literal["group", "branch"] = "group"


class EnrollmentRule(Strict):
    when: Condition = True
    courses: list[CourseId] = Field(min_length=1)
    learning_paths: list[CourseId] = Field(default_factory=list)


class GuardConfig(Strict):
    max_deactivations: Threshold = Field(default_factory=lambda: Threshold.model_validate("10%"))


class PullConfig(Strict):
    """Learning results back to HR; without its own ``schedule`` it follows the connector's."""

    sink: str
    schedule: Schedule | None = None
    start_date: date | None = None  # how far back the first pull reaches
    overlap: Duration = timedelta(hours=1)  # re-read this much before the cursor
    budget_share: float = Field(0.5, gt=0, le=1)  # share of the rate limit pull may use


class ConnectorConfig(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    source: str
    scope: str | None = None
    schedule: Schedule
    paused: bool = False
    target: TargetConfig
    users: UsersConfig
    groups: list[GroupRule] = Field(default_factory=list)
    enrollments: list[EnrollmentRule] = Field(default_factory=list)
    guard: GuardConfig = Field(default_factory=GuardConfig)
    pull: PullConfig | None = None


class Config(Strict):
    state: StateConfig = Field(default_factory=StateConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    sources: dict[str, SourceConfig] = Field(default_factory=dict)
    sinks: dict[str, SinkConfig] = Field(default_factory=dict)
    connectors: list[ConnectorConfig] = Field(default_factory=list)

    def connector(self, name: str) -> ConnectorConfig:
        """The connector called ``name``; KeyError listing the known names otherwise."""
        for connector in self.connectors:
            if connector.name == name:
                return connector
        known = ", ".join(c.name for c in self.connectors) or "none"
        raise KeyError(f"no connector named {name!r} (configured: {known})")


# ---------------------------------------------------------------------------------------------
# Loading


RawPath = tuple[str | int, ...]


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


def _os_reason(error: Exception) -> str:
    if isinstance(error, OSError):
        return error.strerror or type(error).__name__
    return "not UTF-8 text"


class _Problems:
    """Problems under construction: raw key paths become readable paths with lines."""

    def __init__(self, file: str, data: dict, lines: dict[RawPath, int]) -> None:
        self.file = file
        self.lines = lines
        self.items: list[Problem] = []
        self.interpolated: dict[RawPath, str] = {}
        self.unresolved: set[RawPath] = set()  # a ${...} failed here: that problem is enough
        self._labels = _connector_labels(data)

    def add(self, raw_path: RawPath, message: str) -> None:
        if raw_path in self.unresolved:
            return
        resolved = self.interpolated.get(raw_path)
        if resolved and len(resolved) >= 4:  # an interpolated value may be a secret
            message = message.replace(resolved, MASK)
        self.items.append(Problem(self.file, self.format(raw_path), message, self._line(raw_path)))

    def extend_raw(self, items: list[tuple[RawPath, str, int | None]]) -> None:
        for raw_path, message, line in items:
            self.items.append(Problem(self.file, self.format(raw_path), message, line))

    def format(self, raw_path: RawPath) -> str:
        text = ""
        for i, part in enumerate(raw_path):
            if isinstance(part, int):
                label = self._labels.get(part, part) if raw_path[:i] == ("connectors",) else part
                text += f"[{label}]"
            elif isinstance(part, str) and re.fullmatch(r"[A-Za-z0-9_-]+", part):
                text += f".{part}" if text else part
            else:
                text += f"[{part!r}]"
        return text

    def _line(self, raw_path: RawPath) -> int | None:
        for end in range(len(raw_path), -1, -1):
            line = self.lines.get(raw_path[:end])
            if line is not None:
                return line
        return None

    def sorted(self) -> list[Problem]:
        unique = list(dict.fromkeys(self.items))
        return sorted(unique, key=lambda p: (p.line is None, p.line or 0))


def _connector_labels(data: dict) -> dict[int, str]:
    """``connectors[talentlms]``, not ``connectors[0]``, when the name is usable and unique."""
    connectors = data.get("connectors")
    if not isinstance(connectors, list):
        return {}
    names = [c.get("name") if isinstance(c, dict) else None for c in connectors]
    labels = {}
    for i, name in enumerate(names):
        usable = isinstance(name, str) and re.fullmatch(r"[A-Za-z0-9_-]+", name)
        if usable and names.count(name) == 1:
            labels[i] = name
    return labels


# ---------------------------------------------------------------------------------------------
# YAML with line numbers


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps dates as text: ``api_version: 2025-01-01`` is a string, not a date."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass
class _Document:
    data: Any
    lines: dict[RawPath, int]
    problems: list[tuple[RawPath, str, int | None]]


def _parse_yaml(text: str, file: str) -> _Document:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        detail = "; ".join(str(p) for p in (error.context, error.problem) if p)
        line = mark.line + 1 if mark else None
        raise ConfigError(
            [Problem(file, "", f"YAML syntax error{where}: {detail}", line)]
        ) from None
    except yaml.YAMLError as error:
        raise ConfigError([Problem(file, "", f"YAML error: {error}")]) from None
    finally:
        loader.dispose()
    lines: dict[RawPath, int] = {}
    problems: list[tuple[RawPath, str, int | None]] = []
    if node is not None:
        _index_lines(node, (), lines, problems)
    return _Document(data, lines, problems)


def _index_lines(
    node: yaml.Node,
    path: RawPath,
    lines: dict[RawPath, int],
    problems: list[tuple[RawPath, str, int | None]],
) -> None:
    """Record the line of every key path; report keys written twice (YAML keeps the last)."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
                continue
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in seen:
                problems.append(
                    ((*path, key), f"key written twice (also line {seen[key]}); keep one", line)
                )
            seen[key] = line
            lines[(*path, key)] = line
            _index_lines(value_node, (*path, key), lines, problems)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, (*path, i), lines, problems)


# ---------------------------------------------------------------------------------------------
# Interpolation: ${VAR}, ${file:PATH}, $${ for a literal ${

_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class _Walked:
    value: Any
    resolved: dict[RawPath, str]


class _Interpolator:
    def __init__(self, environ: Mapping[str, str], base: Path, problems: _Problems) -> None:
        self.environ = environ
        self.base = base
        self.problems = problems
        self.resolved: dict[RawPath, str] = {}

    def walk(self, data: Any) -> _Walked:
        return _Walked(self._value(data, ()), self.resolved)

    def _value(self, value: Any, path: RawPath) -> Any:
        if isinstance(value, dict):
            return {key: self._value(item, (*path, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [self._value(item, (*path, i)) for i, item in enumerate(value)]
        if isinstance(value, str) and "${" in value:
            before = len(self.problems.items)
            result = self._string(value, path)
            if len(self.problems.items) > before:
                self.problems.unresolved.add(path)
                return result
            if result != value.replace("$${", "${"):
                self.resolved[path] = result
            return result
        return value

    def _string(self, text: str, path: RawPath) -> str:
        def replace(match: re.Match[str]) -> str:
            whole = match.group(0)
            if whole == "$${":
                return "${"
            if match.group(1) is None:
                self.problems.add(path, "unterminated ${ (write $${ for a literal ${)")
                return whole
            return self._reference(match.group(1).strip(), path)

        return _REFERENCE.sub(replace, text)

    def _reference(self, name: str, path: RawPath) -> str:
        if name.startswith("file:"):
            return self._file(name[len("file:") :].strip(), path)
        if not _VARIABLE.fullmatch(name):
            self.problems.add(
                path, f"${{{name}}} is not a variable name; write ${{VAR}} or ${{file:PATH}}"
            )
            return ""
        if name not in self.environ:
            self.problems.add(path, f"environment variable {name} is not set")
            return ""
        return self.environ[name]

    def _file(self, name: str, path: RawPath) -> str:
        if not name:
            self.problems.add(path, "${file:} needs a path, e.g. ${file:secrets/api_key}")
            return ""
        target = Path(name).expanduser()
        if not target.is_absolute():
            target = self.base / target
        try:
            return target.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as error:
            self.problems.add(path, f"cannot read file {name} (${{file:}}): {_os_reason(error)}")
            return ""


# ---------------------------------------------------------------------------------------------
# Pydantic errors -> problems


def _translate(error: ValidationError, data: Any) -> Iterator[tuple[RawPath, str]]:
    merged: dict[RawPath, list[str]] = {}
    for item in error.errors(include_url=False):
        raw_path, message = _describe(item, data)
        messages = merged.setdefault(raw_path, [])
        if message not in messages:
            messages.append(message)
    for raw_path, messages in merged.items():
        yield raw_path, "; ".join(messages)


def _describe(item: Mapping[str, Any], data: Any) -> tuple[RawPath, str]:
    loc = tuple(item["loc"])
    raw_path = _raw_path(data, loc)
    kind = item["type"]
    ctx = item.get("ctx") or {}
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = _allowed_keys(loc[:-1])
        close = difflib.get_close_matches(key, allowed, n=1)
        if close:
            return raw_path, f"unknown key {key!r} (did you mean {close[0]!r}?)"
        if allowed:
            return raw_path, f"unknown key {key!r} (allowed here: {', '.join(allowed)})"
        return raw_path, f"unknown key {key!r}"
    if kind == "missing":
        return raw_path, "required key is missing"
    if kind == "union_tag_invalid":
        return (*raw_path, "type"), (
            f"unknown type {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
        )
    if kind == "union_tag_not_found":
        return (*raw_path, "type"), "required key is missing (it selects the kind of entry)"
    if kind in ("value_error", "assertion_error"):
        cause = ctx.get("error")
        return raw_path, str(cause) if cause is not None else item["msg"]
    if kind == "literal_error":
        return raw_path, f"{item['msg']} (got {_short(item.get('input'))})"
    return raw_path, item["msg"]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _raw_path(data: Any, loc: tuple[Any, ...]) -> RawPath:
    """The key path in the YAML document for a pydantic location (without union tags)."""
    path: list[str | int] = []
    current = data
    for part in loc:
        if isinstance(current, dict):
            if part in current:
                path.append(part)
                current = current[part]
            elif current.get("type") == part:
                continue  # the discriminator's tag, not a key
            else:
                path.append(part)
                current = None
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            path.append(part)
            current = current[part]
        else:
            break  # a scalar: what follows are type tags such as 'int' or 'str'
    return tuple(path)


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys the model at ``loc`` accepts, for 'did you mean' hints."""
    model = _model_at(Config, loc)
    if model is None:
        return []
    return sorted(f.alias or name for name, f in model.model_fields.items())


def _model_at(annotation: Any, loc: tuple[Any, ...]) -> type[BaseModel] | None:
    annotation = _unwrap(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [m for m in typing.get_args(annotation) if m is not type(None)]
        models = [_unwrap(m) for m in members if _is_model(_unwrap(m))]
        if loc:
            for model in models:
                type_field = model.model_fields.get("type")
                if type_field is not None and loc[0] in typing.get_args(type_field.annotation):
                    return _model_at(model, loc[1:])
        if len(models) == 1:
            return _model_at(models[0], loc)
        return None
    if not loc:
        return annotation if _is_model(annotation) else None
    if _is_model(annotation):
        for name, field in annotation.model_fields.items():
            if loc[0] in (name, field.alias):
                return _model_at(field.annotation, loc[1:])
        return None
    if origin in (list, tuple):
        return _model_at(typing.get_args(annotation)[0], loc[1:])
    if origin is dict:
        return _model_at(typing.get_args(annotation)[1], loc[1:])
    return None


def _unwrap(annotation: Any) -> Any:
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


# ---------------------------------------------------------------------------------------------
# Checks across sections, vendor capabilities, templates


def _cross_check(data: dict, problems: _Problems) -> None:
    sources = data.get("sources") if isinstance(data.get("sources"), dict) else {}
    sinks = data.get("sinks") if isinstance(data.get("sinks"), dict) else {}
    connectors = data.get("connectors")
    if not isinstance(connectors, list):
        return
    first_index: dict[str, int] = {}
    for i, raw in enumerate(connectors):
        if not isinstance(raw, dict):
            continue
        here: RawPath = ("connectors", i)
        name = raw.get("name")
        if isinstance(name, str):
            if name in first_index:
                other = first_index[name]
                problems.add(
                    (*here, "name"),
                    f"duplicate connector name {name!r} (connectors[{other}] has it too)",
                )
            else:
                first_index[name] = i
        source = raw.get("source")
        if isinstance(source, str) and source not in sources:
            problems.add((*here, "source"), _unknown_reference("source", source, sources))
        pull = raw.get("pull")
        if (
            isinstance(pull, dict)
            and isinstance(pull.get("sink"), str)
            and pull["sink"] not in sinks
        ):
            problems.add((*here, "pull", "sink"), _unknown_reference("sink", pull["sink"], sinks))
        parts = _ConnectorParts.of(raw)
        for relative, message in _connector_problems(parts, problems.format(here)):
            problems.add(here + relative, message)


def _unknown_reference(kind: str, name: str, defined: Mapping[str, Any]) -> str:
    known = ", ".join(sorted(defined)) or "none"
    return f"unknown {kind} {name!r}; defined {kind}s: {known}"


@dataclass(frozen=True, slots=True)
class _ConnectorParts:
    """The parts of one connector that validate on their own (None: invalid or absent).

    Checking parts separately lets one pass report a vendor capability problem or a
    template error even when another key of the same connector is wrong too.
    """

    scope: str | None
    target: Any
    users: UsersConfig | None
    groups: list[GroupRule]
    enrollments: list[EnrollmentRule]
    pull: PullConfig | None

    @classmethod
    def of(cls, raw: dict) -> _ConnectorParts:
        scope = raw.get("scope")
        return cls(
            scope=scope if isinstance(scope, str) else None,
            target=_valid(_TARGET, raw.get("target")),
            users=_valid(_USERS, raw.get("users")),
            groups=_valid(_GROUPS, raw.get("groups", [])) or [],
            enrollments=_valid(_ENROLLMENTS, raw.get("enrollments", [])) or [],
            pull=_valid(_PULL, raw.get("pull")),
        )


_TARGET: TypeAdapter[Any] = TypeAdapter(TargetConfig)
_USERS = TypeAdapter(UsersConfig)
_GROUPS = TypeAdapter(list[GroupRule])
_ENROLLMENTS = TypeAdapter(list[EnrollmentRule])
_PULL = TypeAdapter(PullConfig)


def _valid(adapter: TypeAdapter[Any], value: Any) -> Any:
    if value is None:
        return None
    try:
        return adapter.validate_python(value)
    except ValidationError:
        return None  # reported by the whole-document validation


def _connector_problems(parts: _ConnectorParts, label: str) -> list[tuple[RawPath, str]]:
    """What a connector asks that its vendor cannot do, and templates that do not compile.

    ``label`` is the connector's printed path (``connectors[talentlms]``), quoted in advice.
    """
    from syncd.mapping import template_problems

    found: list[tuple[RawPath, str]] = []
    if parts.target is not None:
        found += _capability_problems(parts, label)
    users = parts.users
    if users is not None and users.match is not None and users.match not in users.fields:
        fields = ", ".join(users.fields)
        found.append((("users", "match"), f"{users.match!r} is not one of users.fields ({fields})"))
    for problem in template_problems(parts.scope, users, parts.groups, parts.enrollments):
        found.append((_split_relative(problem.path), problem.message))
    return found


def _capability_problems(parts: _ConnectorParts, label: str) -> list[tuple[RawPath, str]]:
    from syncd.vendors.registry import (
        capabilities_for,
        missing_reason,
        user_operations,
        vendor_info,
    )

    target = parts.target
    vendor = target.type
    info = vendor_info(vendor)
    caps = capabilities_for(target)
    found: list[tuple[RawPath, str]] = []
    configurable = isinstance(target, LearningPoolTarget)

    def lacks(path: RawPath, what: str, capability: str, remedy: str) -> None:
        reason = missing_reason(target, capability)
        if configurable and reason.startswith("target.endpoints"):
            remedy = f"configure them or {remedy}"
        found.append((path, f"{vendor} cannot {what} ({reason}); {remedy}"))

    if parts.groups and not caps.groups:
        lacks(("groups",), "write group memberships", "groups", f"remove {label}.groups")
    if parts.enrollments and not caps.enrollments:
        remedy = f"remove {label}.enrollments"
        lacks(("enrollments",), "write course enrollments", "enrollments", remedy)
    if parts.users is not None and parts.users.on_missing == "delete" and not caps.delete:
        remedy = "use on_missing: deactivate or ignore"
        lacks(("users", "on_missing"), "delete users", "delete", remedy)
    if parts.pull is not None and not caps.pull:
        lacks(("pull",), "read learning results", "pull", f"remove {label}.pull")
    for i, rule in enumerate(parts.groups):
        if rule.kind not in info.group_kinds:
            lacks(("groups", i, "kind"), f"write {rule.kind}es", "branches", "use kind: group")
        if rule.create_missing and not info.creates_groups:
            remedy = "create them in the LMS and set create_missing: false"
            lacks(("groups", i, "create_missing"), "create groups", "create_groups", remedy)
    for i, rule in enumerate(parts.enrollments):
        if rule.learning_paths and caps.enrollments and not info.learning_paths:
            remedy = f"remove {label}.enrollments[{i}].learning_paths"
            path: RawPath = ("enrollments", i, "learning_paths")
            lacks(path, "enroll in learning paths", "learning_paths", remedy)
    if parts.users is not None:
        found += _user_operation_problems(
            target, parts.users, user_operations(target), missing_reason
        )
    return found


def _user_operation_problems(
    target: Any, users: UsersConfig, available: frozenset[str], missing_reason: Any
) -> list[tuple[RawPath, str]]:
    """Account operations a push needs but the target lacks (only Learning Pool can lack them)."""
    needed = {"user_create": "create users", "user_update": "update users"}
    always_active = users.active is True or (
        isinstance(users.active, str) and users.active.strip().lower() in ("true", "yes", "1")
    )
    if users.on_missing != "ignore" or not always_active:
        needed["user_deactivate"] = "deactivate users"
        needed["user_reactivate"] = "reactivate users"
    if users.match is not None:
        needed["users_list"] = f"find existing accounts by {users.match}"
    return [
        (
            ("target", "endpoints"),
            f"{target.type} cannot {what} ({missing_reason(target, operation)}); "
            "configure that endpoint",
        )
        for operation, what in needed.items()
        if operation not in available
    ]


def _split_relative(path: str) -> RawPath:
    """``groups[0].from`` -> ("groups", 0, "from")."""
    parts: list[str | int] = []
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        parts.append(int(index) if index else name)
    return tuple(parts)


# ---------------------------------------------------------------------------------------------
# Secrets and masked output

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

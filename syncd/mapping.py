"""HR record -> desired LMS user, through sandboxed Jinja templates (SPEC §3, §4 step 2).

Every template of a connector is compiled once. A template that is exactly one
``{{ expression }}`` keeps its native value (a bool, a number, a list); any other
template renders to a string. A column missing from a record is an error for that
record only (``StrictUndefined``), reported with the template's key path.

Rendering one record evaluates all of its templates against a single Jinja context
built once per record, instead of one context per template: with a million
records this is the difference between minutes and seconds.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, meta, nodes
from jinja2.exceptions import UndefinedError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import concat, missing

from syncd.config import ConnectorConfig, EnrollmentRule, GroupRule, UsersConfig
from syncd.jinja_limits import MAX_TEXT, LimitedEnvironment, check_value
from syncd.model import (
    BRANCH_PREFIX,
    LEARNING_PATH_PREFIX,
    DesiredUser,
    flag_of,
    record_hash,
    stable_hash,
)

MAPPING_VERSION = 1
"""Part of every fingerprint: bump it when rendering semantics change, so everyone re-renders."""

TRUE_WORDS = frozenset({"true", "yes", "1"})
FALSE_WORDS = frozenset({"false", "no", "0", "", "none"})

_RESULT = "__syncd_value__"
_FILTER_MESSAGE = re.compile(r"No (filter|test) named '([^']+)'")


class MappingError(Exception):
    """One record could not be rendered; ``reason`` names the template key path and the cause."""

    def __init__(self, hr_key: str, reason: str) -> None:
        super().__init__(f"{hr_key}: {reason}")
        self.hr_key = hr_key
        self.reason = reason


@dataclass(frozen=True, slots=True)
class TemplateProblem:
    """A template that cannot compile; ``path`` is relative to the connector."""

    path: str
    message: str


class MappingConfigError(Exception):
    """Every template problem of one connector, found at compile time."""

    def __init__(self, problems: list[TemplateProblem]) -> None:
        super().__init__("\n".join(f"{p.path}: {p.message}" for p in problems))
        self.problems = problems


# ---------------------------------------------------------------------------------------------
# Filters


def _date_filter(value: Any, format: str = "%Y-%m-%d", input_format: str | None = None) -> str:
    """Reformat a date: ISO 8601 input unless ``input_format`` says otherwise; empty stays empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return ""
    if isinstance(value, datetime | date):
        parsed: date = value
    else:
        text = str(value).strip()
        try:
            if input_format:
                parsed = datetime.strptime(text, input_format)
            else:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            expected = f"format {input_format!r}" if input_format else "ISO 8601 (e.g. 2024-03-31)"
            raise ValueError(f"date: cannot read {text!r} as {expected}") from None
    return parsed.strftime(format)


def _split_filter(value: Any, sep: str = ",") -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``: parts trimmed, empty parts dropped."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        parts: Iterable[Any] = value
    else:
        parts = str(value).split(sep)
    return [text for text in (str(part).strip() for part in parts) if text]


def _finalize(value: Any) -> Any:
    """``None`` prints as nothing, not "None" (SQL sources yield NULLs)."""
    return "" if value is None else value


def make_environment() -> LimitedEnvironment:
    """The sandbox every mapping renders in: templates cannot reach Python internals, and one
    record's templates cannot run away with time or memory (``syncd.jinja_limits``)."""
    env = LimitedEnvironment(
        undefined=StrictUndefined, autoescape=False, finalize=_finalize, keep_trailing_newline=True
    )
    env.filters["date"] = _date_filter
    env.filters["split"] = _split_filter
    return env


# ---------------------------------------------------------------------------------------------
# Compilation: every template becomes an evaluator of the per-record context

Evaluator = Callable[[Context, Mapping[str, Any]], Any]


class _Compiler:
    """Turns template sources into evaluators, collecting problems instead of stopping."""

    def __init__(self, env: SandboxedEnvironment) -> None:
        self.env = env
        self.problems: list[TemplateProblem] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(TemplateProblem(path, message))

    def _syntax_message(self, error: TemplateSyntaxError) -> str:
        match = _FILTER_MESSAGE.search(error.message or "")
        if match:
            kind, name = match.groups()
            known = self.env.filters if kind == "filter" else self.env.tests
            close = difflib.get_close_matches(name, list(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            return f"unknown {kind} {name!r}{hint}"
        return f"template syntax error: {error.message}"

    def template(self, source: Any, path: str) -> Evaluator | None:
        """A ``users.fields`` value & co: a constant, a native expression or a string template."""
        if not isinstance(source, str):
            return _constant(source)
        if "{{" not in source and "{%" not in source and "{#" not in source:
            return _constant(source)
        try:
            ast = self.env.parse(source)
            single = _single_expression(ast)
            if single is not None:
                return self._native(single, path)
            template = self.env.from_string(ast)
        except TemplateSyntaxError as error:
            self.problem(path, self._syntax_message(error))
            return None
        if template.blocks:
            self.problem(path, "{% block %} is not supported in a mapping template")
            return None
        return _string_evaluator(template.root_render_func)

    def expression(self, source: str, path: str) -> Evaluator | None:
        """A bare expression such as ``status != 'contractor'`` (``{{ }}`` around it is fine)."""
        try:
            ast = self.env.parse(source)
            single = _single_expression(ast)
            if single is None:
                parser_ast = self.env.parse("{{ " + source + " }}")
                single = _single_expression(parser_ast)
            if single is None:
                self.problem(path, "expected one expression, e.g. status != 'contractor'")
                return None
            return self._native(single, path)
        except TemplateSyntaxError as error:
            self.problem(path, self._syntax_message(error))
            return None

    def _native(self, expr: nodes.Expr, path: str) -> Evaluator:
        if isinstance(expr, nodes.Name) and expr.ctx == "load":
            return _lookup_evaluator(expr.name)
        body = nodes.Template([nodes.Assign(nodes.Name(_RESULT, "store"), expr)], lineno=1)
        body.set_environment(self.env)
        template = self.env.from_string(body)
        return _native_evaluator(template.root_render_func)

    def condition(self, source: Any, path: str) -> Evaluator | None:
        """``active`` / ``when``: a bool, a truth word, or a template whose result is one."""
        if isinstance(source, bool):
            return _constant(source)
        if isinstance(source, str) and "{{" not in source and "{%" not in source:
            word = source.strip().lower()
            if word in TRUE_WORDS or word in FALSE_WORDS:
                return _constant(word in TRUE_WORDS)
            self.problem(
                path,
                f"{source!r} is neither true/false nor a template; "
                f'write an expression in braces, e.g. "{{{{ {source} }}}}"',
            )
            return None
        return self.template(source, path)

    def tree(self, value: Any, path: str) -> Evaluator | None:
        """Nested dicts/lists of templates (e.g. HowNow's ``job_role: {name: ...}``)."""
        if isinstance(value, dict):
            items = [(key, self.tree(item, f"{path}.{key}")) for key, item in value.items()]
            if any(evaluator is None for _, evaluator in items):
                return None
            return _dict_evaluator(items, path)  # type: ignore[arg-type]
        if isinstance(value, list):
            elements = [self.tree(item, f"{path}[{i}]") for i, item in enumerate(value)]
            if any(evaluator is None for evaluator in elements):
                return None
            return _list_evaluator(elements, path)  # type: ignore[arg-type]
        return self.template(value, path)


def _single_expression(ast: nodes.Template) -> nodes.Expr | None:
    """The expression of a template that is exactly ``{{ expression }}``, else None."""
    if len(ast.body) != 1 or not isinstance(ast.body[0], nodes.Output):
        return None
    output = ast.body[0].nodes
    if len(output) != 1 or isinstance(output[0], nodes.TemplateData):
        return None
    return output[0]


def _constant(value: Any) -> Evaluator:
    def evaluate(_ctx: Context, _record: Mapping[str, Any]) -> Any:
        return value

    return evaluate


def _lookup_evaluator(name: str) -> Evaluator:
    """``{{ column }}``: a dict lookup; Jinja's context only when the column is absent."""

    def evaluate(ctx: Context, record: Mapping[str, Any]) -> Any:
        if name in record:
            return record[name]
        value = ctx.resolve_or_missing(name)  # a Jinja global such as ``range``
        if value is missing:
            raise UndefinedError(f"{name!r} is undefined")
        return value

    return evaluate


def _native_evaluator(render: Callable[[Context], Iterable[str]]) -> Evaluator:
    def evaluate(ctx: Context, _record: Mapping[str, Any]) -> Any:
        try:
            for _ in render(ctx):
                pass
            value = ctx.vars.pop(_RESULT)
        finally:
            _reset(ctx)
        _raise_if_undefined(value)
        return value

    return evaluate


def _string_evaluator(render: Callable[[Context], Iterable[str]]) -> Evaluator:
    def evaluate(ctx: Context, _record: Mapping[str, Any]) -> Any:
        try:
            return concat(render(ctx))
        finally:
            _reset(ctx)

    return evaluate


def _reset(ctx: Context) -> None:
    """Forget ``{% set %}`` variables so one template never leaks into the next."""
    if ctx.vars:
        ctx.vars.clear()
    if ctx.exported_vars:
        ctx.exported_vars.clear()


_PLAIN_TYPES = frozenset({str, int, float, bool, type(None)})


def _raise_if_undefined(value: Any) -> None:
    if type(value) in _PLAIN_TYPES:
        return
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises UndefinedError naming what was missing
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _raise_if_undefined(item)
    elif isinstance(value, dict):
        for item in value.values():
            _raise_if_undefined(item)


class _LocatedError(Exception):
    """A failure inside a nested field, carrying the nested key path (``job_role.name``)."""

    def __init__(self, path: str, cause: Exception) -> None:
        super().__init__(str(cause))
        self.path = path
        self.cause = cause


def _dict_evaluator(items: list[tuple[str, Evaluator]], path: str) -> Evaluator:
    def evaluate(ctx: Context, record: Mapping[str, Any]) -> Any:
        result = {}
        for key, evaluator in items:
            try:
                result[key] = evaluator(ctx, record)
            except _LocatedError:
                raise
            except Exception as error:
                raise _LocatedError(f"{path}.{key}", error) from error
        return result

    return evaluate


def _list_evaluator(elements: list[Evaluator], path: str) -> Evaluator:
    def evaluate(ctx: Context, record: Mapping[str, Any]) -> Any:
        result = []
        for i, evaluator in enumerate(elements):
            try:
                result.append(evaluator(ctx, record))
            except _LocatedError:
                raise
            except Exception as error:
                raise _LocatedError(f"{path}[{i}]", error) from error
        return result

    return evaluate


def truth(value: Any) -> bool:
    """The truth of an ``active``/``when``/``scope`` result; ValueError when it has none."""
    if value is None:
        return False
    flag = flag_of(value, TRUE_WORDS, FALSE_WORDS)
    if flag is not None:
        return flag
    raise ValueError(
        f"gave {_preview(value)}, which is neither true (true/yes/1) nor false (false/no/0/empty)"
    )


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ---------------------------------------------------------------------------------------------
# The mapper


@dataclass(frozen=True, slots=True)
class _GroupRule:
    path: str
    source: Evaluator
    mapping: Mapping[str, str]
    prefix: str


@dataclass(frozen=True, slots=True)
class _EnrollmentRule:
    path: str
    when: Evaluator
    targets: frozenset[str]


SHARED_SETS = 10_000
"""How many distinct sets of groups or courses a mapper shares (``Mapper._shared``)."""


class Mapper:
    """The compiled mapping of one connector: scope, fields, active, groups, enrollments."""

    def __init__(
        self,
        *,
        env: LimitedEnvironment,
        fingerprint: str,
        scope: Evaluator | None,
        fields: list[tuple[str, Evaluator]],
        active: Evaluator,
        groups: list[_GroupRule],
        enrollments: list[_EnrollmentRule],
        scope_text: str | None = None,
    ) -> None:
        self.fingerprint = fingerprint
        self._scope_text = scope_text
        self._env = env
        self._globals = env.globals
        self._scope = scope
        self._fields = fields
        # Each field with the key path its errors name: built once, not once a person.
        self._located = [(name, evaluator, f"users.fields.{name}") for name, evaluator in fields]
        self._active = active
        self._groups = groups
        self._enrollments = enrollments
        self._sets: dict[frozenset[str], frozenset[str]] = {}

    def _shared(self, names: set[str]) -> frozenset[str]:
        """One frozenset per distinct set of groups or courses, shared by everyone who has
        it: a first sync holds a million people, most with the same few (or none), and each
        frozenset of their own would cost over 200 bytes."""
        found = frozenset(names)
        shared = self._sets.get(found)
        if shared is None:
            if len(self._sets) >= SHARED_SETS:
                return found
            shared = self._sets[found] = found
        return shared

    def _context(self, record: Mapping[str, Any]) -> Context:
        self._env.start_record()
        return Context(self._env, {**self._globals, **record}, None, {}, globals=self._globals)

    def in_scope(self, record: Mapping[str, Any], hr_key: str = "") -> bool:
        """Whether this connector's LMS gets this record; MappingError if ``scope`` fails on it."""
        if self._scope is None:
            return True
        ctx = self._context(record)
        return _truth_of(self._scope, ctx, record, "scope", hr_key)

    def scope_reason(self, record: Mapping[str, Any]) -> str:
        """Why ``record`` is out of scope, in the configuration's words and with the values its
        ``scope`` reads (only those: the rest of the record stays out of the output)."""
        text = (self._scope_text or "").strip()
        try:
            names = sorted(
                meta.find_undeclared_variables(
                    self._env.parse(text if "{{" in text else "{{ " + text + " }}")
                )
            )
        except TemplateSyntaxError:
            names = []
        values = ", ".join(f"{name}={record[name]!r}" for name in names if name in record)
        return f"scope {text!r} is false" + (f" ({values})" if values else "")

    def render(
        self, hr_key: str, record: Mapping[str, Any], source_hash: int | None = None
    ) -> DesiredUser:
        """The desired LMS user for one HR record, or MappingError naming the template at fault.

        ``source_hash`` is the record's digest as its source computed it (the engine's);
        without one it is the hash of the record's values.
        """
        return self._rendered(self._context(record), hr_key, record, source_hash)

    def render_in_scope(
        self, hr_key: str, record: Mapping[str, Any], source_hash: int | None = None
    ) -> DesiredUser | None:
        """``render``, or None when ``record`` is out of scope: ``in_scope`` then ``render``,
        the same results and errors, with one Jinja context for both (a first sync asks
        both of a million records). Each gets the whole loop budget, as it would alone."""
        ctx = self._context(record)
        if self._scope is not None:
            if not _truth_of(self._scope, ctx, record, "scope", hr_key):
                return None
            self._env.start_record()
        return self._rendered(ctx, hr_key, record, source_hash)

    def _rendered(
        self, ctx: Context, hr_key: str, record: Mapping[str, Any], source_hash: int | None
    ) -> DesiredUser:
        path = "users.fields"
        try:
            fields: dict[str, Any] = {}
            for name, evaluator, where in self._located:
                path = where
                value = evaluator(ctx, record)
                # ``check_value`` refuses only text or lists longer than ``MAX_TEXT``.
                if type(value) is not str or len(value) > MAX_TEXT:
                    value = check_value(value)
                fields[name] = value
            path = "users.active"
            active = truth(self._active(ctx, record))
            groups: set[str] = set()
            for rule in self._groups:
                path = rule.path
                groups.update(_group_names(rule, check_value(rule.source(ctx, record))))
            courses: set[str] = set()
            for enrollment in self._enrollments:
                path = enrollment.path
                if truth(enrollment.when(ctx, record)):
                    courses.update(enrollment.targets)
        except _LocatedError as error:
            raise MappingError(hr_key, f"{error.path}: {_describe(error.cause)}") from error
        except Exception as error:  # any failure is this record's, never the run's
            raise MappingError(hr_key, f"{path}: {_describe(error)}") from error
        return DesiredUser(
            hr_key=hr_key,
            fields=fields,
            active=active,
            groups=self._shared(groups),
            courses=self._shared(courses),
            source_hash=(
                record_hash(self.fingerprint, record) if source_hash is None else source_hash
            ),
        )


def _truth_of(
    evaluator: Evaluator, ctx: Context, record: Mapping[str, Any], path: str, hr_key: str
) -> bool:
    try:
        return truth(evaluator(ctx, record))
    except Exception as error:
        raise MappingError(hr_key, f"{path}: {_describe(error)}") from error


def _group_names(rule: _GroupRule, value: Any) -> list[str]:
    """Zero, one or many memberships from one rule's result, each through the rule's ``map``."""
    if value is None:
        return []
    items = value if isinstance(value, list | tuple | set | frozenset) else (value,)
    names = []
    for item in items:
        if item is None:
            continue
        if isinstance(item, dict | list | tuple | set | frozenset):
            raise ValueError(f"gave {_preview(item)}; expected a group name or a list of names")
        text = str(item)
        if not text.strip():
            continue
        mapped = rule.mapping.get(text, text)
        if mapped.strip():  # mapping a value to "" drops it
            names.append(rule.prefix + mapped)
    return names


_UNDEFINED_NAME = re.compile(r"^'([^']+)' is undefined$")


def _describe(error: Exception) -> str:
    message = str(error) or type(error).__name__
    if _UNDEFINED_NAME.match(message):
        return f"{message} (the record has no such column)"
    if type(error).__name__ in ("UndefinedError", "ValueError", "SecurityError"):
        return message
    return f"{type(error).__name__}: {message}"


def compile_connector(connector: ConnectorConfig) -> Mapper:
    """Compile every template of ``connector`` once; MappingConfigError lists all problems."""
    parts = _compile_parts(
        connector.scope, connector.users, connector.groups, connector.enrollments
    )
    if parts.compiler.problems:
        raise MappingConfigError(parts.compiler.problems)
    assert parts.active is not None
    return Mapper(
        env=parts.compiler.env,
        fingerprint=fingerprint(connector),
        scope=parts.scope,
        fields=parts.fields,
        active=parts.active,
        groups=parts.groups,
        enrollments=parts.enrollments,
        scope_text=connector.scope,
    )


def template_problems(
    scope: str | None,
    users: UsersConfig | None,
    groups: Sequence[GroupRule],
    enrollments: Sequence[EnrollmentRule],
) -> list[TemplateProblem]:
    """Template problems of whichever parts of a connector are valid (others may not be)."""
    return _compile_parts(scope, users, groups, enrollments).compiler.problems


@dataclass(slots=True)
class _Parts:
    compiler: _Compiler
    scope: Evaluator | None = None
    fields: list[tuple[str, Evaluator]] = field(default_factory=list)
    active: Evaluator | None = None
    groups: list[_GroupRule] = field(default_factory=list)
    enrollments: list[_EnrollmentRule] = field(default_factory=list)


def _compile_parts(
    scope: str | None,
    users: UsersConfig | None,
    groups: Sequence[GroupRule],
    enrollments: Sequence[EnrollmentRule],
) -> _Parts:
    compiler = _Compiler(make_environment())
    parts = _Parts(compiler)
    if scope is not None:
        parts.scope = compiler.expression(scope, "scope")
    if users is not None:
        for name, value in users.fields.items():
            evaluator = compiler.tree(value, f"users.fields.{name}")
            if evaluator is not None:
                parts.fields.append((name, evaluator))
        parts.active = compiler.condition(users.active, "users.active")
    for i, rule in enumerate(groups):
        path = f"groups[{i}].from"
        source = compiler.template(rule.from_, path)
        prefix = BRANCH_PREFIX if rule.kind == "branch" else ""
        if source is not None:
            parts.groups.append(_GroupRule(path, source, dict(rule.map), prefix))
    for i, rule in enumerate(enrollments):
        path = f"enrollments[{i}].when"
        when = compiler.condition(rule.when, path)
        targets = frozenset(str(c) for c in rule.courses) | frozenset(
            LEARNING_PATH_PREFIX + str(p) for p in rule.learning_paths
        )
        if when is not None:
            parts.enrollments.append(_EnrollmentRule(path, when, targets))
    return parts


def fingerprint(connector: ConnectorConfig) -> str:
    """A hash of everything that decides a person's desired state: changing any of it
    re-plans everyone, within the guard.

    That is the scope, the whole ``users`` block, groups, enrollments and the target's
    options that shape or validate an account (``shapes_people``); not schedules, the
    guard, pull settings or how to reach the vendor.
    """
    data = connector.model_dump(
        mode="json",
        by_alias=True,
        include={"scope": True, "users": True, "groups": True, "enrollments": True},
    )
    target = connector.target
    data["target"] = target.model_dump(mode="json", include=set(type(target).shapes_people))
    return stable_hash([MAPPING_VERSION, data])

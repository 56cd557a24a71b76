"""YAML parsing that remembers the line of every key path and reports keys written twice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from syncd.config.problems import ConfigError, Problem, RawPath


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

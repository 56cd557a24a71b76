"""YAML parsing that remembers the line of every key path and reports keys written twice.

A configuration is a few hundred lines. Anchors and aliases (``&base`` / ``*base``) are
welcome, but a file whose aliases expand to more than ``MAX_EXPANDED_VALUES`` values
(the "billion laughs" shape) or that is larger than ``MAX_CONFIG_BYTES`` is refused before
anything walks it, instead of hanging ``config check`` and every command.
"""

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


MAX_CONFIG_BYTES = 1_000_000
MAX_EXPANDED_VALUES = 100_000


@dataclass
class _Document:
    data: Any
    lines: dict[RawPath, int]
    problems: list[tuple[RawPath, str, int | None]]


def _parse_yaml(text: str, file: str) -> _Document:
    if len(text.encode("utf-8")) > MAX_CONFIG_BYTES:
        raise ConfigError(
            [Problem(file, "", f"the file is larger than {MAX_CONFIG_BYTES:,} bytes; a "
                     "configuration is far smaller: is this the right file?")]
        )
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is not None and _expanded_size(node) > MAX_EXPANDED_VALUES:
            raise ConfigError(
                [Problem(file, "", f"its aliases (*name) expand to more than "
                         f"{MAX_EXPANDED_VALUES:,} values; refused as an alias bomb")]
            )
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
    except RecursionError:
        raise ConfigError([Problem(file, "", "nested too deeply to be a configuration")]) from None
    finally:
        loader.dispose()
    lines: dict[RawPath, int] = {}
    problems: list[tuple[RawPath, str, int | None]] = []
    if node is not None:
        _index_lines(node, (), lines, problems)
    return _Document(data, lines, problems)


def _expanded_size(root: yaml.Node) -> int:
    """How many values the document holds once every alias is expanded, counted without
    expanding them: each node's size is computed once and shared by its aliases. The count
    stops growing past the limit; an alias back into its own parent counts as past it."""
    sizes: dict[int, int] = {}
    over = MAX_EXPANDED_VALUES + 1

    def size(node: yaml.Node, open_nodes: frozenset[int]) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        if id(node) in open_nodes:
            return over  # a recursive structure never ends
        total = 1
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            inner = open_nodes | {id(node)}
            children = (
                [part for pair in node.value for part in pair]
                if isinstance(node, yaml.MappingNode)
                else node.value
            )
            for child in children:
                total = min(over, total + size(child, inner))
                if total >= over:
                    break
        sizes[id(node)] = total
        return total

    return size(root, frozenset())


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

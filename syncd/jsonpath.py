"""JSONPath lookups for the HTTP source: where the records, next link and cursor are.

A thin layer over jsonpath-ng (a maintained, dependency-free library) that adds
what a source needs and the library does not say: telling "the records path
found nothing" (a wrong path or a changed API, so the source is unreadable)
apart from "the path found an empty list" (a legitimately empty page).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonpath_ng import JSONPath

# jsonpath-ng (and the parser generator under it) is imported by the first expression
# compiled: only a configuration with an HTTP source has one, and only it pays for it.

_ALL_ITEMS = "[*]"


class JsonPathSyntaxError(ValueError):
    """The expression is not valid JSONPath."""


@dataclass(frozen=True, slots=True)
class CompiledPath:
    """A parsed JSONPath, compiled once per source and reused for every page."""

    expression: str
    _path: JSONPath
    _parent: JSONPath | None  # the path without a trailing [*], to check the list exists

    def values(self, document: Any) -> list[Any]:
        """Every value the path matches, in document order."""
        return [match.value for match in self._path.find(document)]

    def first(self, document: Any) -> Any | None:
        """The first matched value, or None when the path matches nothing."""
        matches = self._path.find(document)
        return matches[0].value if matches else None

    def records(self, document: Any) -> list[Any] | None:
        """The records the path designates, or None when the path leads nowhere.

        ``$.data[*]`` on ``{"data": []}`` is an empty page (``[]``), on ``{}`` it is
        None. A path to a list without ``[*]`` (``$.data``) also yields its items.
        """
        if self._parent is not None:
            holders = [match.value for match in self._parent.find(document)]
            if not holders or not all(isinstance(holder, list) for holder in holders):
                return None
            return self.values(document)
        found = self.values(document)
        if not found:
            return None
        if len(found) == 1 and isinstance(found[0], list):
            return list(found[0])
        return found


def compile_path(expression: str) -> CompiledPath:
    """Parse ``expression`` once; raise JsonPathSyntaxError saying what is wrong."""
    from jsonpath_ng import parse
    from jsonpath_ng.exceptions import JSONPathError

    text = expression.strip()
    try:
        path = parse(text)
        parent = parse(text[: -len(_ALL_ITEMS)]) if text.endswith(_ALL_ITEMS) else None
    except JSONPathError as exc:
        raise JsonPathSyntaxError(f"invalid JSONPath {expression!r}: {exc}") from None
    return CompiledPath(expression, path, parent)

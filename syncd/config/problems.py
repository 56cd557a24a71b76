"""What is wrong with a configuration, where: Problem, ConfigError and the collector of one load."""

from __future__ import annotations

import re
from dataclasses import dataclass

from syncd.config.masking import MASK


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


RawPath = tuple[str | int, ...]


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

"""Interpolation of ``${VAR}``, ``${file:PATH}`` and ``$${`` (a literal ``${``) in string values."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syncd.config.problems import RawPath, _os_reason, _Problems

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

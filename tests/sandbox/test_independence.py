"""The sandbox stands apart from the code it tests.

A simulator that imported an adapter's fact tables would share its misreadings: a rule
transcribed wrongly would be wrong on both sides, and no test could see it. So no
module under ``syncd/sandbox`` may import the adapters, the engine, the mapping, the
state store, the configuration or the assembly of the parts: not at the top, not
inside a function, not under ``TYPE_CHECKING`` and not by a module name in a string.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import syncd.sandbox

SANDBOX = Path(syncd.sandbox.__file__).parent
FORBIDDEN = (
    "syncd.vendors",
    "syncd.engine",
    "syncd.mapping",
    "syncd.state",
    "syncd.config",
    "syncd.runtime",
    "syncd.assemble",
)
DYNAMIC_IMPORTERS = ("import_module", "__import__", "find_spec", "spec_from_file_location")


def _module_name(path: Path) -> str:
    parts = path.relative_to(SANDBOX.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(name: str, level: int, package: str) -> str:
    """``from ..x import y`` read in ``package``, as an absolute module name."""
    if level == 0:
        return name
    parts = package.split(".")
    base = parts[: len(parts) - (level - 1)]
    return ".".join([*base, name] if name else base)


def _static_text(node: ast.expr) -> tuple[str, bool] | None:
    """A module name argument as far as it is known before running, and whether it is
    whole: a literal is, an f-string gives only its literal start (``f"syncd.{x}"``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value, True
    if isinstance(node, ast.JoinedStr):
        prefix = ""
        for part in node.values:
            if not (isinstance(part, ast.Constant) and isinstance(part.value, str)):
                return prefix, False
            prefix += part.value
        return prefix, True
    return None


def _call_name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _dynamic_names(call: ast.Call, packages: tuple[str, ...]) -> list[tuple[str, bool]]:
    """What ``import_module("…", package=…)`` and its kin may load."""
    args = [*call.args[:1], *(k.value for k in call.keywords if k.arg == "name")]
    given = [
        _static_text(v)
        for v in [*call.args[1:2], *(k.value for k in call.keywords if k.arg == "package")]
    ]
    if given and given[0] is not None and given[0][1]:
        packages = (given[0][0],)
    names: list[tuple[str, bool]] = []
    for found in filter(None, map(_static_text, args)):
        text, whole = found
        level = len(text) - len(text.lstrip("."))
        names += [(_absolute(text.lstrip("."), level, p), whole) for p in packages]
    return names


def imported_names(
    source: str, module: str, is_package: bool = False
) -> list[tuple[int, str, bool]]:
    """(line, module name, whether the name is whole) for every import the source can
    make, wherever it stands; a relative name passed at run time is read both ways."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[int, str, bool]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, True) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module or "", node.level, package)
            found.append((node.lineno, base, True))
            found += [(node.lineno, f"{base}.{alias.name}", True) for alias in node.names]
        elif isinstance(node, ast.Call) and _call_name(node.func) in DYNAMIC_IMPORTERS:
            names = _dynamic_names(node, (package, module))
            found += [(node.lineno, name, whole) for name, whole in names]
    return found


def _is_forbidden(name: str, whole: bool) -> bool:
    """Forbidden itself, or (a name known only by its start) one that may become so."""
    return any(
        name == f or name.startswith(f"{f}.") or (not whole and f.startswith(name))
        for f in FORBIDDEN
    )


def forbidden_imports(source: str, module: str, is_package: bool = False) -> list[str]:
    return [
        f"line {line}: {name}" + ("" if whole else "…")
        for line, name, whole in imported_names(source, module, is_package)
        if _is_forbidden(name, whole)
    ]


def _sandbox_files() -> list[Path]:
    return sorted(SANDBOX.rglob("*.py"))


def test_the_sandbox_has_modules_to_check() -> None:
    files = _sandbox_files()
    assert len(files) > 30
    assert {"ilms", "learningpool", "hownow", "talentlms"} <= {p.parent.name for p in files}


@pytest.mark.parametrize("path", _sandbox_files(), ids=lambda p: str(p.relative_to(SANDBOX)))
def test_no_sandbox_module_imports_the_code_it_tests(path: Path) -> None:
    found = forbidden_imports(
        path.read_text(encoding="utf-8"), _module_name(path), path.name == "__init__.py"
    )
    assert not found, f"{path.relative_to(SANDBOX.parent.parent)} imports " + "; ".join(found)


def test_importing_every_sandbox_module_loads_none_of_them() -> None:
    """What a module imports in turn counts too: load them all in a fresh interpreter."""
    names = [_module_name(p) for p in _sandbox_files()]
    script = (
        "import importlib, sys\n"
        f"for name in {names!r}: importlib.import_module(name)\n"
        f"print('\\n'.join(sorted(m for m in sys.modules if m.startswith({FORBIDDEN!r}))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.split() == []


# --- the checker itself finds every way of importing ---------------------------------------

CAUGHT = {
    "top level": "from syncd.vendors.ilms.fields import FIELDS\n",
    "plain import": "import syncd.engine.planner as planner\n",
    "package and name": "from syncd import mapping\n",
    "relative": "from ...vendors.learningpool import fields\n",
    "in a function": "def f():\n    from syncd.state import store\n    return store\n",
    "under TYPE_CHECKING": (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from syncd.config import x\n"
    ),
    "importlib": "import importlib\nm = importlib.import_module('syncd.runtime')\n",
    "importlib, relative": (
        "from importlib import import_module\n"
        "m = import_module('...vendors', 'syncd.sandbox.ilms')\n"
    ),
    "importlib, relative to a named package": (
        "import importlib\nm = importlib.import_module('..engine', package='syncd.sandbox')\n"
    ),
    "importlib, a name completed at run time": (
        "import importlib\ndef load(part):\n    return importlib.import_module(f'syncd.{part}')\n"
    ),
    "importlib, f-string": (
        "import importlib\ndef load(v):\n    return importlib.import_module(f'syncd.vendors.{v}')\n"
    ),
    "__import__": "m = __import__('syncd.vendors.ilms')\n",
    "find_spec": "import importlib.util\ns = importlib.util.find_spec('syncd.engine')\n",
}


@pytest.mark.parametrize("source", CAUGHT.values(), ids=CAUGHT.keys())
def test_the_checker_catches(source: str) -> None:
    assert forbidden_imports(source, "syncd.sandbox.ilms.fields")


def test_the_checker_lets_the_sandbox_import_itself() -> None:
    source = (
        "import importlib\nfrom syncd.sandbox.http import route\nfrom . import lookups\n"
        "from syncd.model import DesiredUser\n"
        "def load(v):\n    return importlib.import_module(f'syncd.sandbox.{v}')\n"
        "'''syncd.vendors.ilms.fields, named in prose'''\n"
    )
    assert forbidden_imports(source, "syncd.sandbox.ilms.fields") == []

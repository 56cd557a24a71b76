"""Package attributes imported on first use, so importing a package stays cheap.

A command loads a vendor's declarations (what it can do) or the HTTP stack's error types
without loading everything the package could give: what is never used is never imported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_attributes(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: each name in ``homes`` comes from the
    module ``homes[name]`` names, imported the first time the name is asked for."""

    def __getattr__(name: str) -> Any:
        try:
            home = homes[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        return getattr(import_module(home), name)

    return __getattr__

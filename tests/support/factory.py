"""Fixtures that hand a test a maker of things which must be closed after it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")


@contextmanager
def closing_factory(build: Callable[..., T]) -> Iterator[Callable[..., T]]:
    """``build`` wrapped so that everything it made is closed on exit, even on failure."""
    made: list[Any] = []

    def make(*args: Any, **kwargs: Any) -> T:
        thing = build(*args, **kwargs)
        made.append(thing)
        return thing

    try:
        yield make
    finally:
        for thing in made:
            thing.close()

"""The Jinja sandbox of mapping templates, with limits on what one record may cost.

Jinja's ``SandboxedEnvironment`` keeps templates away from Python internals but not from
running for ever: ``{{ 'A' * 10**10 }}`` is folded at compile time and hangs ``config
check``; nested loops over ``range(100000)`` hang a cycle. Here:

- ``*``, ``**`` and ``%`` are checked before they run (and so are never folded at
  compile time): no text or list longer than ``MAX_TEXT``, no number past ``MAX_BITS``;
- ``range`` draws on a budget of ``MAX_LOOP`` items per record, nested loops included;
- the filters that take a width (``center``, ``indent``, ``format``, ``replace``) are
  held to ``MAX_TEXT``;
- every value a template gives is at most ``MAX_TEXT`` characters.

A breach raises ``TemplateLimitError``, which the mapping reports as that record's error,
naming the template; the run goes on.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

from jinja2 import filters
from jinja2.sandbox import SandboxedEnvironment, SecurityError

MAX_TEXT = 100_000
"""Characters (or list items) one template may produce."""
MAX_LOOP = 10_000
"""``range`` items one record's templates may ask for, all loops together."""
MAX_BITS = 4_096
"""Size of the largest number a template may compute (about 1,200 digits)."""

_WIDTH = re.compile(r"%[-+ #0]*(\*|\d+)?(?:\.(\*|\d+))?")


class TemplateLimitError(SecurityError):
    """A template asked for more than one record may cost."""


class LimitedEnvironment(SandboxedEnvironment):
    """``SandboxedEnvironment`` plus the limits above; ``start_record`` renews the budget."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._budget = threading.local()
        self.globals["range"] = self._range
        self.filters["center"] = _width_checked(filters.do_center, "width")
        self.filters["indent"] = _width_checked(filters.do_indent, "width")
        self.filters["format"] = _format_checked
        self.filters["replace"] = _replace_checked

    def start_record(self) -> None:
        """A new record: its templates get the whole loop budget again."""
        self._budget.left = MAX_LOOP

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            _check_repeat(left, right)
            _check_repeat(right, left)
            _check_number(left, right, lambda a, b: a.bit_length() + b.bit_length())
        elif operator == "**":
            _check_number(left, right, lambda a, b: a.bit_length() * abs(b))
        elif operator == "%" and isinstance(left, str):
            _check_widths(left)
        return super().call_binop(context, operator, left, right)

    def _range(self, *args: int) -> range:
        span = range(*args)
        left = getattr(self._budget, "left", MAX_LOOP) - len(span)
        if left < 0:
            raise TemplateLimitError(
                f"the loops of one record may run at most {MAX_LOOP:,} times in all"
            )
        self._budget.left = left
        return span


def check_value(value: Any) -> Any:
    """A template's result, refused when it is longer than ``MAX_TEXT``."""
    if isinstance(value, str | list | tuple) and len(value) > MAX_TEXT:
        raise TemplateLimitError(f"gives {len(value):,} characters or items; at most {MAX_TEXT:,}")
    return value


def _check_repeat(sequence: Any, times: Any) -> None:
    repeats = isinstance(sequence, str | list | tuple) and isinstance(times, int)
    if repeats and len(sequence) * times > MAX_TEXT:
        raise TemplateLimitError(
            f"repeating {len(sequence):,} items {times:,} times exceeds {MAX_TEXT:,}"
        )


def _check_number(left: Any, right: Any, bits: Callable[[int, int], int]) -> None:
    if isinstance(left, int) and isinstance(right, int) and bits(abs(left), right) > MAX_BITS:
        raise TemplateLimitError(f"the number would exceed {MAX_BITS:,} bits")


def _check_widths(pattern: str) -> None:
    for width, precision in _WIDTH.findall(pattern):
        for part in (width, precision):
            if part == "*" or (part and int(part) > MAX_TEXT):
                raise TemplateLimitError(f"a format width past {MAX_TEXT:,} is refused")


def _width_checked(filter_function: Callable[..., str], name: str) -> Callable[..., str]:
    def checked(value: Any, *args: Any, **kwargs: Any) -> str:
        width = kwargs.get(name, args[0] if args else 0)
        if isinstance(width, int) and width > MAX_TEXT:
            raise TemplateLimitError(f"{name} {width:,} is past {MAX_TEXT:,}")
        return filter_function(value, *args, **kwargs)

    return checked


def _format_checked(value: Any, *args: Any, **kwargs: Any) -> str:
    _check_widths(str(value))
    return filters.do_format(value, *args, **kwargs)


def _replace_checked(eval_ctx: Any, value: Any, old: Any, new: Any, count: Any = None) -> Any:
    text, old_text, new_text = str(value), str(old), str(new)
    times = text.count(old_text) if old_text else len(text) + 1
    if len(text) + times * len(new_text) > MAX_TEXT:
        raise TemplateLimitError(f"the replacement would exceed {MAX_TEXT:,} characters")
    return filters.do_replace(eval_ctx, value, old, new, count)


_replace_checked.jinja_pass_arg = filters.do_replace.jinja_pass_arg  # type: ignore[attr-defined]

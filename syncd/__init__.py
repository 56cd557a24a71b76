"""syncd: keeps LMS accounts in line with an HR system and carries learning results back."""

import gc
import sys


def _structlog_without_rich() -> None:
    """Load structlog without rich, and without the cyclic garbage collector: every command
    starts faster.

    structlog imports rich at its own import, for pretty tracebacks that syncd never
    shows (``format_exc_info`` renders exceptions before any renderer sees them). rich
    stays importable afterwards, for the tables and the live progress line that use it.
    Its import (and asyncio's, which it is the first to load) frees nothing in cycles: the
    collector's passes during it found nothing.
    """
    if "structlog" in sys.modules or "rich" in sys.modules:
        return
    collecting = gc.isenabled()
    gc.disable()
    sys.modules["rich"] = None  # type: ignore[assignment]  # "import rich" fails while set
    try:
        import structlog  # noqa: F401
    finally:
        del sys.modules["rich"]
        if collecting:
            gc.enable()


_structlog_without_rich()

__version__ = "0.1.0"

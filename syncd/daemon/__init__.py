"""``syncd run``: the long-running service (SPEC §2)."""

from syncd.daemon.main import run_daemon

__all__ = ["run_daemon"]

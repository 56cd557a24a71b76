"""A leaver's learning results, kept for the pull before their account is closed.

Some vendors stop showing a deactivated account's results (``Capabilities.
results_vanish_on_deactivation``: HowNow lists no deactivated user), so a course
finished just before a person leaves would never reach HR. Before such a vendor
is sent a deactivation or a delete, the push reads the leaver's results once and
parks them (``parked_results``, committed before the account is closed); the next
pull delivers them like any parked result, once per change, as it would have.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from sqlalchemy import Engine

from syncd.model import Operation, OpKind
from syncd.state import parked
from syncd.vendors.base import Adapter

log = structlog.get_logger(__name__)

CLOSING = (OpKind.DEACTIVATE, OpKind.DELETE)


def keep_leavers_results(
    engine: Engine, connector: str, adapter: Adapter, batch: Sequence[Operation]
) -> None:
    """Park the results of the accounts ``batch`` closes, where the vendor would lose them."""
    if not adapter.capabilities.results_vanish_on_deactivation:
        return
    accounts = [op.remote_id for op in batch if op.kind in CLOSING and op.remote_id]
    if not accounts:
        return
    results = adapter.results_before_leaving(accounts)
    with engine.begin() as conn:
        parked.park(conn, connector, results)
    log.info(
        "push_leavers_results_kept",
        connector=connector,
        accounts=len(accounts),
        results=len(results),
    )

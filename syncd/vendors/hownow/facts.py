"""What HowNow can do, as its adapter declares it: read without loading the adapter.

Configuration checks and a push with nothing to send need only this, not the HTTP stack.
"""

from __future__ import annotations

from syncd.model import OpKind
from syncd.vendors.base import NOT_DOCUMENTED, CallCost, Capabilities, VendorFacts

FACTS = VendorFacts(
    capabilities=Capabilities(
        delete=True,
        async_jobs=True,
        pull=True,
        learning_records_sink=True,
        results_vanish_on_deactivation=True,  # GET /users lists active users only
        list_accounts=True,
        arranges_across_people=True,  # managers first (``ordering``)
        # An upsert is a job, polled until it ends (docs/benchmarks.md, "HowNow rate").
        call_costs={OpKind.CREATE: CallCost(per_batch=2), OpKind.UPDATE: CallCost(per_batch=2)},
    ),
    absent={
        "groups": NOT_DOCUMENTED,
        "enrollments": NOT_DOCUMENTED,
        "incremental_pull": "its API offers no changed-since read",
    },
)

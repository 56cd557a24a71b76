"""HowNow: users through asynchronous upserts, leavers and rehires, learning results both ways.

``HowNowAdapter`` is the push/pull adapter; the ``hownow`` sink, which writes learning
results from other LMSs into HowNow, is ``syncd.vendors.hownow.sink``.
"""

from syncd.vendors.hownow.adapter import HowNowAdapter

__all__ = ["HowNowAdapter"]

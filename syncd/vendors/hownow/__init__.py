"""HowNow: users through asynchronous upserts, leavers and rehires, learning results both ways.

``HowNowAdapter`` is the push/pull adapter (registered as
``syncd.vendors.hownow:HowNowAdapter``); the ``hownow`` sink, which writes learning
results from other LMSs into HowNow, is ``syncd.vendors.hownow_sink``.
"""

from syncd.vendors.hownow.adapter import HowNowAdapter

__all__ = ["HowNowAdapter"]

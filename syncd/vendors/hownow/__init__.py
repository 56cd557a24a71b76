"""HowNow: users through asynchronous upserts, leavers and rehires, learning results both ways.

``HowNowAdapter`` is the push/pull adapter; the ``hownow`` sink, which writes learning
results from other LMSs into HowNow, is ``syncd.vendors.hownow.sink``.
"""

from typing import TYPE_CHECKING

from syncd.lazy import lazy_attributes

if TYPE_CHECKING:
    from syncd.vendors.hownow.adapter import HowNowAdapter

# The adapter (and the HTTP stack under it) loads when first asked for: ``facts`` alone
# does not need it.
__getattr__ = lazy_attributes(__name__, {"HowNowAdapter": "syncd.vendors.hownow.adapter"})

__all__ = ["HowNowAdapter"]

"""A learning record store (xAPI 1.0.3): where the ``xapi`` sink sends results and the
``xapi`` pull source reads them.

``vocabulary`` holds the words both use, ``statements`` turns a result into a statement,
``reading`` a statement back into a result; ``api`` is the LRS's statements resource,
``sink`` the sink and ``source`` the paged, budgeted reader of a connector's pull.
"""

from syncd.vendors.xapi.sink import XapiSink, open_xapi_sink
from syncd.vendors.xapi.source import LrsSource

__all__ = ["LrsSource", "XapiSink", "open_xapi_sink"]

"""HR sinks: where learning results go (SPEC §3 ``sinks:``, §4 learning result).

Each sink implements ``syncd.sink_protocol.Sink``: ``write(results)`` delivers one
batch all-or-nothing or raises ``SinkError`` (the pull cursor then stays put).
Every sink writes ``LearningResult.as_row()`` in ``RESULT_COLUMNS`` order.
``syncd.assemble.open_sink`` builds the one a configuration names.
"""

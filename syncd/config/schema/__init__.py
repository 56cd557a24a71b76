"""The configuration's pydantic models (SPEC §3), apart from the loader that reads the file.

One module per part of the document: ``models`` (from ``state`` down to one connector's
rules), ``values`` (thresholds, schedules, conditions, course ids), ``targets`` (one model
per LMS), ``sources`` and ``sinks`` (the HR side), ``rate_limits``, ``durations`` and
``urls`` (what targets share), and ``strict`` (the base refusing unknown keys). Vendors,
sources and sinks import the models they are configured by from here; nothing here
imports any other part of syncd.
"""

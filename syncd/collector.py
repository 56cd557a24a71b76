"""Keeping the cyclic garbage collector off the few containers a cycle fills with a million.

A no-change cycle fills a handful of containers (the links' digests, the keys read) with
one entry a person while it makes almost no other object, so they are still in the
collector's young generation when it is done, and the first young pass after it walks
every entry: 0.06-0.09 s at a million, for nothing (strings and integers hold no cycle).
Made old while still empty, they are walked only by a full pass, which so few new
objects never start.
"""

from __future__ import annotations

import gc


def make_old() -> None:
    """Move every object alive now to the oldest generation: call it right after making
    the containers that are about to grow large, while they are empty. It walks only
    the young objects (those made since the last pass: a few thousand, about a millisecond)."""
    gc.collect(1)

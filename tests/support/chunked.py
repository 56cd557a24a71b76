"""``syncd`` with its chunk and batch sizes set small: ``python tests/support/chunked.py N ARGS``.

A first sync streams its new people, writes its outbox and resumes it in chunks of
thousands, reads its links' digests in pages of 250,000, and a pull gives a file or table
sink 500 results a write, so a world of forty people never has a second chunk. Run this
way, each of those sizes is ``N``: a plan of a few people streams, and a kill can land
between its chunks, between the outbox's batches, between a resume's batches and between
a pull's deliveries.

With ``SYNCD_CHUNKS_SEEN`` naming a file, each push that streamed appends a line to it
once its chunks are recorded, so that a caller can tell the sizes took effect.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from syncd.engine.push import resume, stream
from syncd.sink_protocol import SinkBase
from syncd.state import digests, store


def entry(size: int) -> tuple[str, ...]:
    """What follows the interpreter to run syncd with its chunk sizes at ``size``
    (``tests.support.cli.entered_as``). The script by its path: it imports only syncd, so
    it runs from any working directory."""
    return (__file__, str(size))


def set_sizes(size: int) -> None:
    """New people per streamed chunk, outbox rows per write, operations per resumed batch,
    links per page of digests read, results per write of a sink that sets no batch of its
    own (csv, sql)."""
    stream.CHUNK = size
    store.OUTBOX_BATCH = size
    resume.BATCH = size
    digests.PAGE = size
    SinkBase.max_batch = size


SEEN = "SYNCD_CHUNKS_SEEN"


def note_streamed_pushes(path: str) -> None:
    """Append ``chunks N`` to ``path`` whenever a push has recorded its N streamed chunks."""
    record: Callable[..., None] = stream.NewPeople.record

    def noted(self: Any, run_id: int, first_seq: int) -> None:
        record(self, run_id, first_seq)
        if self.chunks:
            with open(path, "a", encoding="utf-8") as seen:
                seen.write(f"chunks {len(self.chunks)}\n")

    stream.NewPeople.record = noted  # type: ignore[method-assign]


def streamed_pushes(path: Path) -> int:
    """How many pushes noted in ``path`` streamed more than one chunk."""
    if not path.exists():
        return 0
    return sum(int(line.split()[1]) > 1 for line in path.read_text().splitlines())


if __name__ == "__main__":
    set_sizes(int(sys.argv.pop(1)))
    if os.environ.get(SEEN):
        note_streamed_pushes(os.environ[SEEN])
    from syncd.cli import main

    main()

"""Membership and enrollment writes settled by the vendor's state, never by its answer's code.

A membership or enrollment is a state the vendor can be asked about, so syncd trusts
only what it reads (SPEC §9):

- a write sent before (a lost answer, a crash: the outbox counts it) is looked up
  first, and not sent again when the vendor already holds it;
- a write whose answer is lost now is looked up, and sent again only when the vendor
  does not hold it (``SENDS`` times at most); when the state cannot be read it stays
  unconfirmed, for the next cycle to look up;
- a refusal of any status ("already a member", "not enrolled", or words no document
  shows) is done when the state is as wanted, and a refusal otherwise.

Each vendor's module says how to send and how to read; this says when.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import structlog

from syncd.http import OutcomeUnknown
from syncd.model import Operation, Outcome, OutcomeStatus

log = structlog.get_logger(__name__)

Answer = TypeVar("Answer")

SENDS = 3
"""How many times a write whose answers keep getting lost is sent, each after a look-up."""


@dataclass(frozen=True, slots=True)
class StateWrite(Generic[Answer]):
    """One write, the read that shows whether it holds, and which way it should hold."""

    send: Callable[[], Answer]  # raises OutcomeUnknown when the answer is lost
    holds: Callable[[], bool | None]  # the vendor's state; None when it cannot be read
    wanted: bool  # True: a member / enrolled; False: not
    accepted: Callable[[Answer], bool]  # a success answer (2xx)


@dataclass(frozen=True, slots=True)
class Refused(Generic[Answer]):
    """A refusal the state did not overrule; ``read`` is what the read showed."""

    answer: Answer
    read: bool | None  # the opposite of ``wanted``, or None when it could not be read

    def confirmed(self, listing: str, item: str = "the account") -> str:
        """What the read-back showed, for the refusal's reason (``listing``: "the group's
        members"): whatever the vendor's words, the state is not as wanted."""
        if self.read is None:
            return f"; {listing} could not be read to check it"
        return f"; read back, {listing} {'still' if self.read else 'do not'} include {item}"


def settle(
    op: Operation, write: StateWrite[Answer], *, sends: int = SENDS
) -> Outcome | Refused[Answer]:
    """DONE when the vendor holds the state (however it answered), UNKNOWN when its answer
    was lost and the state cannot be read (or ``sends`` answers were lost), else the
    refusal for the caller to word."""
    if op.attempts > 1 and write.holds() is write.wanted:
        log.info("write_found_applied", operation=op.describe(), when="before sending again")
        return _done(op)
    for _ in range(sends):
        try:
            answer = write.send()
            break
        except OutcomeUnknown as lost:
            held = write.holds()
            if held is write.wanted:
                log.info("write_found_applied", operation=op.describe(), when="after a lost answer")
                return _done(op)
            if held is None:
                return Outcome(
                    op, OutcomeStatus.UNKNOWN, error=f"{lost}; the state could not be read"
                )
            unanswered = lost  # looked up: it did not take, so it is sent again
    else:
        return Outcome(
            op, OutcomeStatus.UNKNOWN, error=f"{unanswered} (sent {sends} times, none answered)"
        )
    if write.accepted(answer):
        return _done(op)
    held = write.holds()
    if held is write.wanted:
        return _done(op)  # already so, whatever the answer said
    return Refused(answer, held)


def _done(op: Operation) -> Outcome:
    return Outcome(op, OutcomeStatus.DONE, remote_id=op.remote_id)

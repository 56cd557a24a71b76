"""Pull step 2, identify: whose result is it? LMS user -> HR key, done here and only here.

Adapters read results as the LMS names people (``lms_user_id``); the link that
a push made names the HR person. Without a link, an LMS that itself carries
the HR key (HowNow's external_user_id) has had it read by its adapter.

A result of an LMS account no HR person is linked to (an administrator, an external
learner, a contractor HR does not send, or someone not linked *yet*) is never
dropped and never a failure of the cycle: it is parked and delivered in the first
cycle after the person is linked, and counted apart as *unlinked*
(``pull.unlinked: report``, the default: ``syncd status`` and the
``syncd_unlinked_results`` gauge) or not at all (``ignore``). Only a result that
cannot be identified at all (no LMS user, no course) is an error in ``sync_errors``
(``hr_key`` ``lms:<lms user id>``, operation ``validate``) and makes the cycle partial.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from sqlalchemy import Connection

from syncd.model import LearningResult
from syncd.state import store

DIRECTION = "pull"
OPERATION = "pull"  # sync_errors.operation of "not linked", recorded by earlier versions
REJECT_OPERATION = "validate"  # ... and of results that cannot be identified at all


def unknown_user_key(lms_user_id: str) -> str:
    """The ``sync_errors.hr_key`` of a result of LMS user ``lms_user_id``."""
    return f"lms:{lms_user_id}"


def identify(result: LearningResult, connector: str, links: Mapping[str, str]) -> LearningResult:
    """``result`` as delivered: its connector, and its person's HR key (None: not linked).

    ``links`` maps LMS user id to HR key; a link wins over the key the LMS carries.
    """
    hr_key = links.get(result.lms_user_id) or result.hr_key
    return replace(result, connector=connector, hr_key=hr_key)


def resolve_unknown(conn: Connection, connector: str, results: Iterable[LearningResult]) -> None:
    """Delivered results close their LMS user's "not linked" and "rejected" errors."""
    users = {unknown_user_key(r.lms_user_id) for r in results}
    store.resolve_errors(conn, connector, users, (OPERATION, REJECT_OPERATION), direction=DIRECTION)


@dataclass(slots=True)
class Unidentified:
    """What a cycle could not deliver: unlinked results (counted apart) and rejected ones."""

    # LMS user id -> result ids kept for an account no HR person is linked to (yet).
    unlinked: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    # LMS user ids the adapter reported as unlinked without yielding their results.
    unreported: set[str] = field(default_factory=set)
    # error key -> reasons, for results that cannot be delivered at all.
    rejected: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def not_linked(self, result: LearningResult) -> None:
        self.unlinked[result.lms_user_id].add(result.result_id)

    def rejects(self, result: LearningResult) -> bool:
        """Whether ``result`` names no LMS user or no course (then it is noted as rejected)."""
        missing = [name for name in ("lms_user_id", "course_id") if not getattr(result, name)]
        if not missing:
            return False
        key = unknown_user_key(result.lms_user_id) if result.lms_user_id else ""
        self.rejected[key].append(
            f"a result of LMS user {result.lms_user_id or '?'} in course "
            f"{result.course_id or '?'} has no {' and no '.join(missing)}: "
            "it cannot be identified, so it is not delivered"
        )
        return True

    @property
    def unlinked_results(self) -> int:
        """Results of unlinked accounts this cycle read (or found parked)."""
        return sum(len(results) for results in self.unlinked.values())

    @property
    def unlinked_accounts(self) -> int:
        return len(set(self.unlinked) | self.unreported)

    @property
    def failed(self) -> int:
        """Results that failed the cycle: only those that cannot be identified."""
        return sum(len(reasons) for reasons in self.rejected.values())

    def error_rows(self) -> dict[tuple[str, str], str]:
        """(sync_errors hr_key, operation) -> reason for what cannot be delivered at all."""
        rows: dict[tuple[str, str], str] = {}
        for key, reasons in sorted(self.rejected.items()):
            more = f" (and {len(reasons) - 1} more)" if len(reasons) > 1 else ""
            rows[key, REJECT_OPERATION] = reasons[-1] + more
        return rows

"""Pull step 2, identify: whose result is it? LMS user -> HR key, done here and only here.

Adapters read results as the LMS names people (``lms_user_id``); the link that
a push made names the HR person. Without a link, an LMS that itself carries
the HR key (HowNow's external_user_id) has had it read by its adapter. A result
of an LMS user no HR person is linked to is never dropped: it is reported in
``sync_errors`` (``hr_key`` ``lms:<lms user id>``, operation ``pull``), parked,
and delivered in the first cycle after the person is linked.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from sqlalchemy import Connection

from syncd.model import LearningResult
from syncd.state import store

DIRECTION = "pull"
OPERATION = "pull"  # sync_errors.operation of results whose LMS user is not linked
REJECT_OPERATION = "validate"  # ... and of results that cannot be identified at all
_COURSES_IN_REASON = 5


def unknown_user_key(lms_user_id: str) -> str:
    """The ``sync_errors.hr_key`` of an LMS user no HR person is linked to."""
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
    """What a cycle could not deliver, for ``sync_errors`` and the failed count."""

    # LMS user id -> {result_id: course label}: results kept for a person not yet linked.
    unknown: dict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))
    # LMS user ids the adapter reported as unmapped without yielding their results.
    unreported: set[str] = field(default_factory=set)
    # error key -> reasons, for results that cannot be delivered at all.
    rejected: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def not_linked(self, result: LearningResult) -> None:
        self.unknown[result.lms_user_id][result.result_id] = _course_label(result)

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
    def failed(self) -> int:
        unknown_results = sum(len(found) for found in self.unknown.values())
        rejected = sum(len(reasons) for reasons in self.rejected.values())
        return unknown_results + len(self.unreported - set(self.unknown)) + rejected

    def error_rows(self) -> dict[tuple[str, str], str]:
        """(sync_errors hr_key, operation) -> reason for what this cycle could not deliver."""
        rows: dict[tuple[str, str], str] = {}
        for user, courses in sorted(self.unknown.items()):
            labels = sorted(set(courses.values()))
            listed = ", ".join(labels[:_COURSES_IN_REASON])
            if len(labels) > _COURSES_IN_REASON:
                listed += f" and {len(labels) - _COURSES_IN_REASON} more"
            rows[unknown_user_key(user), OPERATION] = (
                f"LMS user {user} has {len(courses)} result(s) (course {listed}) but no HR "
                "person is linked to that LMS account; they are kept and delivered once "
                "the person is linked"
            )
        for user in sorted(self.unreported - set(self.unknown)):
            rows[unknown_user_key(user), OPERATION] = (
                f"LMS user {user} has results but no HR person is linked to that LMS "
                "account; the adapter skipped them (delivered once the person is linked "
                "and the results are read again)"
            )
        for key, reasons in sorted(self.rejected.items()):
            more = f" (and {len(reasons) - 1} more)" if len(reasons) > 1 else ""
            rows[key, REJECT_OPERATION] = reasons[-1] + more
        return rows


def _course_label(result: LearningResult) -> str:
    return f"{result.course_id} ({result.course_name})" if result.course_name else result.course_id

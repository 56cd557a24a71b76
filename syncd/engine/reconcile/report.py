"""The words of ``syncd reconcile``: counts per situation, with the first examples of each."""

from __future__ import annotations

from syncd.engine.reconcile.situations import Finding, Situation

EXAMPLES = 3
"""Examples shown per situation; ``--json`` lists every account."""

_MEANING = {
    Situation.IN_SYNC: "as HR wants them",
    Situation.DRIFTED: "changed in the LMS: differs from HR",
    Situation.MISSING_REMOTE: "linked, but gone from the LMS",
    Situation.ORPHAN: "unknown to HR, matching nobody",
    Situation.UNLINKED_MATCH: "match an HR person but are not linked",
}


def report_lines(connector: str, findings: list[Finding], applied: bool) -> list[str]:
    """The printed report: a header, then one line per situation and its first examples."""
    mode = "acted on by policy" if applied else "report only (--apply acts on the policies)"
    lines = [f"reconcile {connector}: {len(findings)} accounts, {mode}"]
    for situation in Situation:
        found = [f for f in findings if f.situation is situation]
        lines.append(f"  {situation.value:<15} {len(found):>6}  {_MEANING[situation]}")
        if situation is Situation.IN_SYNC:
            continue
        for finding in found[:EXAMPLES]:
            lines.append(f"      {describe(finding)}")
        if len(found) > EXAMPLES:
            lines.append(f"      ... and {len(found) - EXAMPLES} more (see --json)")
    return lines


def describe(finding: Finding) -> str:
    """One account's finding on one line: who, what differs, and what was done about it."""
    who = finding.hr_key or "(no HR person)"
    parts = [f"{who} (LMS {finding.lms_user_id})"]
    for name, difference in finding.fields.items():
        parts.append(f"{name}: LMS {difference.lms!r}, HR {difference.hr!r}")
    memberships = (
        ("missing group", finding.missing_groups),
        ("extra group", finding.extra_groups),
        ("missing course", finding.missing_courses),
        ("extra course", finding.extra_courses),
    )
    for label, names in memberships:
        if names:
            parts.append(f"{label} {', '.join(sorted(names))}")
    if finding.linked_elsewhere:
        parts.append(f"already linked to LMS {finding.linked_elsewhere}")
    return "; ".join(parts) + f" -> {finding.action}"

"""One reconciliation run of one connector: a full compare with the LMS, and the policies.

1. read HR as the push reads it (every person rendered, none skipped as unchanged);
2. list every LMS account (paged, at read priority), with the mapped memberships and
   enrollments where the vendor can list them, and look up the linked accounts the
   listing left out;
3. give each account its situation (``situations``);
4. with ``apply``, carry out what the policies ask (``actions``) through the push's
   guard, outbox and sender; without, only report.

It holds the connector's push lease, so it never sends while a push does, and leaves
a ``sync_runs`` row and a ``sync_status`` row with direction ``reconcile``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import structlog

from syncd.engine import cycle
from syncd.engine.cycle import CycleOutcome, CycleResult
from syncd.engine.push import outbox
from syncd.engine.push.plan import guard
from syncd.engine.push.read import Reading, read_people, render_people
from syncd.engine.push.run import OutboxCycle, PushSettings, close_run, sent_counts
from syncd.engine.reconcile.actions import Policies, plan_actions
from syncd.engine.reconcile.situations import (
    LIVE,
    Expected,
    Finding,
    Situation,
    classify,
    managed_memberships,
)
from syncd.model import LinkStatus
from syncd.state import store
from syncd.vendors.base import AccountLister, ListedAccount

log = structlog.get_logger(__name__)

DIRECTION = "reconcile"  # holds the push's lease (cycle_lease): never both at once


@dataclass(slots=True)
class ReconcileSettings:
    """The connector's push parts (source, mapper, adapter, guard …) and its policies."""

    push: PushSettings
    policies: Policies = field(default_factory=Policies)
    apply: bool = False


@dataclass(slots=True)
class ReconcileResult(CycleResult):
    findings: list[Finding] = field(default_factory=list)
    applied: bool = False

    @property
    def situations(self) -> dict[str, int]:
        """Accounts per situation, every situation named (0 when none)."""
        counts = Counter(f.situation for f in self.findings)
        return {situation.value: counts[situation] for situation in Situation}


def run_reconcile(settings: ReconcileSettings) -> ReconcileResult:
    """One run; never raises for a vendor, source or record problem: the result says it."""
    return cycle.exclusively(
        settings.push, DIRECTION, lambda: _ReconcileRun(settings).run(), ReconcileResult
    )


class _ReconcileRun(OutboxCycle):
    direction = DIRECTION
    result_type = ReconcileResult

    def __init__(self, settings: ReconcileSettings) -> None:
        super().__init__(settings.push)
        self.settings = settings
        self.accounts_read = 0

    def _run(self, run_id: int) -> ReconcileResult:
        s = self.s
        lister = s.adapter.listing
        if not s.adapter.capabilities.list_accounts or lister is None:
            reason = s.adapter.facts.missing_reason(s.adapter.target, "list_accounts")
            message = f"{s.adapter.vendor} cannot list its users ({reason})"
            return ReconcileResult(CycleOutcome.FAILED, run_id, message=message)
        reading, expected = self._expected(lister)
        accounts, gone = self._accounts(lister, expected)
        findings = classify(accounts, gone, expected, s.policy, lister.comparable)
        plan = plan_actions(findings, expected, s.policy, self.settings.policies)
        plan.ops = s.adapter.arrange(plan.ops)
        errors = [f"{e.hr_key}: {e.operation}: {e.reason}" for e in reading.errors]
        result = ReconcileResult(CycleOutcome.SUCCESS, run_id, errors=errors, findings=findings)
        if not self.settings.apply or not (plan.ops or plan.adopted):
            return result
        with s.engine.connect() as conn:
            verdict, approved = guard(conn, s.connector, plan, s.threshold)
        if verdict.tripped and not approved:
            log.warning(
                "guard_tripped",
                connector=s.connector,
                direction=DIRECTION,
                deprovisions=verdict.deprovisions,
                linked=verdict.linked,
                limit=verdict.limit,
            )
            result.outcome, result.message = CycleOutcome.GUARDED, verdict.reason
            return result
        outbox.record(
            s.engine, s.connector, run_id, reading, plan, s.policy, consume_approval=verdict.tripped
        )
        self.sender.run(plan.ops)
        result.applied = True
        result.errors += self.sender.tally.failures
        if self.sender.tally.counts["failed"]:
            result.outcome = CycleOutcome.PARTIAL
        return result

    def _expected(self, adapter: AccountLister) -> tuple[Reading, Expected]:
        """HR's desired state for everyone, and the links: what the LMS is compared with."""
        s = self.s
        s.adapter.begin_validation()
        reading = read_people(
            s.records(), s.key, s.mapper, s.adapter.validate, {}, source=s.source
        )
        with s.engine.connect() as conn:
            links = {link.hr_key: link for link in store.iter_links(conn, s.connector, LinkStatus)}
        in_flight = {k for k, link in links.items() if link.status is LinkStatus.PENDING}
        match_of: dict[str, str] = {}
        for hr_key, desired in reading.desired.items():
            value = adapter.match_value(desired)
            if value and hr_key not in in_flight:
                match_of.setdefault(value, hr_key)
        left_alone = reading.out_of_scope | reading.held | in_flight
        others = render_people(s.records(), s.key, s.mapper, left_alone) if left_alone else {}
        unmanaged = {adapter.match_value(person) for person in others.values()}
        groups, courses = managed_memberships(reading.desired.values(), links.values())
        expected = Expected(
            desired=reading.desired,
            links=links,
            match_of=match_of,
            unmanaged=frozenset(value for value in unmanaged if value),
            left_alone=frozenset(reading.held | in_flight),
            groups=groups,
            courses=courses,
        )
        return reading, expected

    def _accounts(
        self, adapter: AccountLister, expected: Expected
    ) -> tuple[list[ListedAccount], list[str]]:
        """Every listed account, and the linked accounts the LMS no longer has.

        An account the listing left out is looked up on its own before it is called
        gone: a vendor may list active accounts only (HowNow), and a leaver's account
        left out that way is as syncd left it.
        """
        accounts = list(adapter.list_accounts(expected.groups, expected.courses))
        listed = {account.remote_id for account in accounts}
        gone: list[str] = []
        for link in expected.links.values():
            if link.status not in LIVE or not link.remote_id or link.remote_id in listed:
                continue
            if not link.active:
                continue
            found = adapter.find_account(link.remote_id, expected.groups, expected.courses)
            if found is None:
                gone.append(link.remote_id)
            else:
                accounts.append(found)
        self.accounts_read = len(accounts)
        return accounts, gone

    def _finish(self, result: ReconcileResult) -> None:
        s = self.s
        result.counts = sent_counts(
            self.sender.tally,
            records_seen=self.accounts_read,
            invalid=0,
            api_calls=s.adapter.api_calls - self.calls_before,
        )
        close_run(s, DIRECTION, result, started=self.began, **result.situations)

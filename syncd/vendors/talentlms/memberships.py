"""Group and branch memberships: names resolved to ids once per run, conflicts read kindly.

Operations name a group (``Engineering Team``) or a branch (``branch:marketing``).
Groups and branches are listed once and cached; one that does not exist is
created when the connector allows its kind (``create_missing``), otherwise the
operation fails with a reason that says what to do.

"Already so" is settled by the account's groups or branches as TalentLMS reads them
(``GET /users/:id?resources=groups``; v2 lists no group's members, digest §8.3),
never by an answer's code: adding a group member twice has no documented answer
(the sandbox says 409 ``conflict.user_already_in_group``), and any refusal is done
when the read shows the membership as wanted. A write whose answer was lost, or that
was sent before (a crash), is looked up the same way before it is sent again
(``syncd.vendors.settle``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from syncd.http import RecordRejected, VendorClient
from syncd.limits import Priority
from syncd.model import Membership, MembershipKind, Operation, OpKind, Outcome, OutcomeStatus
from syncd.vendors.settle import StateWrite, settle
from syncd.vendors.talentlms.api import (
    BRANCH_USERS,
    BRANCHES,
    GROUP_MEMBERSHIPS,
    GROUPS,
    Answer,
    data_of,
    is_not_found,
    iter_pages,
    send_relation,
)
from syncd.vendors.talentlms.readback import holds

log = structlog.get_logger(__name__)

CACHE_SECONDS = 600.0  # a daemon's adapter re-lists after this long; one run lists once


@dataclass(frozen=True, slots=True)
class Kind:
    """What differs between groups and branches."""

    name: str  # "group" | "branch"
    resource: str  # what ``GET /users/:id?resources=`` calls the account's list of them
    listing: str
    membership: str
    id_key: str

    def create_body(self, name: str) -> dict[str, Any]:
        if self.name == "branch":
            # All three are required (digest §8.5); the name also becomes the branch's host.
            return {"name": name, "description": name, "default_locale": "en-US"}
        return {"name": name}


GROUP = Kind("group", "groups", GROUPS, GROUP_MEMBERSHIPS, "group_id")
BRANCH = Kind("branch", "branches", BRANCHES, BRANCH_USERS, "branch_id")


def split_target(target: str) -> tuple[Kind, str]:
    membership = Membership.group(target)
    return (BRANCH if membership.kind is MembershipKind.BRANCH else GROUP), membership.name


class Memberships:
    def __init__(
        self,
        client: VendorClient,
        creatable: frozenset[str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._creatable = creatable
        self._clock = clock
        self._ids: dict[str, dict[str, str]] = {}  # kind -> name -> id
        self._listed_at: dict[str, float] = {}

    # --- names to ids --------------------------------------------------------------------------

    def _names(self, kind: Kind, priority: Priority = Priority.WRITE) -> dict[str, str]:
        listed = self._listed_at.get(kind.name)
        if listed is None or self._clock() - listed > CACHE_SECONDS:
            names: dict[str, str] = {}
            for page in iter_pages(self._client, kind.listing, priority=priority):
                for item in page.items:
                    if item.get("id") is not None and isinstance(item.get("name"), str):
                        names[item["name"]] = str(item["id"])
            self._ids[kind.name] = names
            self._listed_at[kind.name] = self._clock()
            log.info("talentlms_listed", kind=kind.name, count=len(names))
        return self._ids[kind.name]

    def _forget(self, kind: Kind) -> None:
        self._listed_at.pop(kind.name, None)

    def resolve(self, kind: Kind, name: str, priority: Priority = Priority.WRITE) -> str | None:
        """The id of the group/branch ``name``: exact, else its one case-insensitive match."""
        names = self._names(kind, priority)
        if name in names:
            return names[name]
        folded = [gid for other, gid in names.items() if other.casefold() == name.casefold()]
        return folded[0] if len(folded) == 1 else None

    def _create(self, kind: Kind, name: str) -> str | None:
        response = self._client.post(
            kind.listing, json=kind.create_body(name), idempotent=True, priority=Priority.WRITE
        )
        if response.status_code == 409:  # created meanwhile by someone else: list again
            self._forget(kind)
            return self.resolve(kind, name)
        data = data_of(response, f"POST {kind.listing}")
        new_id = data.get("id") if isinstance(data, Mapping) else None
        if new_id is None:
            self._forget(kind)
            return self.resolve(kind, name)
        self._ids.setdefault(kind.name, {})[name] = str(new_id)
        log.info("talentlms_created", kind=kind.name, id=str(new_id))
        return str(new_id)

    def unusable(self, targets: frozenset[str]) -> dict[str, str]:
        """Groups and branches among ``targets`` nobody could be added to, and why (for a plan:
        listed at read priority)."""
        found: dict[str, str] = {}
        for target in sorted(targets):
            kind, name = split_target(target)
            if not name.strip():
                found[target] = f"the {kind.name} name is empty"
            elif kind.name in self._creatable:
                continue  # created by the push when missing
            elif self.resolve(kind, name, Priority.READ) is None:
                found[target] = (
                    f"{kind.name} {name!r} does not exist in TalentLMS and create_missing is off"
                )
        return found

    # --- operations ----------------------------------------------------------------------------

    def execute(self, op: Operation) -> Outcome:
        kind, name = split_target(op.target or "")
        removing = op.kind is OpKind.GROUP_REMOVE
        if not name.strip():
            return Outcome(op, OutcomeStatus.FAILED, error=f"the {kind.name} name is empty")
        target_id = self.resolve(kind, name)
        if target_id is None and removing:
            # No such group: nobody is in it.
            return Outcome(op, OutcomeStatus.DONE, remote_id=op.remote_id)
        if target_id is None:
            if kind.name not in self._creatable:
                return Outcome(
                    op,
                    OutcomeStatus.FAILED,
                    error=f"{kind.name} {name!r} does not exist in TalentLMS; create it or set "
                    "create_missing: true",
                )
            try:
                target_id = self._create(kind, name)
            except RecordRejected as error:
                return Outcome(
                    op,
                    OutcomeStatus.FAILED,
                    error=f"TalentLMS refused to create {kind.name} {name!r}: {error.message}",
                )
            if target_id is None:
                return Outcome(
                    op, OutcomeStatus.FAILED, error=f"{kind.name} {name!r} could not be created"
                )
        return self._send(op, kind, name, target_id, removing)

    def _send(
        self, op: Operation, kind: Kind, name: str, target_id: str, removing: bool
    ) -> Outcome:
        body = {kind.id_key: int(target_id), "user_id": int(str(op.remote_id))}
        settled = settle(
            op,
            StateWrite(
                send=lambda: send_relation(
                    self._client, "DELETE" if removing else "POST", kind.membership, body
                ),
                holds=lambda: holds(self._client, op.remote_id, kind.resource, int(target_id)),
                wanted=not removing,
                accepted=lambda answer: answer.ok,
            ),
        )
        if isinstance(settled, Outcome):
            return settled
        answer = settled.answer
        gone = self._gone(op, kind, name, answer)
        if gone is not None:
            if removing:  # nothing left to remove
                return Outcome(op, OutcomeStatus.DONE, remote_id=op.remote_id)
            return Outcome(op, OutcomeStatus.FAILED, error=gone)
        verb = "remove" if removing else "add"
        return Outcome(
            op,
            OutcomeStatus.FAILED,
            error=f"TalentLMS refused to {verb} the {kind.name} {name!r}: "
            f"{answer.message.rstrip('.')}"
            + settled.confirmed(f"the account's {kind.resource}", f"{kind.name} {name!r}"),
        )

    def _gone(self, op: Operation, kind: Kind, name: str, answer: Answer) -> str | None:
        """What a 404 says no longer exists (the group or branch, or the account); None when
        the refusal is another. A group found gone is forgotten, so it is looked up again."""
        if answer.status != 404:
            return None
        if is_not_found(answer.code, kind.name):
            self._forget(kind)
            return f"{kind.name} {name!r} no longer exists in TalentLMS"
        if is_not_found(answer.code, "user"):
            return f"TalentLMS account {op.remote_id} no longer exists"
        return None

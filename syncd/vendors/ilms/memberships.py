"""Group memberships (digest §6.1, G1/G4/G5): names resolved to ids once, "already so" is done.

Operations name a group (``Sales``); iLMS addresses it by a numeric id, so the groups
are listed once per adapter and looked up by name (exactly, else the one match that
differs only in case). iLMS's API cannot create groups (none documented): a group
missing from iLMS fails the operation with a reason that says to create it there.

Adding someone already in the group, or removing someone who is not, counts as
success, but only once the group's members are read and show it: iLMS documents
neither answer (it is reported to say 400 "The user is already a member of this
group"), so an answer that is not a success is settled by reading the state, never
by its status code (SPEC §9). A write whose answer was lost, or that was sent
before (a crash), is looked up the same way before it is sent again (``settle``).
"""

from __future__ import annotations

from syncd.limits import Priority
from syncd.model import Operation, OpKind, Outcome, OutcomeStatus
from syncd.vendors.ilms.api import GROUP_MEMBER, GROUP_MEMBERS, GROUPS, ILMSApi


class Memberships:
    def __init__(self, api: ILMSApi) -> None:
        self._api = api
        self._groups: dict[str, str] | None = None  # name -> id

    def _names(self, priority: Priority = Priority.WRITE) -> dict[str, str]:
        if self._groups is None:
            names: dict[str, str] = {}
            for page in self._api.pages(GROUPS, priority=priority):
                for item in page.items:
                    name, group_id = item.get("Name"), item.get("ID")
                    if isinstance(name, str) and group_id is not None:
                        names.setdefault(name.strip(), str(group_id))
            self._groups = names
        return self._groups

    def resolve(self, name: str, priority: Priority = Priority.WRITE) -> str | None:
        names = self._names(priority)
        wanted = name.strip()
        if wanted in names:
            return names[wanted]
        folded = [gid for other, gid in names.items() if other.casefold() == wanted.casefold()]
        return folded[0] if len(folded) == 1 else None

    def unusable(self, targets: frozenset[str]) -> dict[str, str]:
        """Groups among ``targets`` iLMS does not have (its API cannot create them), and why;
        listed at read priority, for a plan."""
        return {
            name: f"group {name!r} does not exist in iLMS, and iLMS's API cannot create groups"
            for name in sorted(targets)
            if not name.strip() or self.resolve(name, Priority.READ) is None
        }

    def _member(self, group_id: str, user_id: str) -> bool | None:
        """Whether the user is in the group, as iLMS lists it; None when it cannot be read."""
        return self._api.shows(
            GROUP_MEMBERS, user_id, lambda item: item.get("ID"), path_params={"group_id": group_id}
        )

    def execute(self, op: Operation) -> Outcome:
        name = (op.target or "").strip()
        removing = op.kind is OpKind.GROUP_REMOVE
        if not name:
            return Outcome(op, OutcomeStatus.FAILED, error="the group name is empty")
        group_id = self.resolve(name)
        if group_id is None:
            if removing:  # no such group: nobody is in it
                return Outcome(op, OutcomeStatus.DONE, remote_id=op.remote_id)
            return Outcome(
                op,
                OutcomeStatus.FAILED,
                error=(
                    f"group {name!r} does not exist in iLMS, and iLMS's API cannot create "
                    "groups: create it in iLMS, or map this HR value to an existing group"
                ),
            )
        user_id = str(op.remote_id)
        if removing:
            method, template, params = "DELETE", GROUP_MEMBER, {"user_id": user_id}
            body = None
        else:
            method, template, params = "POST", GROUP_MEMBERS, {}
            body = {"userid": user_id}
        settled = self._api.settle_write(
            op,
            method,
            template,
            path_params={"group_id": group_id, **params},
            json_body=body,
            holds=lambda: self._member(group_id, user_id),
            wanted=not removing,
        )
        if isinstance(settled, Outcome):
            return settled
        answer = settled.answer
        if answer.status == 404:
            self._groups = None  # listed a moment ago, gone now: list again next time
            return Outcome(
                op,
                OutcomeStatus.FAILED,
                error=f"group {name!r} (id {group_id}) no longer exists in iLMS: {answer.message}",
            )
        verb = "remove the account from" if removing else "add the account to"
        return Outcome(
            op,
            OutcomeStatus.FAILED,
            error=f"iLMS refused to {verb} group {name!r} (HTTP {answer.status}): "
            f"{answer.message.rstrip('.')}" + settled.confirmed("the group's members"),
        )

"""Reading batch items back, because a TalentLMS task never says which items it applied.

``/batch/users`` and ``/batch/enrollments`` answer a task whose ``completed`` only
says the task ended: the documents show no per-item result (every task example has
``download_url: null``, digest §7.5). So an item is confirmed by a documented read
that shows it applied, with the cheapest read for the number of items:

- new accounts: the users listing, read from its end (``Directory.find_created``),
  which also gives their ids; it shows login, email, name and surname, not custom
  fields or settings, and reading each new account for those would cost a call per
  person (10,000 on a first sync of 10,000), so a new account is confirmed by those
  four (whether TalentLMS can create an account yet drop one of its custom fields is
  not documented; the sandbox refuses an item whole);
- updates: ``GET /users/:id`` per account (every field, custom fields included), or
  the whole listing when it has fewer pages than there are updates of listed fields;
- enrollments: ``GET /users/:id?resources=courses``, once per person.

The same reads settle a single membership or enrollment whose answer was lost or
refused (``holds``): the account's groups, branches or courses.

An item not applied fails naming the fields that differ. Why, where a read can say
(a course that is inactive or gone, a login another account holds), is added. A read
back that TalentLMS refuses (a 4xx) leaves the task's items unconfirmed (``unread``):
each person is named, looked up and sent again by a later cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from syncd.http import RecordRejected, VendorClient, vendor_message
from syncd.limits import Priority
from syncd.model import Operation, Outcome, OutcomeStatus
from syncd.vendors.talentlms.api import API, USER, data_of
from syncd.vendors.talentlms.compare import Difference
from syncd.vendors.talentlms.fields import as_int
from syncd.vendors.talentlms.tasks import Task

COURSE = f"{API}/courses/{{id}}"
_DETAIL_FIELDS = (
    "login",
    "email",
    "name",
    "surname",
    "description",
    "timezone",
    "locale",
    "email_notifications",
    "credits",
    "deactivation_date",
)


def not_applied(task: Task, differences: list[Difference]) -> str:
    """The reason of an item whose fields the account does not show as sent."""
    fields = ", ".join(difference.describe() for difference in differences)
    return f"TalentLMS did not apply it (batch task {task.id}): {fields}"


def unfinished(task: Task) -> str:
    """How a task ended without saying what it applied: failed, or forgotten (404)."""
    if task.status == "failed":
        return f"batch task {task.id} failed"
    return f"TalentLMS no longer knows batch task {task.id}"


def read_back(
    task: Task,
    ops: Sequence[Operation],
    outcomes: Callable[[Task, Sequence[Operation]], list[Outcome]],
) -> list[Outcome]:
    """``outcomes`` of the finished ``task``; if a read back is refused, every item in doubt.

    A refused read says nothing of what the task applied, so nobody is failed nor
    confirmed: each operation is unconfirmed (looked up, then sent again next cycle).
    """
    try:
        return outcomes(task, ops)
    except RecordRejected as refused:
        return unread(task, ops, refused)


def unread(task: Task, ops: Sequence[Operation], refused: RecordRejected) -> list[Outcome]:
    """Every operation of ``task`` unconfirmed: TalentLMS refused to show what it applied."""
    reason = (
        f"TalentLMS refused to read back batch task {task.id} (HTTP {refused.status}: "
        f"{refused.message}); whether it applied this is not known, so it is looked up "
        "and sent again next cycle"
    )
    return [Outcome(op, OutcomeStatus.UNKNOWN, error=reason) for op in ops]


def read_account(
    client: VendorClient, remote_id: Any, resources: str | None = None
) -> dict[str, Any] | None:
    """``GET /users/:id`` (with ``resources``), or None when the account no longer exists."""
    response = client.get(
        USER,
        path_params={"id": remote_id},
        params={"resources": resources} if resources else None,
        priority=Priority.WRITE,
        accept={404},
    )
    if response.status_code == 404:
        return None
    data = data_of(response, "GET /users/{id}")
    return dict(data) if isinstance(data, Mapping) else {}


def account_fields(account: Mapping[str, Any]) -> dict[str, Any]:
    """An account as ``GET /users/:id`` returns it, keyed the way syncd sends fields.

    Custom fields come as ``[{id, name, value, type}]``; their write key is taken to
    be ``custom_field_<id>`` (the documents show both and never say otherwise).
    """
    fields = {name: account[name] for name in _DETAIL_FIELDS if name in account}
    user_type = account.get("user_type")
    if isinstance(user_type, Mapping):
        fields["user_type_id"] = user_type.get("id")
    custom = account.get("custom_fields")
    for entry in custom if isinstance(custom, list) else []:
        number = as_int(entry.get("id")) if isinstance(entry, Mapping) else None
        if number is not None:
            fields[f"custom_field_{number}"] = entry.get("value")
    return fields


def course_ids(account: Mapping[str, Any]) -> set[int]:
    """The courses ``GET /users/:id?resources=courses`` lists for the account."""
    return resource_ids(account, "courses")


def resource_ids(account: Mapping[str, Any], resource: str) -> set[int]:
    """The ids of ``groups``, ``branches`` or ``courses`` as ``GET /users/:id?resources=``
    lists them (``[{id, name}]``, digest §4.1)."""
    items = account.get(resource)
    listed = items if isinstance(items, list) else []
    return {
        number
        for number in (as_int(item.get("id")) for item in listed if isinstance(item, Mapping))
        if number is not None
    }


def holds(client: VendorClient, remote_id: Any, resource: str, target_id: int) -> bool | None:
    """Whether the account's ``resource`` (groups, branches, courses) include ``target_id``,
    as TalentLMS reads them now; None when the account is gone or cannot be read."""
    try:
        account = read_account(client, remote_id, resources=resource)
    except RecordRejected:
        return None
    return None if account is None else target_id in resource_ids(account, resource)


def course_problem(
    client: VendorClient, course_id: int, priority: Priority = Priority.WRITE
) -> str:
    """Why an enrollment into ``course_id`` may not hold, as ``GET /courses/:id`` says."""
    try:
        response = client.get(
            COURSE, path_params={"id": course_id}, priority=priority, accept={404}
        )
    except RecordRejected as error:
        return error.message
    if response.status_code == 404:
        title, _ = vendor_message(response, client.secrets())
        return title or "the course does not exist"
    data = data_of(response, "GET /courses/{id}")
    status = str(data.get("status") or "") if isinstance(data, Mapping) else ""
    if status and status.strip().lower() != "active":
        return f"the course is {status} in TalentLMS"
    return ""

"""The iLMS connector of the end-to-end tests: configured from YAML against the iLMS
sandbox, with an organization whose departments are the HR departments."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from syncd.engine.push.run import PushResult
from syncd.model import LinkStatus, OpKind
from syncd.sandbox import Sandbox
from syncd.state import store
from tests.support.e2e import E2EConnector, error_reasons, hr_person

LOGIN, KEY, ORG = "sandbox-ilms-login", "sandbox-ilms-key", "1001"
HR_COLUMNS = ["employee_id", "first_name", "last_name", "email", "department", "title", "status"]
ROOMY = {"per_minute": 6000}

# An organization whose departments are the HR departments (Finance has no iLMS group).
TREE = {
    "regions": [
        {
            "id": 700,
            "name": "Acme",
            "divisions": [
                {
                    "id": 710,
                    "name": "Staff",
                    "departments": [
                        {"id": 711, "name": "Engineering"},
                        {"id": 712, "name": "Sales"},
                        {"id": 713, "name": "Finance"},
                    ],
                }
            ],
        }
    ]
}
SECURITY, DATA_SECURITY = "p1gyJg4a", "wqivr6aA"  # courses of the sandbox's default data


def person(key: str, dept: str = "Engineering", **extra: Any) -> dict[str, str]:
    return {**hr_person(key, dept), "title": "Engineer", **extra}


class Connector(E2EConnector):
    """One iLMS connector configured from YAML, and the HR file it reads."""

    name = "ilms"
    columns = HR_COLUMNS
    retry_attempts = 5

    def __init__(
        self,
        tmp_path: Path,
        db_url: str,
        base_url: str,
        *,
        rate_limit: dict | None = None,
        pull: dict | None = None,
        target: dict | None = None,
        **users: Any,
    ) -> None:
        super().__init__(
            tmp_path,
            db_url,
            {
                "name": "ilms",
                "source": "hr",
                "scope": "status != 'contractor'",
                "schedule": {"every": "15m"},
                "target": {
                    "type": "ilms",
                    "base_url": base_url,
                    "org_id": ORG,
                    "api_login_id": LOGIN,
                    "transaction_key": KEY,
                    "rate_limit": rate_limit or {"per_minute": 6000},
                    **(target or {}),
                },
                "users": {
                    "match": "F004",
                    "fields": {
                        "F001": "{{ first_name }}",
                        "F003": "{{ last_name }}",
                        "F004": "{{ employee_id }}",
                        "email": "{{ email | lower }}",
                        "job_title": "{{ title }}",
                        "region": "Acme",
                        "division": "Staff",
                        "department": "{{ department }}",
                    },
                    "active": "{{ status in ['active', 'leave'] }}",
                    **users,
                },
                "groups": [{"from": "{{ department }}"}],
                "enrollments": [
                    {"courses": [SECURITY]},
                    {"when": "{{ department == 'Sales' }}", "courses": [DATA_SECURITY]},
                ],
                "guard": {"max_deactivations": "100%"},
                "pull": {"sink": "training", **(pull or {})},
            },
        )

    def push(
        self, before_creates: Callable[[], None] | None = None, adapter: Any = None
    ) -> PushResult:
        """One push cycle (through ``adapter`` when given); ``before_creates`` runs just
        before the first account is sent (after validation and matching), to inject a
        fault into the creates themselves."""
        adapter = adapter or self.adapter()
        if before_creates is not None:
            execute = adapter.execute

            def armed(ops):
                if ops and ops[0].kind is OpKind.CREATE:
                    before_creates()
                    adapter.execute = execute
                return execute(ops)

            adapter.execute = armed
        return super().push(adapter)

    def errors(self) -> dict[tuple[str, str], str]:
        return error_reasons(self.engine, "ilms")

    def remote_ids(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            return {
                link.hr_key: link.remote_id
                for link in store.iter_links(conn, "ilms", LinkStatus)
                if link.remote_id
            }


def acme(sandbox: Sandbox) -> Any:
    """The sandbox's iLMS simulator, back to its start-up data plus the Acme hierarchy."""
    sim = sandbox.sim("ilms")
    sim.reset()
    sim.seed(TREE)
    return sim

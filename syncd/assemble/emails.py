"""People's e-mails as the links hold them, for xAPI actors named by e-mail.

An LRS that an LXP writes to names learners by ``mbox`` (their e-mail), not by HR key:
with ``actor.email_field`` the sink names people by, and the source maps actors back
through, the e-mail syncd last pushed to each LMS account (``links.fields``). The
vendors' xAPI code never reads the state store; it gets these two lookups instead.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Engine

from syncd.state import results as state
from syncd.vendors.xapi.vocabulary import EmailsOfPeople, UsersByEmail, email_of_mbox


def emails_of_people(engine: Engine, field: str) -> EmailsOfPeople:
    """(connector, HR keys) -> HR key -> e-mail held in ``field`` of each one's link."""

    def emails(connector: str, hr_keys: Collection[str]) -> dict[str, str]:
        with engine.connect() as conn:
            found = state.linked_values(conn, connector, field, hr_keys)
        return {hr_key: email for hr_key, (_, email) in found.items()}

    return emails


def users_by_email(engine: Engine, connector: str, field: str) -> UsersByEmail:
    """-> folded e-mail -> LMS user id, over every link of ``connector`` with an account."""

    def users() -> dict[str, str]:
        with engine.connect() as conn:
            found = state.linked_values(conn, connector, field)
        return {email_of_mbox(email): user for user, email in found.values() if user}

    return users

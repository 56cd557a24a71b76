"""A learning result as one xAPI 1.0.3 statement, and how two copies of one are compared.

- ``id``: a UUID (version 5) of the result id, its content hash and the sink's
  statement settings: each change of a result is a new statement, and sending one
  change again is sending the same statement (``PUT`` is then idempotent).
- ``actor``: an ``account`` (``homePage`` configured, ``name`` the HR key or the LMS user
  id), an ``mbox`` from the configured template, or (``email_field``) an ``mbox`` of the
  LMS user's e-mail as syncd last pushed it, which then takes part in the id too (a new
  address is a new statement, never a conflict with the old one).
- ``verb``: the status's (``vocabulary.VERBS``); ``object``: the course's activity IRI,
  its name in ``definition``.
- ``result``: ``completion`` (true once completed, passed or waived; false before; left
  out for a failure), ``success`` (passed or failed), ``score`` (``raw``; read as a
  percentage when 0 to 100: ``scaled``, ``min`` 0, ``max`` 100) and the progress (cmi5
  extension). No duration: a learning result carries no time spent.
- ``context``: ``registration`` (a UUID of the result id: one per person, course and
  attempt), ``platform`` (the vendor), and the certificate's expiry and URL in
  ``extensions``.
- ``timestamp``: the LMS's time: completion (else last update, else start) for a
  finished course, last update (else start) otherwise. A result with no LMS time at all
  is sent without one and the LRS stamps its own; a re-send then meets a different
  timestamp, which ``same_statement`` ignores, as the xAPI comparison rules do.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from syncd.config.schema.xapi import XapiSinkConfig
from syncd.model import LearningResult, ResultStatus, iso_utc, stable_hash
from syncd.vendors.xapi.vocabulary import (
    CERTIFICATE_EXPIRES,
    CERTIFICATE_URL,
    COURSE_ACTIVITY,
    PROGRESS_EXTENSION,
    TERMINAL,
    VERBS,
    activity_iri,
    email_of_mbox,
    extension_iri,
    mbox_of_email,
    mbox_pattern,
    verb_name,
)

NAMESPACE = uuid.UUID("6f1d3c52-3d0b-5d7e-9a51-7a0f3b7c2e11")
"""The UUID namespace of syncd's statement and registration ids (a constant: never change it)."""

COMPARED = ("actor", "verb", "object", "result", "context")
"""What two copies of one statement must agree on; the LRS sets or may change the rest
(``stored``, ``authority``, ``version``, ``timestamp`` when it had to stamp one)."""

_COMPLETION = {
    ResultStatus.NOT_STARTED: False,
    ResultStatus.IN_PROGRESS: False,
    ResultStatus.COMPLETED: True,
    ResultStatus.PASSED: True,
    ResultStatus.WAIVED: True,
}
_SUCCESS = {ResultStatus.PASSED: True, ResultStatus.FAILED: False}


class StatementProblem(ValueError):
    """This result cannot become a statement; the reason names what is missing or wrong."""


class StatementBuilder:
    """Builds the statements of one ``xapi`` sink from its configuration."""

    def __init__(self, config: XapiSinkConfig) -> None:
        self.config = config
        self._mbox = mbox_pattern(config.actor)
        self._extensions = config.extensions
        # The settings that shape a statement: changing them makes new statements.
        self._settings = stable_hash(
            [config.actor.model_dump(), config.activity_base, self._extensions, config.language]
        )

    def statement_id(self, result: LearningResult, email: str | None = None) -> str:
        name = f"{result.result_id}|{result.content_hash()}|{self._settings}"
        if email is not None:
            name += f"|{email_of_mbox(email)}"
        return str(uuid.uuid5(NAMESPACE, name))

    def statement(self, result: LearningResult, email: str | None = None) -> dict[str, Any]:
        """The statement of ``result`` (``email``: its person's, for an ``email_field``
        actor); ``StatementProblem`` when it cannot be one."""
        statement: dict[str, Any] = {
            "id": self.statement_id(result, email if self.config.actor.email_field else None),
            "actor": self._actor(result, email),
            "verb": {
                "id": VERBS[result.status],
                "display": self._text(verb_name(VERBS[result.status])),
            },
            "object": self._object(result),
        }
        outcome = self._result(result)
        if outcome:
            statement["result"] = outcome
        statement["context"] = self._context(result)
        timestamp = lms_time(result)
        if timestamp is not None:
            statement["timestamp"] = iso_utc(timestamp)
        return statement

    def _actor(self, result: LearningResult, email: str | None) -> dict[str, Any]:
        values = {"hr_key": (result.hr_key or "").strip(), "lms_user_id": result.lms_user_id}
        field = self.config.actor.email_field
        if field is not None:
            mbox = mbox_of_email(email) if email else None
            if mbox is None:
                held = f"holds {email!r}, not an e-mail address" if email else "holds none"
                raise StatementProblem(
                    f"has no e-mail for its mbox: users.fields.{field} of its link {held}"
                )
            return {"objectType": "Agent", "mbox": mbox}
        account = self.config.actor.account
        if account is not None:
            name = values[account.name]
            if not name:
                raise StatementProblem(f"has no {account.name}, so no xAPI account name")
            return {"objectType": "Agent", "account": {"homePage": account.home_page, "name": name}}
        pattern = self._mbox
        if pattern is None:  # the configuration holds an account or an mbox: never here
            raise StatementProblem("the sink names no actor form")
        value = values[pattern.placeholder]
        mbox = pattern.fill(values)
        if not value or pattern.read(mbox) != value:
            raise StatementProblem(
                f"{pattern.placeholder} {value!r} cannot fill the mbox template "
                f"{pattern.template!r} (an address has no spaces and one @)"
            )
        return {"objectType": "Agent", "mbox": mbox}

    def _object(self, result: LearningResult) -> dict[str, Any]:
        course = str(result.course_id or "").strip()
        if not course:
            raise StatementProblem("has no course id, so no activity IRI")
        definition: dict[str, Any] = {"type": COURSE_ACTIVITY}
        if result.course_name:
            definition["name"] = self._text(result.course_name)
        return {
            "objectType": "Activity",
            "id": activity_iri(self.config.activity_base, result.vendor, course),
            "definition": definition,
        }

    def _result(self, result: LearningResult) -> dict[str, Any]:
        outcome: dict[str, Any] = {}
        if result.status in _COMPLETION:
            outcome["completion"] = _COMPLETION[result.status]
        if result.status in _SUCCESS:
            outcome["success"] = _SUCCESS[result.status]
        if result.score is not None:
            outcome["score"] = score_of(result.score)
        if result.progress is not None:
            outcome["extensions"] = {
                PROGRESS_EXTENSION: round(min(100.0, max(0.0, result.progress)))
            }
        return outcome

    def _context(self, result: LearningResult) -> dict[str, Any]:
        context: dict[str, Any] = {
            "registration": registration_of(result.result_id),
            "platform": result.vendor,
        }
        extensions: dict[str, Any] = {}
        if result.certificate_expires_at is not None:
            key = extension_iri(self._extensions, CERTIFICATE_EXPIRES)
            extensions[key] = iso_utc(result.certificate_expires_at)
        if result.certificate_url:
            extensions[extension_iri(self._extensions, CERTIFICATE_URL)] = result.certificate_url
        if extensions:
            context["extensions"] = extensions
        return context

    def _text(self, text: str) -> dict[str, str]:
        return {self.config.language: text}


def registration_of(result_id: str) -> str:
    """The registration of one person's attempt at one course (stable across changes)."""
    return str(uuid.uuid5(NAMESPACE, f"registration|{result_id}"))


def score_of(score: float) -> dict[str, Any]:
    """An LMS score as ``result.score``: a percentage when it lies within 0 to 100."""
    if 0 <= score <= 100:
        return {"scaled": round(score / 100, 6), "raw": score, "min": 0, "max": 100}
    return {"raw": score}


def lms_time(result: LearningResult) -> datetime | None:
    """When the LMS says this state of the result came about (None: it says nothing)."""
    if result.status in TERMINAL:
        return result.completed_at or result.updated_at or result.started_at
    return result.updated_at or result.started_at


def same_statement(sent: Mapping[str, Any], stored: Mapping[str, Any]) -> bool:
    """Whether the LRS's copy is the statement sent, as the xAPI comparison rules read it:
    numbers by value, default ``objectType``s filled in, the LRS's own fields ignored."""
    return all(_plain(sent.get(key), key) == _plain(stored.get(key), key) for key in COMPARED)


_DEFAULT_TYPES = {"actor": "Agent", "object": "Activity"}


def _plain(value: Any, key: str = "") -> Any:
    if isinstance(value, Mapping):
        plain = {k: _plain(v) for k, v in value.items() if v is not None}
        if key in _DEFAULT_TYPES:
            plain.setdefault("objectType", _DEFAULT_TYPES[key])
        return plain
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Decimal(str(value)).normalize()
    return value

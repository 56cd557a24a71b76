"""A read statement as a learning result (``pull.from: xapi``), the sink's mapping reversed.

- Only statements whose verb names a result status count (``vocabulary.STATUS_OF_VERB``
  plus ``pull.xapi.verbs``); others (``experienced``, ``answered``, ``voided`` ...) are
  not course results and are left out, counted in the log.
- The object must be an activity; with ``activity_prefix``, only activities under it
  are courses and the rest of the IRI (percent-decoded) is the course id; without it,
  the whole IRI is.
- The actor: an ``account`` under the configured ``homePage`` names the HR key or the
  LMS user id (which the links then map to an HR key); an ``mbox`` fitting the template
  gives whichever it holds; with ``email_field``, an ``mbox`` holding the e-mail syncd last
  pushed to an LMS user (compared without case) names that user, whom the links then
  map to an HR key. Any other actor is kept as the LMS user named by its
  identifier (``mailto:...``, ``name@homePage``), so the pull reports it as not linked.
  Groups are not people: their statements are left out.
- Score: ``scaled`` as a percentage, else ``raw``; progress from the cmi5 extension;
  certificate expiry and URL from the configured extensions; the attempt is the
  ``registration``. The statement's ``timestamp`` (else ``stored``) is the update time,
  and the completion time of a finished course.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from syncd.config.schema.xapi import XapiSourceConfig
from syncd.model import LearningResult, ResultStatus
from syncd.vendors.pulling import parse_time
from syncd.vendors.xapi.vocabulary import (
    CERTIFICATE_EXPIRES,
    CERTIFICATE_URL,
    PROGRESS_EXTENSION,
    STATUS_OF_VERB,
    TERMINAL,
    VENDOR,
    UsersByEmail,
    email_of_mbox,
    extension_iri,
    mbox_pattern,
)

_EARLIEST = datetime.min.replace(tzinfo=UTC)


@dataclass(slots=True)
class ReadStatements:
    """What one page of statements gave: results, the newest ``stored``, what was left out."""

    results: list[LearningResult] = field(default_factory=list)
    newest: datetime | None = None
    left_out: Counter[str] = field(default_factory=Counter)


class StatementReader:
    """Turns statements into learning results, as ``pull.xapi`` configures."""

    def __init__(
        self, config: XapiSourceConfig, users_by_email: UsersByEmail | None = None
    ) -> None:
        self.config = config
        self._users_by_email = users_by_email if config.actor.email_field else None
        self._by_email: Mapping[str, str] = {}
        self.verbs: dict[str, ResultStatus] = {
            **STATUS_OF_VERB,
            **{verb: ResultStatus(status) for verb, status in config.verbs.items()},
        }
        self._mbox = mbox_pattern(config.actor)
        self._extensions = config.extension_base

    def refresh(self) -> None:
        """Read the links' e-mails again (once per pull: links change between cycles)."""
        if self._users_by_email is not None:
            self._by_email = self._users_by_email()

    def read(self, statements: Iterable[Mapping[str, Any]]) -> ReadStatements:
        """The page's results, oldest stored first (the last of one result wins)."""
        read = ReadStatements()
        for statement in sorted(statements, key=_stored_or_earliest):
            stored = parse_time(statement.get("stored"))
            if stored is not None and (read.newest is None or stored > read.newest):
                read.newest = stored
            result, why_not = self.result(statement)
            if result is None:
                read.left_out[why_not] += 1
            else:
                read.results.append(result)
        return read

    def result(self, statement: Mapping[str, Any]) -> tuple[LearningResult | None, str]:
        """The statement's learning result, or None and why it is not one (a short key)."""
        verb = _mapping(statement.get("verb")).get("id")
        status = self.verbs.get(verb) if isinstance(verb, str) else None
        if status is None:
            return None, "other_verb"
        target = _mapping(statement.get("object"))
        if target.get("objectType", "Activity") != "Activity":
            return None, "not_an_activity"
        course_id = self._course_id(target.get("id"))
        if course_id is None:
            return None, "outside_activity_prefix"
        actor = _mapping(statement.get("actor"))
        if actor.get("objectType") == "Group":
            return None, "group_actor"
        lms_user_id, hr_key = self.person(actor)
        moment = parse_time(statement.get("timestamp")) or parse_time(statement.get("stored"))
        outcome = _mapping(statement.get("result"))
        context = _mapping(statement.get("context"))
        registration = context.get("registration")
        return LearningResult(
            vendor=VENDOR,
            lms_user_id=lms_user_id,
            course_id=course_id,
            status=status,
            hr_key=hr_key,
            course_name=_name(_mapping(target.get("definition")).get("name")),
            progress=_number(_mapping(outcome.get("extensions")).get(PROGRESS_EXTENSION)),
            score=_score(_mapping(outcome.get("score"))),
            completed_at=moment if status in TERMINAL else None,
            certificate_url=_text(self._extension(context, CERTIFICATE_URL)),
            certificate_expires_at=parse_time(self._extension(context, CERTIFICATE_EXPIRES)),
            updated_at=moment,
            attempt=registration if isinstance(registration, str) and registration else "1",
            raw={"statement_id": statement.get("id"), "verb": verb},
        ), ""

    def person(self, actor: Mapping[str, Any]) -> tuple[str, str | None]:
        """(LMS user id, HR key or None) of an agent, as the configured forms read it."""
        wanted = self.config.actor.account
        account = _mapping(actor.get("account"))
        name = account.get("name")
        home = str(account.get("homePage") or "").rstrip("/")
        if wanted is not None and home == wanted.home_page and isinstance(name, str) and name:
            return (name, None) if wanted.name == "lms_user_id" else (agent_label(actor), name)
        mbox = actor.get("mbox")
        if self._mbox is not None and isinstance(mbox, str):
            value = self._mbox.read(mbox)
            if value:
                return (value, None) if self._mbox.placeholder == "lms_user_id" else (mbox, value)
        if isinstance(mbox, str) and email_of_mbox(mbox) in self._by_email:
            return self._by_email[email_of_mbox(mbox)], None
        return agent_label(actor), None

    def _course_id(self, activity: Any) -> str | None:
        if not isinstance(activity, str) or not activity.strip():
            return None
        prefix = self.config.activity_prefix
        if prefix is None:
            return activity
        if not activity.startswith(prefix) or len(activity) == len(prefix):
            return None
        return unquote(activity[len(prefix) :])

    def _extension(self, context: Mapping[str, Any], name: str) -> Any:
        if self._extensions is None:
            return None
        return _mapping(context.get("extensions")).get(extension_iri(self._extensions, name))


def agent_label(actor: Mapping[str, Any]) -> str:
    """An agent's identifier as text: its mbox, ``name@homePage``, openid or mbox hash."""
    account = _mapping(actor.get("account"))
    if account.get("name"):
        return f"{account['name']}@{account.get('homePage', '')}"
    for key in ("mbox", "openid", "mbox_sha1sum"):
        value = actor.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _stored_or_earliest(statement: Mapping[str, Any]) -> datetime:
    return parse_time(statement.get("stored")) or _EARLIEST


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _score(score: Mapping[str, Any]) -> float | None:
    scaled = _number(score.get("scaled"))
    if scaled is not None:
        return round(scaled * 100, 6)
    return _number(score.get("raw"))


def _name(names: Any) -> str | None:
    """A language map's English text, else its first."""
    if not isinstance(names, Mapping) or not names:
        return None
    for language in ("en-US", "en", "en-GB"):
        if isinstance(names.get(language), str):
            return names[language]
    return _text(next(iter(names.values())))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None

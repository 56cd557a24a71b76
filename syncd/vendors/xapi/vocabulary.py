"""The xAPI words syncd uses, both ways: verbs for result statuses, IRIs, the actor forms.

Verbs come from the ADL vocabulary (``registered``, ``progressed``, ``completed``,
``passed``, ``failed``; ``attempted`` is read as in progress) and, for a waived course,
cmi5's ``waived``. Progress travels in cmi5's result extension (0 to 100). Certificate expiry
and URL have no standard IRI: they go in ``context.extensions`` under the configured
extension base. A course's activity IRI is ``{activity_base}/{vendor}/{course id}``
with the course id percent-encoded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from typing import Any
from urllib.parse import quote

from syncd.config.schema.xapi import XapiActor, placeholder_of
from syncd.model import ResultStatus

VENDOR = "xapi"  # the vendor name of what an LRS holds, in results and metrics
XAPI_VERSION = "1.0.3"
VERSION_HEADER = "X-Experience-API-Version"

ADL_VERBS = "http://adlnet.gov/expapi/verbs/"
VERBS: Mapping[ResultStatus, str] = {
    ResultStatus.NOT_STARTED: ADL_VERBS + "registered",
    ResultStatus.IN_PROGRESS: ADL_VERBS + "progressed",
    ResultStatus.COMPLETED: ADL_VERBS + "completed",
    ResultStatus.PASSED: ADL_VERBS + "passed",
    ResultStatus.FAILED: ADL_VERBS + "failed",
    ResultStatus.WAIVED: "https://w3id.org/xapi/adl/verbs/waived",
}
"""The verb of each result status."""

STATUS_OF_VERB: Mapping[str, ResultStatus] = {
    **{verb: status for status, verb in VERBS.items()},
    ADL_VERBS + "attempted": ResultStatus.IN_PROGRESS,
}
"""How a read statement's verb becomes a status; other verbs are not course results."""

COURSE_ACTIVITY = "http://adlnet.gov/expapi/activities/course"
PROGRESS_EXTENSION = "https://w3id.org/xapi/cmi5/result/extensions/progress"
CERTIFICATE_EXPIRES = "certificate-expires-at"  # under the extension base
CERTIFICATE_URL = "certificate-url"

TERMINAL = frozenset(
    {ResultStatus.COMPLETED, ResultStatus.PASSED, ResultStatus.FAILED, ResultStatus.WAIVED}
)


def verb_name(verb: str) -> str:
    """``http://adlnet.gov/expapi/verbs/passed`` -> ``passed`` (the verb's display)."""
    return verb.rstrip("/").rsplit("/", 1)[-1]


def activity_iri(base: str, vendor: str, course_id: str) -> str:
    return f"{base}/{quote(vendor, safe='')}/{quote(course_id, safe='')}"


def extension_iri(base: str, name: str) -> str:
    return f"{base}/{name}"


class MboxPattern:
    """An mbox template both ways: ``mailto:{hr_key}@example.com`` filled in, and read back."""

    def __init__(self, template: str) -> None:
        self.template = template
        self.placeholder = placeholder_of(template)
        before, _, after = template.partition("{" + self.placeholder + "}")
        self._pattern = re.compile(
            re.escape(before) + r"(?P<value>[^@\s]+?)" + re.escape(after), re.IGNORECASE
        )

    def fill(self, values: Mapping[str, Any]) -> str:
        return self.template.format(**{self.placeholder: values[self.placeholder]})

    def read(self, mbox: str) -> str | None:
        """The placeholder's value in ``mbox``, or None when ``mbox`` does not fit."""
        found = self._pattern.fullmatch(mbox.strip())
        return found.group("value") if found else None


def mbox_pattern(actor: XapiActor) -> MboxPattern | None:
    return MboxPattern(actor.mbox) if actor.mbox is not None else None


MAILTO = "mailto:"
_ADDRESS = re.compile(r"[^@\s]+@[^@\s]+")


def mbox_of_email(email: str) -> str | None:
    """``mailto:<email>``; None when ``email`` is not one address (no spaces, one @)."""
    address = email.strip()
    return MAILTO + address if _ADDRESS.fullmatch(address) else None


def email_of_mbox(mbox: str) -> str:
    """The address of an mbox, folded as e-mails compare (without case)."""
    text = mbox.strip()
    if text[: len(MAILTO)].lower() == MAILTO:
        text = text[len(MAILTO) :]
    return text.casefold()


EmailsOfPeople = Callable[[str, Collection[str]], Mapping[str, str]]
"""(connector, HR keys) -> HR key -> the LMS user's e-mail as syncd last pushed it."""
UsersByEmail = Callable[[], Mapping[str, str]]
"""-> folded e-mail -> LMS user id, from the connector's links."""

"""The ``xapi`` sink: learning results sent to a learning record store as xAPI statements.

Each result is one ``PUT /statements?statementId=<id>`` (``statements`` says how a
result becomes a statement and its id). The id is derived from the result and its
change, so sending a change again is sending the same statement, and the LRS answers
204 without storing a second copy. A 409 means the LRS holds a statement under that id
already: the sink reads it back, and only if it is the same statement (as xAPI compares
them) is the result delivered; otherwise the batch is refused, naming the result.

With an ``email_field`` actor the person is named by the LMS user's e-mail as syncd last
pushed it: ``emails`` (from the links, given by ``syncd.assemble``) supplies it per batch.

A batch is accepted once every statement in it was stored; any refusal refuses the
batch (``SinkError``), and the pull engine sends it whole again next cycle, which the
LRS takes as the idempotent re-send it is. The LRS sits with the vendors, not with the
HR sinks, because the ``xapi`` pull source reads the same statements back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import structlog

from syncd.config.schema.xapi import XapiSinkConfig
from syncd.http import OutcomeUnknown, RecordRejected, VendorError
from syncd.model import LearningResult
from syncd.sink_protocol import SinkBase, SinkError, listed, result_label
from syncd.vendors.context import AdapterContext
from syncd.vendors.xapi.api import LrsApi, open_lrs
from syncd.vendors.xapi.statements import StatementBuilder, StatementProblem, same_statement
from syncd.vendors.xapi.vocabulary import EmailsOfPeople

log = structlog.get_logger(__name__)

CONFLICT = 409


def open_xapi_sink(
    name: str,
    config: XapiSinkConfig,
    *,
    context: AdapterContext | None = None,
    emails: EmailsOfPeople | None = None,
) -> XapiSink:
    """The sink ``name`` of type xapi.

    ``context.limiter`` (the state store's, as ``syncd.assemble`` gives it) shares the LRS
    credential's rate limit with every process; without a context the budget is its own.
    ``emails`` gives people's e-mails for an ``email_field`` actor.
    """
    context = context or AdapterContext(connector=f"sink:{name}")
    return XapiSink(name, config, open_lrs(config, context), emails)


class XapiSink(SinkBase):
    def __init__(
        self,
        name: str,
        config: XapiSinkConfig,
        api: LrsApi,
        emails: EmailsOfPeople | None = None,
    ) -> None:
        self.name = name
        self.max_batch = config.batch_size
        self.api = api
        self.builder = StatementBuilder(config)
        self.email_field = config.actor.email_field
        self.emails = emails

    @property
    def api_calls(self) -> int:
        return self.api.api_calls

    def write(self, results: Sequence[LearningResult]) -> None:
        statements: list[tuple[LearningResult, dict[str, Any]]] = []
        problems: list[str] = []
        emails = self._emails(results)
        for result in results:
            email = emails.get((result.connector, result.hr_key or ""))
            try:
                statements.append((result, self.builder.statement(result, email)))
            except StatementProblem as problem:
                problems.append(f"{result_label(result)}: {problem}")
        if problems:
            raise SinkError(self.name, listed("result(s) cannot be xAPI statements", problems))
        held_already = sum(self._send(result, statement) for result, statement in statements)
        log.info(
            "xapi_statements_sent",
            sink=self.name,
            statements=len(statements),
            held_already=held_already,
        )

    def _emails(self, results: Sequence[LearningResult]) -> dict[tuple[str, str], str]:
        """(connector, HR key) -> e-mail of the people in ``results`` (email_field actors)."""
        if self.email_field is None:
            return {}
        if self.emails is None:
            raise SinkError(
                self.name,
                f"actor.email_field {self.email_field} needs the state store's links to "
                "name people, and this sink was opened without them",
            )
        people: dict[str, set[str]] = defaultdict(set)
        for result in results:
            if result.hr_key:
                people[result.connector].add(result.hr_key)
        found: dict[tuple[str, str], str] = {}
        for connector, keys in people.items():
            for hr_key, email in self.emails(connector, keys).items():
                found[connector, hr_key] = email
        return found

    def _send(self, result: LearningResult, statement: dict[str, Any]) -> int:
        """Store one statement; 1 when the LRS answered 409 holding this very statement."""
        where = f"statement {statement['id']} of {result_label(result)}"
        try:
            status = self.api.put_statement(statement)
            if status != CONFLICT:
                return 0
            held = self.api.statement(statement["id"])
        except RecordRejected as refused:
            raise SinkError(self.name, f"the LRS refused {where}: {refused}") from None
        except (VendorError, OutcomeUnknown) as error:
            raise SinkError(self.name, f"the LRS did not take {where}: {error}") from None
        if held is None or not same_statement(statement, held):
            raise SinkError(
                self.name,
                f"the LRS holds a different statement under the id of {where} (HTTP 409); "
                "statements are immutable, so nothing is overwritten: find what else wrote "
                "that id",
            )
        return 1

    def close(self) -> None:
        self.api.close()

"""The ``xapi`` sink: learning results sent to a learning record store as xAPI statements.

Each result is one ``PUT /statements?statementId=<id>`` (``statements`` says how a
result becomes a statement and its id). The id is derived from the result and its
change, so sending a change again is sending the same statement, and the LRS answers
204 without storing a second copy. A 409 means the LRS holds a statement under that id
already: the sink reads it back, and only if it is the same statement (as xAPI compares
them) is the result delivered; otherwise the batch is refused, naming the result.

A batch is accepted once every statement in it was stored; any refusal refuses the
batch (``SinkError``), and the pull engine sends it whole again next cycle, which the
LRS takes as the idempotent re-send it is. The LRS sits with the vendors, not with the
HR sinks, because the ``xapi`` pull source reads the same statements back.
"""

from __future__ import annotations

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

log = structlog.get_logger(__name__)

CONFLICT = 409


def open_xapi_sink(
    name: str, config: XapiSinkConfig, *, context: AdapterContext | None = None
) -> XapiSink:
    """The sink ``name`` of type xapi.

    ``context.limiter`` (the state store's, as ``syncd.assemble`` gives it) shares the LRS
    credential's rate limit with every process; without a context the budget is its own.
    """
    context = context or AdapterContext(connector=f"sink:{name}")
    return XapiSink(name, config, open_lrs(config, context))


class XapiSink(SinkBase):
    def __init__(self, name: str, config: XapiSinkConfig, api: LrsApi) -> None:
        self.name = name
        self.max_batch = config.batch_size
        self.api = api
        self.builder = StatementBuilder(config)

    @property
    def api_calls(self) -> int:
        return self.api.api_calls

    def write(self, results: Sequence[LearningResult]) -> None:
        statements: list[tuple[LearningResult, dict[str, Any]]] = []
        problems: list[str] = []
        for result in results:
            try:
                statements.append((result, self.builder.statement(result)))
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

"""Why an event could not be used; the reason travels with it to the dead-letter topic."""

from __future__ import annotations

from enum import StrEnum

from fraudgraph.errors import FraudgraphError


class Reason(StrEnum):
    MALFORMED_JSON = "malformed_json"
    NOT_AN_ENVELOPE = "not_an_envelope"
    UNKNOWN_TABLE = "unknown_table"
    TYPE_DRIFT = "type_drift"
    MISSING_KEY = "missing_key"
    CONSTRAINT = "constraint_violation"
    TRUNCATE_FAILED = "truncate_failed"  # Neo4j refused to apply a table's truncate


class DecodeError(FraudgraphError):
    """An event the processor cannot use; `reason` is machine-readable, str() is for people."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail

"""Row changes the detectors react to, as typed events with their source coordinates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fraudgraph.cdc.changes import RowChange
from fraudgraph.detection import records
from fraudgraph.detection.history import AccountInfo, CustomerInfo, Login, Report, Txn
from fraudgraph.detection.records import RecordBuilder

EventKind = Literal["transaction", "login", "customer", "account", "report"]
Record = Txn | Login | CustomerInfo | AccountInfo | Report


@dataclass(frozen=True, slots=True)
class Event:
    kind: EventKind
    record: Record
    at: int  # event time (epoch ms) of the row
    op: str
    lsn: int
    committed_at_ms: int
    trace_id: str | None = None

    @property
    def txn(self) -> Txn:
        assert isinstance(self.record, Txn)
        return self.record

    @property
    def login(self) -> Login:
        assert isinstance(self.record, Login)
        return self.record

    @property
    def customer(self) -> CustomerInfo:
        assert isinstance(self.record, CustomerInfo)
        return self.record

    @property
    def report(self) -> Report:
        assert isinstance(self.record, Report)
        return self.record


def trace_id_of(change: RowChange) -> str | None:
    """The W3C trace id in the change's `traceparent` (version-traceid-spanid-flags)."""
    parent = (change.trace_context or {}).get("traceparent")
    if not parent:
        return None
    parts = parent.split("-")
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None


def to_event(change: RowChange, builder: RecordBuilder) -> Event | None:  # noqa: PLR0911 - one return per table reads best
    """The event a change means to detection, or None (deletes, tables nobody watches).

    Updates count for customers (a contact change is a takeover signal) and reports;
    a transaction's update (reversal, decline) is not a new payment.
    """
    row = change.row
    if row is None:
        return None

    def event(kind: EventKind, record: Record, at: int) -> Event:
        return Event(
            kind, record, at, change.op, change.lsn, change.committed_at_ms, trace_id_of(change)
        )

    if change.table == "transactions" and change.op in ("c", "r"):
        txn = builder.txn(row)
        return event("transaction", txn, txn.at)
    if change.table == "logins" and change.op in ("c", "r"):
        login = records.login(row)
        return event("login", login, login.at)
    if change.table == "customers":
        customer = builder.customer(row)
        at = customer.updated_at or customer.created_at or change.committed_at_ms
        return event("customer", customer, at)
    if change.table == "accounts" and change.op in ("c", "r"):
        account = records.account(row)
        return event("account", account, account.opened_at or change.committed_at_ms)
    if change.table == "fraud_reports":
        report = records.report(row)
        return event("report", report, report.reported_at)
    return None

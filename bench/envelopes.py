"""Simulated bank rows as the change events Debezium would publish for them.

Pure functions over plain data: the row values are encoded exactly as Debezium's
JSON converter emits them with our connector settings (see cdc/values.py), and
the envelope carries the same fields as a real one captured from this stack, so
the worker decodes and writes bench events the way it handles production ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson

from fraudgraph.graph.mapping import ColumnType, GraphMapping, TableMapping
from fraudgraph.simulator.generator import SimulatedBank
from fraudgraph.simulator.rows import EVENT_TIME_COLUMN, FraudReport, Row, Transaction

EPOCH_DAY = date(1970, 1, 1)
# Tables that are entities (loaded before anything refers to them) and the event
# tables that dominate a bank's change stream, interleaved in event-time order.
ENTITY_TABLES = ("customers", "accounts", "cards", "devices", "merchants")
EVENT_TABLES = ("logins", "transactions", "fraud_reports")
FIRST_LSN = 30_000_000
LSN_STEP = 120  # about one small WAL record per change
# Headers Debezium adds to every record; the worker reads headers, so they cost it work.
HEADERS: list[tuple[str, str | bytes | None]] = [
    ("__debezium.context.connectorLogicalName", b"bank"),
    ("__debezium.context.taskId", b"0"),
    ("__debezium.context.connectorName", b"postgresql"),
]


def _timestamptz(value: Any) -> str:
    assert isinstance(value, datetime)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _date(value: Any) -> int:
    assert isinstance(value, date)
    return (value - EPOCH_DAY).days


def _decimal(value: Any) -> str:
    assert isinstance(value, Decimal)
    return str(value)


def _as_is(value: Any) -> Any:
    return value


ENCODERS: dict[ColumnType, Callable[[Any], Any]] = {
    "bigint": _as_is,
    "text": _as_is,
    "bool": _as_is,
    "float": _as_is,
    "decimal": _decimal,
    "timestamptz": _timestamptz,
    "date": _date,
    "inet": str,
}


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """One change record ready to produce: topic suffix (the table), key and value bytes."""

    table: str
    key: bytes
    value: bytes


def after_image(table: TableMapping, row: Row) -> dict[str, Any]:
    """The row's columns as Debezium's JSON converter writes them (nulls stay null)."""
    image: dict[str, Any] = {}
    for column, column_type in table.columns.items():
        value = getattr(row, column)
        image[column] = None if value is None else ENCODERS[column_type](value)
    return image


def envelope(
    connector: str, schema: str, table: str, after: dict[str, Any], *, lsn: int, ts_ms: int
) -> bytes:
    """An insert ("c") envelope with the source block of Debezium 3.x for PostgreSQL."""
    ts_us, ts_ns = ts_ms * 1000, ts_ms * 1_000_000
    return orjson.dumps(
        {
            "before": None,
            "after": after,
            "source": {
                "version": "3.7.0.Final",
                "connector": "postgresql",
                "name": connector,
                "ts_ms": ts_ms,
                "snapshot": "false",
                "db": "bank",
                "sequence": f'["{lsn - LSN_STEP}","{lsn}"]',
                "ts_us": ts_us,
                "ts_ns": ts_ns,
                "schema": schema,
                "table": table,
                "txId": lsn // LSN_STEP,
                "lsn": lsn,
                "xmin": None,
                "origin": None,
                "origin_lsn": None,
            },
            "transaction": None,
            "op": "c",
            "ts_ms": ts_ms,
            "ts_us": ts_us,
            "ts_ns": ts_ns,
        }
    )


def _event_time_ms(table: str, row: Row, fallback_ms: int) -> int:
    column = EVENT_TIME_COLUMN[table]
    moment = getattr(row, column) if column else None
    return int(moment.timestamp() * 1000) if isinstance(moment, datetime) else fallback_ms


def ordered_rows(bank: SimulatedBank, limit: int) -> list[tuple[str, Row]]:
    """The first `limit` rows of a bank's history: entities first, then events by time.

    A real bank's stream is this shape: the slowly growing entity tables, then
    logins and payments that dominate it, in the order they happened.
    """
    entities = [(table, row) for table in ENTITY_TABLES for row in bank.tables[table]]
    start_ms = int(bank.options.start.timestamp() * 1000)
    happenings = sorted(
        ((table, row) for table in EVENT_TABLES for row in bank.tables[table]),
        key=lambda pair: _event_time_ms(pair[0], pair[1], start_ms),
    )
    return (entities + happenings)[:limit]


def change_events(
    rows: Iterable[tuple[str, Row]], mapping: GraphMapping, connector: str, schema: str
) -> Iterator[ChangeEvent]:
    """Envelopes with increasing LSNs, keyed by primary key as Debezium keys them."""
    start_ms = 0
    for index, (table_name, row) in enumerate(rows):
        table = mapping.tables[table_name]
        after = after_image(table, row)
        start_ms = _event_time_ms(table_name, row, start_ms)
        lsn = FIRST_LSN + index * LSN_STEP
        yield ChangeEvent(
            table=table_name,
            key=orjson.dumps({table.key: after[table.key]}),
            value=envelope(connector, schema, table_name, after, lsn=lsn, ts_ms=start_ms),
        )


def transaction_ids(rows: Iterable[tuple[str, Row]]) -> set[int]:
    """Transaction nodes the rows imply: each payment, and each one a fraud report names."""
    ids: set[int] = set()
    for _, row in rows:
        txn_id = row.txn_id if isinstance(row, Transaction | FraudReport) else None
        if txn_id is not None:
            ids.add(txn_id)
    return ids

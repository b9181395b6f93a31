"""Debezium envelopes (JSON converter, schemas disabled) into RowChange, or a DecodeError."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeGuard

import orjson

from fraudgraph.cdc.changes import Position, RowChange, TableTruncate
from fraudgraph.cdc.errors import DecodeError, Reason
from fraudgraph.cdc.values import DECODERS, ValueDrift
from fraudgraph.graph.mapping import GraphMapping, TableMapping

ROW_OPS = frozenset({"c", "r", "u", "d"})
TRUNCATE_OP = "t"


def decode_record(
    value: bytes | None,
    position: Position,
    mapping: GraphMapping,
    trace_context: Mapping[str, str] | None = None,
) -> RowChange | TableTruncate | None:
    """Decode one CDC record. None means "nothing to apply" (a tombstone).

    A truncate (op "t", sent because the connector's `skipped.operations` keeps
    it) has no key and no row images, only its table and source coordinates.
    """
    if value is None:
        return None  # the tombstone after a delete: the delete itself carried the change
    try:
        envelope = orjson.loads(value)
    except orjson.JSONDecodeError as error:
        raise DecodeError(Reason.MALFORMED_JSON, str(error)) from None
    if not isinstance(envelope, dict):
        raise DecodeError(
            Reason.NOT_AN_ENVELOPE, f"expected an object, got {type(envelope).__name__}"
        )
    op, source = envelope.get("op"), envelope.get("source")
    if (op not in ROW_OPS and op != TRUNCATE_OP) or not isinstance(source, dict):
        raise DecodeError(Reason.NOT_AN_ENVELOPE, f"no row change (op={str(op)[:10]!r})")
    table_name = source.get("table")
    table = mapping.table(table_name) if isinstance(table_name, str) else None
    if table is None or not isinstance(table_name, str):
        raise DecodeError(Reason.UNKNOWN_TABLE, f"table {str(table_name)[:60]!r} is not mapped")
    lsn, committed_at = source.get("lsn"), source.get("ts_ms")
    if not _is_integer(lsn) or not _is_integer(committed_at):
        raise DecodeError(Reason.NOT_AN_ENVELOPE, "source.lsn and source.ts_ms must be integers")
    if op == TRUNCATE_OP:
        return TableTruncate(table_name, lsn, committed_at, position, trace_context)

    image = envelope.get("before") if op == "d" else envelope.get("after")
    if not isinstance(image, dict):
        raise DecodeError(Reason.NOT_AN_ENVELOPE, f"op {op} without a row image")
    if op == "d":
        # Without REPLICA IDENTITY FULL a delete's before-image has the real key only;
        # its other columns are defaults Debezium made up, so they are not read.
        key_value = _decode_column(table_name, table, table.key, image.get(table.key))
        row = None
    else:
        row = {
            column: _decode_column(table_name, table, column, image.get(column))
            for column in table.columns
        }
        key_value = row[table.key]
    if key_value is None:
        raise DecodeError(Reason.MISSING_KEY, f"{table_name}.{table.key} is null")
    return RowChange(
        table=table_name,
        op=op,
        key={table.key: key_value},
        row=row,
        lsn=lsn,
        committed_at_ms=committed_at,
        position=position,
        trace_context=trace_context,
    )


def _decode_column(table_name: str, table: TableMapping, column: str, value: Any) -> Any:
    if value is None:
        return None
    try:
        return DECODERS[table.columns[column]](value)
    except ValueDrift as drift:
        raise DecodeError(Reason.TYPE_DRIFT, f"{table_name}.{column}: {drift}") from None


def _is_integer(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)

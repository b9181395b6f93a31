"""A decoded change to one source row, and where it came from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Op = Literal["c", "r", "u", "d"]


@dataclass(frozen=True, slots=True)
class Position:
    """Kafka coordinates of the record a change came from."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class RowChange:
    """One row's insert (c), snapshot read (r), update (u) or delete (d), decoded.

    `row` is the after-image (None for a delete); `key` holds the primary key
    columns. `lsn` orders changes to the same row: a change with a lower LSN than
    what the graph holds must never overwrite it.
    """

    table: str
    op: Op
    key: Mapping[str, Any]
    row: Mapping[str, Any] | None
    lsn: int
    committed_at_ms: int
    position: Position
    trace_context: Mapping[str, str] | None = None

    @property
    def is_delete(self) -> bool:
        return self.op == "d"


@dataclass(frozen=True, slots=True)
class TableTruncate:
    """A `TRUNCATE` of one source table (Debezium op "t"), decoded.

    It names no row: Debezium sends it with a null key, so it lands on one partition
    of the table's topic while the table's rows are spread over all of them. A row
    change from another partition may therefore be processed after it although it
    is older; `lsn` is the fence that tells which rows the truncate removed (every
    change at or below it), whatever order they arrive in. One `TRUNCATE a, b` gives
    one event per table.
    """

    table: str
    lsn: int
    committed_at_ms: int
    position: Position
    trace_context: Mapping[str, str] | None = None

    @property
    def op(self) -> Literal["t"]:
        return "t"

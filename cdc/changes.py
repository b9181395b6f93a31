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

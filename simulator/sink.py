"""Where generated events go: the `Sink` protocol and the bulk (final-state) sink.

Generators speak in events — insert a row, update some columns of a row at a time,
erase a customer's logins at a time — so the same code feeds both modes: the bulk
sink folds them into the final state of each table (what COPY loads), the live sink
(`simulator.live`) replays them against PostgreSQL as they fall due.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from fraudgraph.simulator.rows import PRIMARY_KEYS, TABLE_OF, TABLE_ORDER, Login, Row


@dataclass(frozen=True)
class Update:
    table: str
    key: int
    at: datetime
    changes: dict[str, Any]


@dataclass(frozen=True)
class EraseLogins:
    customer_id: int
    at: datetime


class Sink(Protocol):
    """Receives the events of the simulated bank in any order of generation."""

    def insert(self, row: Row) -> None: ...

    def update(self, table: str, key: int, at: datetime, **changes: Any) -> None: ...

    def erase_logins(self, customer_id: int, at: datetime) -> None: ...


class BulkSink:
    """Folds events into each table's final state: the history COPY can express.

    Updates and erasures are applied at `finish()` in event-time order, so a generator
    may emit them in any order (an ATO after a legitimate contact change, say).
    """

    def __init__(self) -> None:
        self.tables: dict[str, dict[int, Row]] = {table: {} for table in TABLE_ORDER}
        self.updates: list[Update] = []
        self.erasures: list[EraseLogins] = []
        self.erased_logins = 0

    def insert(self, row: Row) -> None:
        table = TABLE_OF[type(row)]
        rows = self.tables[table]
        key = row[0]
        if key in rows:
            raise ValueError(f"duplicate {PRIMARY_KEYS[table]} {key}")
        rows[key] = row

    def update(self, table: str, key: int, at: datetime, **changes: Any) -> None:
        self.updates.append(Update(table, key, at, changes))

    def erase_logins(self, customer_id: int, at: datetime) -> None:
        self.erasures.append(EraseLogins(customer_id, at))

    def finish(self) -> None:
        """Apply the recorded updates and erasures in event-time order (stable)."""
        for update in sorted(self.updates, key=lambda u: u.at):
            rows = self.tables[update.table]
            rows[update.key] = rows[update.key]._replace(**update.changes)
        if self.erasures:
            cutoff: dict[int, datetime] = {}
            for erasure in self.erasures:
                cutoff[erasure.customer_id] = max(
                    erasure.at, cutoff.get(erasure.customer_id, erasure.at)
                )
            logins = self.tables["logins"]
            doomed = [
                key
                for key, row in logins.items()
                if isinstance(row, Login)
                and row.customer_id in cutoff
                and row.occurred_at <= cutoff[row.customer_id]
            ]
            for key in doomed:
                del logins[key]
            self.erased_logins = len(doomed)

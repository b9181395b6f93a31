"""Turn a batch of row changes into parameter sets for the mapping's statements.

Pure functions over plain data: no driver, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from fraudgraph.cdc.changes import RowChange
from fraudgraph.graph.cypher import (
    LOAD_DELETED,
    Statement,
    TableStatements,
    build_load_statements,
    build_statements,
)
from fraudgraph.graph.mapping import HISTORY_LIMIT, GraphMapping, NodeRef, TableMapping
from fraudgraph.graph.pii import PiiHasher

Row = dict[str, Any]
# (table, key) -> history property -> the values its changes in a batch carried.
_Histories = dict[tuple[str, Any], dict[str, set[Any]]]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MILLISECOND = timedelta(milliseconds=1)


class RowLoad(NamedTuple):
    """A row's load over some of its changes (see `WritePlanner.load_version`)."""

    order: tuple[int, int]  # (LSN, arrival offset) of the newest change seen
    identity: Row
    table: str | None  # the newest change's table; None when it is a delete
    # history property -> each value seen -> the newest (LSN, offset) that carried it
    history: dict[str, dict[Any, tuple[int, int]]]
    deleted: tuple[int, int] | None  # (LSN, offset) of the newest delete seen
    row: Row | None = None  # the newest upsert's row


def merge_loads(a: RowLoad, b: RowLoad) -> RowLoad:
    """Two parts of one row's load: commutative and associative."""
    newer = a if a.order >= b.order else b
    history = {prop: dict(values) for prop, values in a.history.items()}
    for prop, values in b.history.items():
        held = history.setdefault(prop, {})
        for value, order in values.items():
            held[value] = max(order, held.get(value, order))
    deletes = [order for order in (a.deleted, b.deleted) if order is not None]
    return newer._replace(history=history, deleted=max(deletes) if deletes else None)


@dataclass(frozen=True)
class PlannedWrite:
    statement: Statement
    rows: list[Row]
    # Parameters besides `$rows`: the table whose truncate fence the statement reads.


def fenced_off(changes: Iterable[RowChange], fences: Mapping[str, int]) -> list[RowChange]:
    """The changes a truncate removed: at or below their table's truncate LSN.

    `GraphWriter.apply` drops them before planning, in the batch's transaction: they
    are not written, their values stay out of a row's history, and detection does not
    judge rows the source no longer holds.
    """
    return [c for c in changes if c.lsn <= fences.get(c.table, -1)]


def latest_per_row(changes: Iterable[RowChange]) -> list[RowChange]:
    """The newest change (by LSN, then arrival) of each row; older ones change nothing."""
    newest: dict[tuple[str, Any], RowChange] = {}
    for change in changes:
        identity = (change.table, next(iter(change.key.values())))
        held = newest.get(identity)
        if held is None or change.lsn >= held.lsn:
            newest[identity] = change
    return list(newest.values())


def graph_value(value: Any) -> Any:
    # Neo4j has no decimal type; amounts are kept exactly in the source and as
    # floats (ample for 14,2 money) in the graph.
    if isinstance(value, Decimal):
        return float(value)
    # Event times are epoch milliseconds in the graph: the driver packs Python
    # datetimes in pure Python (38% of the worker's time when measured), and
    # integer times make event-time windows plain arithmetic in Cypher.
    if isinstance(value, datetime):
        # Integer arithmetic: timestamp() * 1000 is a float and loses a millisecond.
        return (value - EPOCH) // ONE_MILLISECOND
    if isinstance(value, date):
        return value.isoformat()
    return value


class WritePlanner:
    def __init__(self, mapping: GraphMapping, hasher: PiiHasher) -> None:
        self.mapping = mapping
        self.hasher = hasher
        self.statements: dict[str, TableStatements] = build_statements(mapping)
        self.load_statements: dict[str, Statement] = build_load_statements(mapping)
        loads = [*self.load_statements.values(), LOAD_DELETED]
        self.load_statement_named = {statement.name: statement for statement in loads}
        self._with_history = {
            name: table.node.history
            for name, table in mapping.tables.items()
            if table.node is not None and table.node.history
        }

    def plan(self, changes: Sequence[RowChange]) -> list[PlannedWrite]:
        """Statements with their rows, in an order that respects each statement's guards."""
        upserts: dict[str, list[RowChange]] = {}
        deletes: dict[str, list[RowChange]] = {}
        history = self._history_of(changes)
        for change in latest_per_row(changes):
            (deletes if change.is_delete else upserts).setdefault(change.table, []).append(change)
        writes: list[PlannedWrite] = []
        for table_name, table_changes in upserts.items():
            table = self.mapping.tables[table_name]
            rows = [
                self._upsert_row(table_name, table, change, history) for change in table_changes
            ]
            writes.append(PlannedWrite(self.statements[table_name].upsert, rows))
        for table_name, table_changes in deletes.items():
            rows = [self._delete_row(table_name, change) for change in table_changes]
            writes.append(PlannedWrite(self.statements[table_name].delete, rows))
        return writes

    def load(self, versions: Sequence[RowChange]) -> list[tuple[str, Row]]:
        """Every change of one row, as (load statement name, its row) pairs (graph/cypher.py
        `build_load_statements`): what the guarded statements leave in a graph that
        receives these changes in any batches, for a graph that holds none of them."""
        loads = [self.load_version(change) for change in versions]
        merged = loads[0]
        for other in loads[1:]:
            merged = merge_loads(merged, other)
        return self.load_rows(merged)

    def load_version(self, change: RowChange) -> RowLoad:
        """One change's part of its row's load; `merge_loads` combines a row's parts in
        any order (a Spark combiner), `load_rows` turns the result into rows."""
        identity = self._identity(change.table, change)
        order = (change.lsn, change.position.offset)
        if change.is_delete:
            return RowLoad(order, identity, None, {}, order)
        table = self.mapping.tables[change.table]
        values = self._history_of([change]).get((change.table, identity["key"]), {})
        history = {prop: dict.fromkeys(held, order) for prop, held in values.items()}
        row = self._upsert_row(change.table, table, change, {})
        row.pop("history", None)  # set whole by `load_rows`, from every part's values
        return RowLoad(order, identity, change.table, history, None, row)

    def load_rows(self, load: RowLoad) -> list[tuple[str, Row]]:
        """The newest change decides: its values, or its marker if it is a delete. An
        older delete leaves its marker too, and the history holds the values of every
        version since it (a delete removes the node, and its history, from the graph)."""
        planned: list[tuple[str, Row]] = []
        if load.deleted is not None:
            planned.append((LOAD_DELETED.name, {**load.identity, "lsn": load.deleted[0]}))
        if load.table is None:  # the newest change is that delete: nothing but its marker
            return planned
        row = dict(load.row or {})
        if history := self._with_history.get(load.table):
            since = load.deleted or (-1, -1)
            row["history"] = {
                prop: sorted(
                    (v for v, order in load.history.get(prop, {}).items() if order > since),
                    reverse=True,
                )[:HISTORY_LIMIT]
                for prop in history
            }
        planned.append((self.load_statements[load.table].name, row))
        return planned

    def _history_of(self, changes: Sequence[RowChange]) -> _Histories:
        """Each row's values of its history properties over every change in the batch:
        only the newest change is written, but the older ones' values are kept."""
        found: _Histories = {}
        for change in changes:
            history = self._with_history.get(change.table)
            if history is None or change.row is None:
                continue
            values = found.setdefault((change.table, next(iter(change.key.values()))), {})
            for prop, column in history.items():
                value = change.row.get(column)
                held = values.setdefault(prop, set())
                if value is not None:
                    held.add(graph_value(value))
        return found

    @staticmethod
    def _identity(table_name: str, change: RowChange) -> Row:
        key = next(iter(change.key.values()))
        return {"key": key, "lsn": change.lsn, "tomb": f"{table_name}:{key}"}

    def _delete_row(self, table_name: str, change: RowChange) -> Row:
        return self._identity(table_name, change)

    def _upsert_row(
        self, table_name: str, table: TableMapping, change: RowChange, history: _Histories
    ) -> Row:
        assert change.row is not None
        source = change.row
        row = self._identity(table_name, change)
        if table.node is not None:
            props = {name: graph_value(source[name]) for name in table.node.properties}
            for prop, column in table.node.hashed.items():
                props[prop] = self.hasher.digest("token", [source[column]])
            row["props"] = props
            if table.node.history:
                held = history.get((table_name, row["key"]), {})
                row["history"] = {
                    prop: sorted(held.get(prop, ()), reverse=True) for prop in table.node.history
                }
        for index, link in enumerate(table.links):
            for prefix, end in (("f", link.from_), ("t", link.to)):
                if isinstance(end, NodeRef):
                    row[f"{prefix}{index}"] = self._reference(end, source)
            if link.key is not None or link.properties:
                row[f"p{index}"] = {
                    prop: graph_value(source[column]) for prop, column in link.properties.items()
                }
        return row

    def _reference(self, ref: NodeRef, source: Mapping[str, Any]) -> Any:
        if ref.hash is not None:
            return self.hasher.digest(ref.normalise, [source[column] for column in ref.hash])
        assert ref.column is not None
        return source[ref.column]

"""Batched, idempotent writes of row changes into Neo4j."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import neo4j
from neo4j.exceptions import (
    ClientError,
    DatabaseError,
    DriverError,
    Neo4jError,
    ServiceUnavailable,
    SessionExpired,
    TransientError,
)

from fraudgraph.cdc.changes import Position, RowChange, TableTruncate
from fraudgraph.graph.cypher import (
    READ_GUARDS,
    TRUNCATE_BATCH,
    Statement,
    schema_statements,
)
from fraudgraph.graph.errors import GraphQueryError, GraphUnavailableError, GraphWriteError
from fraudgraph.graph.mapping import GraphMapping
from fraudgraph.graph.pii import PiiHasher
from fraudgraph.graph.plan import PlannedWrite, WritePlanner, fenced_off

T = TypeVar("T")

# The writer's statements are planned again as the graph's counts drift (Neo4j's
# default), though planning the payments statement costs 150-865 ms of its CPU under a
# live load. Keeping the first plan (`CYPHER replan=skip`) was tried and withdrawn: the
# first plan is made on whatever the graph holds then, and one made on the empty graph
# of a bulk load read ~12,000 pages per login row once the graph had grown (a 2,000
# customer load stalled for minutes, Neo4j at a full core; clearing its query cache
# mid-load freed it within seconds).

# Codes that mean the statement is wrong whatever the data (a bug in graph/cypher.py).
STATEMENT_FAULTS = (
    "Neo.ClientError.Statement.SyntaxError",
    "Neo.ClientError.Statement.SemanticError",
    "Neo.ClientError.Statement.ParameterMissing",
    "Neo.ClientError.Security.",
)


@dataclass(frozen=True)
class WriteResult:
    changes: int
    rows_written: int
    statements: int
    # Changes a truncate had removed (at or below its fence): not written, and not
    # to be judged by detection either.
    fenced: frozenset[Position] = frozenset()


@dataclass(frozen=True)
class TruncateResult:
    table: str
    lsn: int
    fence: int  # the table's fence now: this truncate's LSN, or a newer one's
    nodes: int  # nodes removed or turned into stubs
    relationships: int  # keyed relationships the rows owned (transfers, logins)
    markers: int  # `_Deleted` markers the fence made redundant
    transactions: int


class GraphWriter:
    """Applies batches of changes; when `apply` returns, the batch is durable in Neo4j."""

    def __init__(
        self,
        driver: neo4j.Driver,
        mapping: GraphMapping,
        hasher: PiiHasher,
        database: str = "neo4j",
    ) -> None:
        self.driver = driver
        self.mapping = mapping
        self.planner = WritePlanner(mapping, hasher)
        self.database = database
        self._upsert_names = {t.upsert.name for t in self.planner.statements.values()}

    def setup(self) -> None:
        """Constraints and indexes, idempotently (IF NOT EXISTS)."""
        try:
            for statement in schema_statements(self.mapping):
                self.driver.execute_query(statement, database_=self.database)
        except (ServiceUnavailable, SessionExpired, TransientError) as error:
            raise GraphUnavailableError(f"Neo4j unavailable during set-up: {error}") from error

    def apply(self, changes: Sequence[RowChange]) -> WriteResult:
        """Write the batch in one transaction. Raises GraphUnavailableError or GraphWriteError.

        The truncate fences and delete markers are read in the same transaction, so
        what is skipped as truncated or deleted is exactly what the graph holds then.
        """
        if not changes:
            return WriteResult(0, 0, 0)

        def write(tx: neo4j.ManagedTransaction) -> WriteResult:
            writes = self.planner.plan(changes)
            fences, markers = self._read_guards(tx, writes)
            gone = {change.position for change in fenced_off(changes, fences)}
            if gone:  # rare: changes older than a truncate, delivered after it
                writes = self.planner.plan([c for c in changes if c.position not in gone])
            writes = self._past_markers(writes, markers)
            _run_all(tx, writes)
            return WriteResult(
                len(changes), sum(len(w.rows) for w in writes), len(writes), frozenset(gone)
            )

        return self._transact(write)

    def _read_guards(
        self, tx: neo4j.ManagedTransaction, writes: list[PlannedWrite]
    ) -> tuple[dict[str, int], dict[str, int]]:
        """(the truncate fences by table, the delete markers of the upserted rows by
        tomb), in one round trip: see READ_GUARDS."""
        tombs = sorted({row["tomb"] for write in self._upserts(writes) for row in write.rows})
        record = tx.run(READ_GUARDS.cypher, {"tombs": tombs}).single(strict=True)
        fences = {table: lsn for table, lsn in record["fences"]}
        markers = {tomb: lsn for tomb, lsn in record["markers"]}
        return fences, markers

    def _upserts(self, writes: list[PlannedWrite]) -> list[PlannedWrite]:
        return [w for w in writes if w.statement.name in self._upsert_names]

    def _past_markers(
        self, writes: list[PlannedWrite], markers: dict[str, int]
    ) -> list[PlannedWrite]:
        """`writes` without the upserted rows a delete marker is as new as or newer
        than (an older change delivered after the row's delete)."""
        if not markers:  # nearly every batch: no row of it was ever deleted
            return writes
        kept: list[PlannedWrite] = []
        upserted = {id(write) for write in self._upserts(writes)}
        for write in writes:
            if id(write) not in upserted:
                kept.append(write)
                continue
            rows = [row for row in write.rows if markers.get(row["tomb"], -1) < row["lsn"]]
            if rows:
                kept.append(PlannedWrite(write.statement, rows))
        return kept

    def truncate(self, truncate: TableTruncate) -> TruncateResult:
        """Apply a truncate of one table: its fence, then its rows, in bounded batches.

        The fence goes first, in its own transaction: from then on no change at or
        below it is written (by this worker or any other), so the removal below
        converges. The removal runs in many transactions of TRUNCATE_BATCH rows so
        Neo4j's memory stays bounded whatever the table's size (CALL … IN
        TRANSACTIONS cannot run inside the driver's managed transactions).
        Idempotent: a redelivered truncate finds the fence set and nothing to remove.
        """
        statements = self.planner.statements[truncate.table].truncate
        params = {"table": truncate.table, "lsn": truncate.lsn, "limit": TRUNCATE_BATCH}

        def mark(tx: neo4j.ManagedTransaction) -> int:
            record = tx.run(statements.mark.cypher, params).single()
            assert record is not None  # MERGE … RETURN yields one row
            return int(record["lsn"])

        fence = self._transact(mark)
        removed = {"relationships": 0, "nodes": 0, "markers": 0}
        transactions = 1
        for what, statement in (
            ("relationships", statements.relationships),
            ("nodes", statements.nodes),
            ("markers", statements.markers),
        ):
            while statement is not None:
                found = self._transact(_count_of(statement, params))
                transactions += 1
                removed[what] += found
                if found < TRUNCATE_BATCH:
                    break
        return TruncateResult(
            truncate.table,
            truncate.lsn,
            fence,
            removed["nodes"],
            removed["relationships"],
            removed["markers"],
            transactions,
        )

    def load(self, planned: Iterable[tuple[str, dict[str, Any]]]) -> int:
        """Write rows planned by `WritePlanner.load` in one transaction; returns how many.

        Only for a graph that holds none of the rows (see `build_load_statements`).
        """
        by_statement: dict[str, PlannedWrite] = {}
        for name, row in planned:
            if name not in by_statement:
                by_statement[name] = PlannedWrite(self.planner.load_statement_named[name], [])
            by_statement[name].rows.append(row)
        writes = list(by_statement.values())
        if writes:
            self._write(writes)
        return sum(len(w.rows) for w in writes)

    def _write(self, writes: list[PlannedWrite]) -> None:
        self._transact(lambda tx: _run_all(tx, writes))

    def _transact(self, work: Callable[[neo4j.ManagedTransaction], T]) -> T:
        try:
            with self.driver.session(database=self.database) as session:
                # execute_write retries transient errors (deadlocks, leader switches)
                # with backoff for up to the driver's max_transaction_retry_time.
                return session.execute_write(work)
        except (ServiceUnavailable, SessionExpired, TransientError) as error:
            raise GraphUnavailableError(f"Neo4j unavailable: {error}") from error
        except ClientError as error:
            if (error.code or "").startswith(STATEMENT_FAULTS):
                raise GraphQueryError(f"Neo4j refused a statement: {error.message}") from error
            raise GraphWriteError(f"Neo4j rejected the batch: {error.message or error}") from error
        except DatabaseError as error:
            raise GraphWriteError(f"Neo4j failed the batch: {error.message or error}") from error
        except (Neo4jError, DriverError) as error:
            raise GraphUnavailableError(f"Neo4j driver error: {error}") from error


class _Rows(list[dict[str, Any]]):
    """A batch's rows with a short repr.

    The driver formats `repr` of every parameter for a debug line even when debug
    logging is off; for 5,000-row batches that was 19% of the worker's time.
    Packing is unchanged: this is still a list.
    """

    def __repr__(self) -> str:
        return f"<{len(self)} rows>"


def _run_all(tx: neo4j.ManagedTransaction, writes: list[PlannedWrite]) -> None:
    for write in writes:
        tx.run(write.statement.cypher, {"rows": _Rows(write.rows)}).consume()


def _count_of(
    statement: Statement, params: dict[str, Any]
) -> Callable[[neo4j.ManagedTransaction], int]:
    def run(tx: neo4j.ManagedTransaction) -> int:
        record = tx.run(statement.cypher, params).single()
        return int(record["found"]) if record is not None else 0

    return run

"""PostgreSQL side of the simulator: connect, check the schema, reset, bulk COPY.

Every psycopg error is translated here into a one-line `DatabaseError`, so the CLI
reports "cannot connect ..." or "schema bank is missing ..." instead of a traceback.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from fraudgraph.simulator.errors import DatabaseError
from fraudgraph.simulator.rows import PRIMARY_KEYS, TABLE_ORDER, Row, columns

SCHEMA = "bank"
Connection = psycopg.Connection[tuple[object, ...]]
CopyProgress = Callable[[str, int], None]


def one_line(error: BaseException) -> str:
    """psycopg messages span lines (hints, context); keep them on one."""
    text = " ".join(part.strip() for part in str(error).splitlines() if part.strip())
    return text or type(error).__name__


@contextmanager
def translated(what: str) -> Iterator[None]:
    try:
        yield
    except psycopg.Error as error:
        raise DatabaseError(f"{what}: {one_line(error)}") from error


def connect(dsn: str, *, autocommit: bool = False) -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(dsn, autocommit=autocommit, connect_timeout=5)
    except psycopg.Error as error:
        raise DatabaseError(f"cannot connect to PostgreSQL: {one_line(error)}") from error


def check_schema(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """All eight contract tables must exist in schema `bank`."""
    with translated("cannot inspect the database"):
        found = {
            str(row[0])
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (SCHEMA,),
            )
        }
        conn.rollback()
    missing = [table for table in TABLE_ORDER if table not in found]
    if missing:
        raise DatabaseError(
            f"schema {SCHEMA} lacks table(s) {', '.join(missing)}: "
            "create it from contracts/bank.sql "
            "(`fraudgraph stack up postgres` does)"
        )


def max_ids(conn: psycopg.Connection[tuple[object, ...]]) -> dict[str, int]:
    """The largest primary key in each table (0 when empty)."""
    result: dict[str, int] = {}
    with translated("cannot read current ids"):
        for table in TABLE_ORDER:
            query = sql.SQL("SELECT coalesce(max({}), 0) FROM {}").format(
                sql.Identifier(PRIMARY_KEYS[table]), sql.Identifier(SCHEMA, table)
            )
            row = conn.execute(query).fetchone()
            result[table] = int(row[0]) if row else 0  # type: ignore[call-overload]
        conn.rollback()
    return result


def colliding_tables(
    conn: psycopg.Connection[tuple[object, ...]], tables: Mapping[str, Sequence[Row]]
) -> list[str]:
    """Tables that already hold a row whose id falls in the range we are about to load."""
    clashes = []
    with translated("cannot check for existing rows"):
        for table in TABLE_ORDER:
            rows = tables.get(table) or ()
            if not rows:
                continue
            keys = [int(row[0]) for row in rows]
            query = sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE {} BETWEEN %s AND %s)").format(
                sql.Identifier(SCHEMA, table), sql.Identifier(PRIMARY_KEYS[table])
            )
            found = conn.execute(query, (min(keys), max(keys))).fetchone()
            if found and found[0]:
                clashes.append(table)
        conn.rollback()
    return clashes


def reset(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Empty the demo bank's tables (TRUNCATE ... CASCADE)."""
    tables = sql.SQL(", ").join(sql.Identifier(SCHEMA, table) for table in reversed(TABLE_ORDER))
    with translated("cannot reset the bank tables"):
        conn.execute(sql.SQL("TRUNCATE {} CASCADE").format(tables))
        conn.commit()


@dataclass(frozen=True)
class CopyStats:
    rows: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


# Binary COPY: the server skips parsing text (timestamps and numerics above all).
# char(n) columns travel as text (bpchar's binary input is the text bytes).
BINARY_TYPES: dict[str, tuple[str, ...]] = {
    "customers": (
        "int8",
        "text",
        "text",
        "text",
        "text",
        "date",
        "text",
        "text",
        "text",
        "text",
        "timestamptz",
        "timestamptz",
    ),
    "accounts": ("int8", "int8", "text", "text", "text", "text", "timestamptz", "timestamptz"),
    "cards": ("int8", "int8", "text", "text", "text", "timestamptz"),
    "devices": ("int8", "text", "text", "text", "timestamptz"),
    "merchants": ("int8", "text", "text", "text"),
    "logins": ("int8", "int8", "int8", "inet", "bool", "timestamptz"),
    "transactions": (
        "int8",
        "int8",
        "int8",
        "text",
        "int8",
        "int8",
        "int8",
        "inet",
        "text",
        "numeric",
        "text",
        "float8",
        "float8",
        "text",
        "timestamptz",
        "timestamptz",
    ),
    "fraud_reports": ("int8", "text", "int8", "int8", "int8", "text", "timestamptz"),
}
_IP_COLUMN = {"logins": 3, "transactions": 7}


def copy_statement(table: str) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(SCHEMA, table), sql.SQL(", ").join(map(sql.Identifier, columns(table)))
    )


class _Addresses:
    """inet's binary dumper wants ipaddress objects; rows carry text. Cached: few distinct."""

    def __init__(self) -> None:
        self._cache: dict[str, ipaddress.IPv4Address | ipaddress.IPv6Address] = {}

    def __call__(self, text: object) -> object:
        if text is None:
            return None
        key = str(text)
        value = self._cache.get(key)
        if value is None:
            value = self._cache[key] = ipaddress.ip_address(key)
        return value


def copy_rows(
    conn: psycopg.Connection[tuple[object, ...]],
    tables: Mapping[str, Sequence[Row]],
    progress: CopyProgress | None = None,
    *,
    commit: bool = True,
) -> CopyStats:
    """COPY every table in foreign-key order inside one transaction.

    The queued writer sends buffers from a thread, so encoding rows in Python overlaps
    with the server inserting them.
    """
    began = time.perf_counter()
    total = 0
    address = _Addresses()
    with translated("loading the bank failed"):
        with conn.cursor() as cursor:
            for table in TABLE_ORDER:
                rows = tables.get(table) or ()
                if not rows:
                    continue
                ip_column = _IP_COLUMN.get(table)
                with cursor.copy(copy_statement(table), writer=QueuedLibpqWriter(cursor)) as copy:
                    copy.set_types(list(BINARY_TYPES[table]))
                    for n, row in enumerate(rows, start=1):
                        if ip_column is None:
                            copy.write_row(row)
                        else:
                            values: list[object] = list(row)
                            values[ip_column] = address(values[ip_column])
                            copy.write_row(values)
                        if progress is not None and n % 20_000 == 0:
                            progress(table, 20_000)
                if progress is not None:
                    progress(table, len(rows) % 20_000)
                total += len(rows)
        if commit:
            conn.commit()
    return CopyStats(total, time.perf_counter() - began)

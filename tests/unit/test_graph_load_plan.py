"""Planning a bulk load (`WritePlanner.load*`): the rows that leave, in a graph holding
none of a row, what the guarded statements leave after all of the row's changes.

A row's parts are planned per change and merged in whatever order Spark's combiner
meets them, so every test also checks that the order does not matter.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from fraudgraph.cdc.changes import RowChange
from fraudgraph.graph.cypher import LOAD_DELETED, build_load_statements
from fraudgraph.graph.mapping import HISTORY_LIMIT, default_mapping
from fraudgraph.graph.pii import PiiHasher
from fraudgraph.graph.plan import WritePlanner, merge_loads
from tests.unit.test_graph_plan import ACCOUNT, CUSTOMER, KEY, LOGIN, TRANSACTION, change, ms

Planned = list[tuple[str, dict[str, Any]]]


@pytest.fixture(scope="module")
def planner() -> WritePlanner:
    return WritePlanner(default_mapping(), PiiHasher(KEY))


def loaded_in_every_order(planner: WritePlanner, changes: list[RowChange]) -> Planned:
    """The load rows of `changes`, asserting every order of merging gives the same."""
    results = []
    for order in itertools.permutations(changes):
        parts = [planner.load_version(c) for c in order]
        merged = parts[0]
        for part in parts[1:]:
            merged = merge_loads(merged, part)
        results.append(planner.load_rows(merged))
    assert all(result == results[0] for result in results[1:])
    assert planner.load(changes) == results[0]
    return results[0]


def test_an_inserted_row_loads_the_guarded_upsert_row(planner: WritePlanner) -> None:
    for table, image in (("accounts", ACCOUNT), ("transactions", TRANSACTION), ("logins", LOGIN)):
        inserted = change(table, image, lsn=7)
        [(name, row)] = loaded_in_every_order(planner, [inserted])
        assert name == f"{table}.load"
        [write] = planner.plan([inserted])
        assert row == write.rows[0]


def test_the_newest_version_wins_and_the_history_holds_every_version(
    planner: WritePlanner,
) -> None:
    first = change("customers", CUSTOMER, lsn=10)
    moved = {**CUSTOMER, "city": "Paris", "updated_at": "2026-10-02T09:00:00Z"}
    second = change("customers", moved, op="u", lsn=11, offset=1)
    replayed = change("customers", CUSTOMER, lsn=10, offset=2)  # a redelivery
    [(name, row)] = loaded_in_every_order(planner, [first, second, replayed])
    assert name == "customers.load"
    assert row["lsn"] == 11
    assert row["props"]["city"] == "Paris"
    assert row["history"] == {
        "change_times": [ms("2026-10-02T09:00:00Z"), ms("2026-10-01T10:35:00Z")]
    }


def test_a_row_deleted_last_leaves_only_its_marker(planner: WritePlanner) -> None:
    inserted = change("logins", LOGIN, lsn=5)
    erased = change("logins", LOGIN, op="d", lsn=9, offset=1)
    loaded = loaded_in_every_order(planner, [inserted, erased])
    assert loaded == [(LOAD_DELETED.name, {"key": 5, "lsn": 9, "tomb": "logins:5"})]


def test_a_row_inserted_again_keeps_the_marker_and_only_the_later_history(
    planner: WritePlanner,
) -> None:
    """The stream's delete removes the node with its history, and its marker stays."""
    before = change("customers", CUSTOMER, lsn=10)
    deleted = change("customers", CUSTOMER, op="d", lsn=12, offset=1)
    again = {**CUSTOMER, "updated_at": "2026-10-03T08:00:00Z"}
    back = change("customers", again, lsn=14, offset=2)
    loaded = loaded_in_every_order(planner, [before, deleted, back])
    assert loaded[0] == (LOAD_DELETED.name, {"key": 42, "lsn": 12, "tomb": "customers:42"})
    name, row = loaded[1]
    assert (name, row["lsn"]) == ("customers.load", 14)
    assert row["history"] == {"change_times": [ms("2026-10-03T08:00:00Z")]}


def test_the_history_keeps_the_newest_values_only(planner: WritePlanner) -> None:
    versions = [
        change(
            "customers",
            {**CUSTOMER, "updated_at": f"2026-10-{day:02d}T10:00:00Z"},
            op="u",
            lsn=day,
            offset=day,
        )
        for day in range(1, HISTORY_LIMIT + 4)
    ]
    [(_, row)] = planner.load(versions)
    expected = [ms(f"2026-10-{day:02d}T10:00:00Z") for day in range(HISTORY_LIMIT + 3, 3, -1)]
    assert row["history"]["change_times"] == expected


def test_load_statements_neither_guard_nor_search_for_old_relationships() -> None:
    """What makes them cheap, and why they need a graph without the rows."""
    for name, statement in build_load_statements(default_mapping()).items():
        cypher = statement.cypher
        assert "_Deleted" not in cypher, name
        assert "OPTIONAL MATCH" not in cypher and "DELETE" not in cypher, name
        assert "MERGE (n" not in cypher or "SET n += row.props, n._lsn = row.lsn" in cypher
    transactions = build_load_statements(default_mapping())["transactions"].cypher
    assert "CREATE (a)-[r:TRANSFERRED {txn_id: row.key}]->(b)" in transactions
    assert "CREATE (m)-[r:SENT]->(n)" in transactions

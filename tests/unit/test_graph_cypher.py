"""The Cypher built from the mapping: parameterised, label-safe, and in step with the planner."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from fraudgraph.cdc.changes import Position, RowChange
from fraudgraph.errors import ConfigError
from fraudgraph.graph.cypher import (
    DELETED_LABEL,
    TRUNCATE_MARK,
    TRUNCATED_LABEL,
    build_statements,
    schema_statements,
)
from fraudgraph.graph.mapping import (
    HISTORY_LIMIT,
    GraphMapping,
    NodeRef,
    TableMapping,
    default_mapping,
)
from fraudgraph.graph.pii import PiiHasher
from fraudgraph.graph.plan import WritePlanner

MAPPING = default_mapping()
STATEMENTS = build_statements(MAPPING)
TABLES = sorted(MAPPING.tables)
KINDS = ("upsert", "delete")
UPDATE_CLAUSES = ("SET ", "MERGE ", "DELETE ", "DETACH DELETE ", "CREATE ", "REMOVE ", "FOREACH ")


def cypher(table: str, kind: str) -> str:
    return str(getattr(STATEMENTS[table], kind).cypher)


def mapping_names(mapping: GraphMapping) -> set[str]:
    """Every label and relationship type the mapping declares."""
    names = {DELETED_LABEL, TRUNCATED_LABEL}
    for table in mapping.tables.values():
        if table.node is not None:
            names.add(table.node.label)
        for link in table.links:
            names.add(link.type)
            for end in (link.from_, link.to):
                if isinstance(end, NodeRef):
                    names.add(end.label)
    return names


def labels_and_types(text: str) -> set[str]:
    """Names after a colon in node/relationship patterns and label tests (`pii:Email`)."""
    found: set[str] = set()
    for group in re.findall(r"[\w(\[]:(\w+(?:\|\w+)*)", text):
        found.update(group.split("|"))
    return found


def sample_value(column_type: str, table: str, column: str, index: int) -> Any:
    marker = f"V{table}{column}Zq"
    return {
        "bigint": 7_000_001 + index,
        "text": marker,
        "bool": True,
        "float": 12345.678 + index,
        "decimal": Decimal("98765.43"),
        "timestamptz": datetime(2026, 10, 1, 10, 34, 56, 789012, tzinfo=UTC),
        "date": date(1990, 2, 3),
        "inet": f"10.9.8.{index + 1}",
    }[column_type]


def sample_change(name: str, table: TableMapping, *, delete: bool = False) -> RowChange:
    row = {
        column: sample_value(kind, name, column, index)
        for index, (column, kind) in enumerate(table.columns.items())
    }
    return RowChange(
        table=name,
        op="d" if delete else "c",
        key={table.key: row[table.key]},
        row=None if delete else row,
        lsn=424_242,
        committed_at_ms=0,
        position=Position("t", 0, 0),
    )


@pytest.fixture(scope="module")
def planner() -> WritePlanner:
    return WritePlanner(MAPPING, PiiHasher("unit-test-pii-key-0123456789"))


def planned_row(planner: WritePlanner, table: str, kind: str) -> dict[str, Any]:
    change = sample_change(table, MAPPING.tables[table], delete=kind == "delete")
    (write,) = planner.plan([change])
    assert write.statement == getattr(STATEMENTS[table], kind)
    (row,) = write.rows
    return row


def leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in leaves(item)]
    return [value]


ALL = [(table, kind) for table in TABLES for kind in KINDS]
IDS = [f"{table}.{kind}" for table, kind in ALL]


def test_statements_exist_for_every_mapped_table() -> None:
    assert sorted(STATEMENTS) == TABLES
    for table in TABLES:
        assert STATEMENTS[table].upsert.name == f"{table}.upsert"
        assert STATEMENTS[table].delete.name == f"{table}.delete"


@pytest.mark.parametrize(("table", "kind"), ALL, ids=IDS)
def test_statements_take_rows_as_their_only_parameter(table: str, kind: str) -> None:
    text = cypher(table, kind)
    assert text.startswith("UNWIND $rows AS row\n")
    assert re.findall(r"\$\w+", text) == ["$rows"]


@pytest.mark.parametrize(("table", "kind"), ALL, ids=IDS)
def test_statements_have_no_literal_data(table: str, kind: str) -> None:
    text = cypher(table, kind)
    for quote in ("'", '"', "`"):
        assert quote not in text
    # The only number literals: -1 for "no LSN yet", the [1] of the FOREACH that
    # creates (rather than merges) a new row's relationships, and how many values a
    # history property keeps.
    numbers = set(re.findall(r"(?<![\w.])-?\d+(?:\.\d+)?(?!\w)", text))
    assert numbers <= {"-1", "1", str(HISTORY_LIMIT)}


@pytest.mark.parametrize(("table", "kind"), ALL, ids=IDS)
def test_statements_contain_no_value_from_a_row(
    planner: WritePlanner, table: str, kind: str
) -> None:
    text = cypher(table, kind)
    values = [
        value
        for value in leaves(planned_row(planner, table, kind))
        if isinstance(value, str) or (isinstance(value, int | float) and abs(value) >= 100)
    ]
    assert values  # the check is not vacuous
    for value in values:
        assert str(value) not in text


@pytest.mark.parametrize(("table", "kind"), ALL, ids=IDS)
def test_statements_read_only_fields_the_planner_provides(
    planner: WritePlanner, table: str, kind: str
) -> None:
    # A misspelt row field is silently null in Cypher; keep the two modules in step.
    used = set(re.findall(r"\brow\.(\w+)", cypher(table, kind)))
    provided = set(planned_row(planner, table, kind))
    assert used <= provided, sorted(used - provided)
    # A delete writes its marker; upserts are checked against markers before they run.
    assert {"key", "lsn", "tomb"} <= used if kind == "delete" else {"key", "lsn"} <= used


@pytest.mark.parametrize(("table", "kind"), ALL, ids=IDS)
def test_statements_end_with_an_update_or_a_unit_subquery(table: str, kind: str) -> None:
    # A COLLECT { } expression returns its list; every CALL { } is a unit subquery.
    text = re.sub(r"COLLECT \{[^}]*\}", "[]", cypher(table, kind))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert "RETURN" not in text
    assert not lines[-1].startswith("WITH")
    assert lines[-1] == "}" or lines[-1].startswith(UPDATE_CLAUSES)
    # Each subquery body closes on an update clause (or on a nested subquery).
    for before, line in itertools.pairwise(lines):
        if line == "}":
            assert before == "}" or before.startswith(UPDATE_CLAUSES), (before, text)


@pytest.mark.parametrize(("table", "kind"), ALL, ids=IDS)
def test_statements_are_balanced(table: str, kind: str) -> None:
    text = cypher(table, kind)
    for opening, closing in ("()", "{}", "[]"):
        depth = 0
        for char in text:
            depth += (char == opening) - (char == closing)
            assert depth >= 0
        assert depth == 0


@pytest.mark.parametrize(("table", "kind"), ALL, ids=IDS)
def test_labels_and_types_come_only_from_the_mapping(table: str, kind: str) -> None:
    found = labels_and_types(cypher(table, kind))
    assert found <= mapping_names(MAPPING), sorted(found - mapping_names(MAPPING))
    spec = MAPPING.tables[table]
    expected = {DELETED_LABEL} if kind == "delete" else set()
    if spec.node is not None:
        expected.add(spec.node.label)
    # Upserts draw every link; deletes name only the keyed ones (the rest go with the node).
    expected |= {link.type for link in spec.links if kind == "upsert" or link.key}
    assert expected <= found


def test_upserts_guard_nodes_by_lsn_and_deletes_leave_a_marker() -> None:
    for table in TABLES:
        upsert, delete = cypher(table, "upsert"), cypher(table, "delete")
        # Markers are read apart (READ_GUARDS): a plan reading their few, swinging
        # statistics would be discarded and made again all day.
        assert DELETED_LABEL not in upsert
        assert f"MERGE (gone:{DELETED_LABEL} {{id: row.tomb}})" in delete
        node = MAPPING.tables[table].node
        if node is not None:
            assert f"MERGE (n:{node.label} {{{node.key}: row.key}})" in upsert
            assert "WHERE coalesce(n._lsn, -1) <= row.lsn" in upsert
            assert "WHERE coalesce(n._lsn, -1) <= row.lsn" in delete


def test_a_node_delete_erases_identity_nodes_and_stubs_nobody_else_links() -> None:
    for table in ("customers", "accounts", "devices"):
        text = cypher(table, "delete")
        assert "OPTIONAL MATCH (n)--(end) WHERE end._lsn IS NULL" in text
        assert text.endswith("WITH DISTINCT end WHERE NOT EXISTS { (end)--() }\nDELETE end")


def test_keyed_relationships_are_removed_with_their_row_and_their_stub_ends() -> None:
    logins, payments = cypher("logins", "delete"), cypher("transactions", "delete")
    assert "MATCH (a)-[r:LOGGED_IN_FROM|USED {login_id: row.key}]->(b)" in logins
    assert "MATCH (a)-[r:PAID|TRANSFERRED {txn_id: row.key}]->(b)" in payments
    for text in (logins, payments):
        assert "WITH [x IN ends WHERE x._lsn IS NULL] AS ends" in text


def test_a_reference_the_row_lets_go_of_is_removed_if_it_is_a_stub_left_alone() -> None:
    # An owned link (an account's customer) and a keyed one (a payment's merchant).
    assert "WITH old WHERE old IS NOT NULL AND old._lsn IS NULL AND NOT EXISTS" in cypher(
        "accounts", "upsert"
    )
    assert "WITH DISTINCT x WHERE NOT EXISTS { (x)--() }" in cypher("transactions", "upsert")


def merged_nodes(text: str) -> set[tuple[str, str]]:
    return set(re.findall(r"MERGE \(\w+:(\w+) \{(\w+): ", text))


EXPECTED_CONSTRAINTS = {
    ("Customer", "customer_id"),
    ("Account", "account_id"),
    ("Card", "card_id"),
    ("Device", "device_id"),
    ("Merchant", "merchant_id"),
    ("Transaction", "txn_id"),
    ("FraudReport", "report_id"),
    ("Email", "hash"),
    ("Phone", "hash"),
    ("NationalId", "hash"),
    ("Address", "hash"),
    ("ExternalAccount", "hash"),
    ("IP", "address"),
    ("_Deleted", "id"),
    ("_Truncated", "table"),
}
EXPECTED_RELATIONSHIP_INDEXES = {
    ("USED", "login_id"),
    ("LOGGED_IN_FROM", "login_id"),
    ("TRANSFERRED", "txn_id"),
    ("PAID", "txn_id"),
}


def parse_schema(statements: list[str]) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    constraints: set[tuple[str, str]] = set()
    indexes: set[tuple[str, str]] = set()
    for statement in statements:
        if match := re.fullmatch(
            r"CREATE CONSTRAINT \w+ IF NOT EXISTS FOR \(n:(\w+)\) REQUIRE n\.(\w+) IS UNIQUE",
            statement,
        ):
            constraints.add((match[1], match[2]))
        elif match := re.fullmatch(
            r"CREATE INDEX \w+ IF NOT EXISTS FOR \(\)-\[r:(\w+)\]-\(\) ON \(r\.(\w+)\)", statement
        ):
            indexes.add((match[1], match[2]))
        else:
            pytest.fail(f"unexpected schema statement: {statement}")
    return constraints, indexes


def test_schema_has_a_uniqueness_constraint_for_every_node_key() -> None:
    constraints, _ = parse_schema(schema_statements(MAPPING))
    assert constraints == EXPECTED_CONSTRAINTS


def test_schema_indexes_every_keyed_relationship_type() -> None:
    _, indexes = parse_schema(schema_statements(MAPPING))
    assert indexes == EXPECTED_RELATIONSHIP_INDEXES


def test_every_merged_node_is_backed_by_a_uniqueness_constraint() -> None:
    constraints, _ = parse_schema(schema_statements(MAPPING))
    merged = set().union(*(merged_nodes(cypher(table, kind)) for table, kind in ALL))
    assert merged <= constraints, sorted(merged - constraints)
    assert ("Email", "hash") in merged


def test_schema_statement_names_are_unique_and_idempotent() -> None:
    statements = schema_statements(MAPPING)
    names = [statement.split()[2] for statement in statements]
    assert len(names) == len(set(names))
    assert all("IF NOT EXISTS" in statement for statement in statements)


def keyed_mapping(links: list[dict[str, Any]]) -> GraphMapping:
    return GraphMapping.model_validate(
        {
            "tables": {
                "events": {
                    "key": "event_id",
                    "columns": {"event_id": "bigint", "a": "bigint", "b": "bigint"},
                    "node": {"label": "Event", "key": "event_id"},
                    "links": links,
                }
            }
        }
    )


def test_a_keyed_link_touching_self_is_a_config_error() -> None:
    mapping = keyed_mapping(
        [{"type": "X", "key": "event_id", "from": "self", "to": {"label": "A", "column": "a"}}]
    )
    with pytest.raises(ConfigError, match="keyed link X must join two referenced nodes"):
        build_statements(mapping)


def test_a_link_keyed_by_a_column_other_than_the_table_key_is_rejected() -> None:
    a = {"label": "A", "key": "id", "column": "a"}
    b = {"label": "B", "key": "id", "column": "b"}
    with pytest.raises(ValidationError, match="not by the table key event_id"):
        keyed_mapping(
            [
                {"type": "X", "key": "event_id", "from": a, "to": b},
                {"type": "Y", "key": "a", "from": a, "to": b},
            ]
        )


def test_a_link_keyed_by_another_column_is_keyed_by_that_column() -> None:
    document = {
        "tables": {
            "logins": {
                "key": "login_id",
                "columns": {"login_id": "bigint", "session_id": "bigint", "a": "bigint"},
                "links": [
                    {
                        "type": "IN_SESSION",
                        "key": "session_id",
                        "from": {"label": "A", "key": "id", "column": "a"},
                        "to": {"label": "A", "key": "id", "column": "a"},
                    }
                ],
            }
        }
    }
    try:
        # Rejecting the mapping would be a fix too.
        mapping = GraphMapping.model_validate(document)
        planner = WritePlanner(mapping, PiiHasher("unit-test-pii-key-0123456789"))
    except (ConfigError, ValueError):
        return
    change = RowChange(
        table="logins",
        op="c",
        key={"login_id": 1},
        row={"login_id": 1, "session_id": 5_550_555, "a": 2},
        lsn=1,
        committed_at_ms=0,
        position=Position("t", 0, 0),
    )
    (write,) = planner.plan([change])
    assert 5_550_555 in leaves(write.rows[0])


# --- truncates ------------------------------------------------------------------------------


def truncate_texts(table: str) -> list[str]:
    statements = STATEMENTS[table].truncate
    return [
        s.cypher
        for s in (statements.mark, statements.relationships, statements.nodes, statements.markers)
        if s is not None
    ]


@pytest.mark.parametrize("table", TABLES)
def test_truncate_statements_are_parameterised_and_bounded(table: str) -> None:
    for text in truncate_texts(table):
        assert set(re.findall(r"\$\w+", text)) <= {"$table", "$lsn", "$limit"}
        for quote in ("'", '"', "`"):
            assert quote not in text.replace("+ ':'", "")  # the "<table>:" id prefix
        assert labels_and_types(text) <= mapping_names(MAPPING)
        if text is not TRUNCATE_MARK.cypher:
            # Every removal is a bounded batch that reports how much it found, so the
            # writer loops transaction by transaction until nothing is left.
            assert "LIMIT $limit" in text
            assert text.rstrip().endswith("AS found")
            assert "<= $lsn" in text  # the fence: nothing newer than the truncate


def test_the_fence_never_moves_back() -> None:
    assert f"MERGE (cut:{TRUNCATED_LABEL} {{table: $table}})" in TRUNCATE_MARK.cypher
    assert "CASE WHEN coalesce(cut.lsn, -1) < $lsn THEN $lsn ELSE cut.lsn END" in (
        TRUNCATE_MARK.cypher
    )


def test_a_truncate_removes_what_its_rows_own_and_nothing_they_only_reference() -> None:
    customers = STATEMENTS["customers"].truncate
    assert customers.relationships is None  # customers own no keyed relationship
    assert customers.nodes is not None
    nodes = customers.nodes.cypher
    assert "MATCH (n:Customer) WHERE n._lsn <= $lsn" in nodes  # stubs (no _lsn) stay
    assert "(n)-[r:HAS_ADDRESS|HAS_EMAIL|HAS_NATIONAL_ID|HAS_PHONE]->(end)" in nodes
    # A customer other tables' rows still link to is left as a stub: key only.
    assert "SET n = {customer_id: n.customer_id}" in nodes
    accounts = STATEMENTS["accounts"].truncate.nodes
    assert accounts is not None and "(end)-[r:OWNS]->(n)" in accounts.cypher
    logins = STATEMENTS["logins"].truncate
    assert logins.nodes is None and logins.relationships is not None
    assert "MATCH (a)-[r:LOGGED_IN_FROM|USED]->(b) WHERE r._lsn <= $lsn" in (
        logins.relationships.cypher
    )
    transactions = STATEMENTS["transactions"].truncate
    assert transactions.relationships is not None and transactions.nodes is not None
    assert "[r:PAID|TRANSFERRED]" in transactions.relationships.cypher
    # Neither removes a referenced entity of another table with an LSN of its own.
    for statement in (transactions.relationships, transactions.nodes):
        assert "x._lsn IS NULL" in statement.cypher

"""What a run left behind: source rows, graph keys, canonical graph lines."""

from __future__ import annotations

from collections import Counter

import neo4j
import psycopg

from fraudgraph.graph.admin import canonical_lines

# Source table -> (its key column, the Cypher that lists the keys the graph holds for it).
# Nodes count only once written from their own row (_lsn set), not as a stub that a
# reference created; a login is its LOGGED_IN_FROM relationship.
KEYED_TABLES = {
    "customers": (
        "customer_id",
        "MATCH (n:Customer) WHERE n._lsn IS NOT NULL RETURN n.customer_id AS k",
    ),
    "accounts": (
        "account_id",
        "MATCH (n:Account) WHERE n._lsn IS NOT NULL RETURN n.account_id AS k",
    ),
    "cards": ("card_id", "MATCH (n:Card) WHERE n._lsn IS NOT NULL RETURN n.card_id AS k"),
    "devices": ("device_id", "MATCH (n:Device) WHERE n._lsn IS NOT NULL RETURN n.device_id AS k"),
    "merchants": (
        "merchant_id",
        "MATCH (n:Merchant) WHERE n._lsn IS NOT NULL RETURN n.merchant_id AS k",
    ),
    "transactions": (
        "txn_id",
        "MATCH (n:Transaction) WHERE n._lsn IS NOT NULL RETURN n.txn_id AS k",
    ),
    "fraud_reports": (
        "report_id",
        "MATCH (n:FraudReport) WHERE n._lsn IS NOT NULL RETURN n.report_id AS k",
    ),
    "logins": ("login_id", "MATCH ()-[r:LOGGED_IN_FROM]->() RETURN r.login_id AS k"),
}

Keys = dict[str, set[int]]


def source_keys(dsn: str) -> Keys:
    with psycopg.connect(dsn) as connection:
        return {
            table: {
                int(row[0])
                for row in connection.execute(
                    f"SELECT {column} FROM bank.{table}"  # noqa: S608 - fixed names above
                )
            }
            for table, (column, _) in KEYED_TABLES.items()
        }


def graph_keys(driver: neo4j.Driver) -> Keys:
    keys: Keys = {}
    for table, (_, cypher) in KEYED_TABLES.items():
        records, _, _ = driver.execute_query(cypher)
        keys[table] = {int(record["k"]) for record in records if record["k"] is not None}
    return keys


def key_differences(source: Keys, graph: Keys) -> tuple[int, int]:
    """(rows missing from the graph, rows the graph still holds that the source deleted)."""
    missing = sum(len(source[t] - graph.get(t, set())) for t in source)
    stale = sum(len(graph.get(t, set()) - source[t]) for t in source)
    return missing, stale


def graph_lines(driver: neo4j.Driver) -> Counter[bytes]:
    return Counter(canonical_lines(driver))


def merchant_names(driver: neo4j.Driver, ids: list[int]) -> dict[int, str]:
    records, _, _ = driver.execute_query(
        "MATCH (m:Merchant) WHERE m.merchant_id IN $ids RETURN m.merchant_id AS id, m.name AS name",
        {"ids": ids},
    )
    return {int(record["id"]): record["name"] for record in records}

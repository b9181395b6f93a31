"""Whole-graph maintenance: emptying it in bounded transactions, and a canonical checksum."""

from __future__ import annotations

import hashlib

import neo4j
import orjson

CLEAR_RELATIONSHIPS = "MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 20000 ROWS"
CLEAR_NODES = "MATCH (n) CALL (n) { DELETE n } IN TRANSACTIONS OF 20000 ROWS"


def clear_graph(driver: neo4j.Driver, database: str = "neo4j") -> None:
    """Delete everything, relationships first so no transaction holds a hub's whole degree."""
    with driver.session(database=database) as session:
        # CALL … IN TRANSACTIONS needs an auto-commit transaction: session.run.
        session.run(CLEAR_RELATIONSHIPS).consume()
        session.run(CLEAR_NODES).consume()


def graph_is_empty(driver: neo4j.Driver, database: str = "neo4j") -> bool:
    """No node at all (a deletion marker counts: its row's history is in the graph)."""
    records, _, _ = driver.execute_query(
        "MATCH (n) RETURN count(n) > 0 AS held LIMIT 1", database_=database
    )
    return not records[0]["held"]


CANONICAL_NODES = """
MATCH (n) WHERE NOT n:_Deleted AND NOT n:_Truncated
RETURN labels(n) AS labels, properties(n) AS props
"""
CANONICAL_RELATIONSHIPS = """
MATCH (a)-[r]->(b)
RETURN type(r) AS type, labels(a) AS from_labels, properties(a) AS from_props,
       labels(b) AS to_labels, properties(b) AS to_props, properties(r) AS props
"""


def canonical_lines(driver: neo4j.Driver, database: str = "neo4j") -> list[bytes]:
    """Every node and relationship with its properties, serialised with sorted keys, sorted.

    Sorting happens here because Cypher cannot order by a map.
    """
    lines: list[bytes] = []
    with driver.session(database=database) as session:
        for query in (CANONICAL_NODES, CANONICAL_RELATIONSHIPS):
            lines += [
                orjson.dumps(record.data(), option=orjson.OPT_SORT_KEYS)
                for record in session.run(query)
            ]
    return sorted(lines)


def graph_checksum(driver: neo4j.Driver, database: str = "neo4j") -> str:
    """A digest of the canonical lines: equal exactly when two graphs hold the same data,
    whatever order the writes arrived in."""
    digest = hashlib.sha256()
    for line in canonical_lines(driver, database):
        digest.update(line + b"\n")
    return digest.hexdigest()

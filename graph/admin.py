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


CANONICAL_NODES = """
MATCH (n) WHERE NOT n:_Deleted
WITH labels(n)[0] AS label, properties(n) AS props
RETURN label, props ORDER BY label, toString(props)
"""
CANONICAL_RELATIONSHIPS = """
MATCH (a)-[r]->(b)
WITH type(r) AS type, labels(a)[0] AS from_label, properties(a) AS from_props,
     labels(b)[0] AS to_label, properties(b) AS to_props, properties(r) AS props
RETURN type, from_label, toString(from_props) AS from_key, to_label,
       toString(to_props) AS to_key, props
ORDER BY type, from_key, to_key, toString(props)
"""


def graph_checksum(driver: neo4j.Driver, database: str = "neo4j") -> str:
    """A digest of every node and relationship with its properties, in a canonical order.

    Two graphs have the same checksum exactly when they hold the same data,
    whatever order the writes arrived in.
    """
    digest = hashlib.sha256()
    with driver.session(database=database) as session:
        for query in (CANONICAL_NODES, CANONICAL_RELATIONSHIPS):
            for record in session.run(query):
                digest.update(orjson.dumps(record.data(), option=orjson.OPT_SORT_KEYS))
                digest.update(b"\n")
    return digest.hexdigest()

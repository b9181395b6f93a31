"""A simulated bank written straight into the shared Neo4j, kept apart from everyone else's.

The stack is shared with other tests and sessions, so nothing here empties the graph.
The bank is the simulator's, with every id starting at `base` (the simulator's own
start at 1), identity hashes under a key of its own (no Email or Phone node meets
another bank's) and IPs renumbered into a network of IPv6's documentation prefix
2001:db8::/32, which no simulator or other test uses (same address, same new address).
Rows go through the worker's planner and writer (the load statements: the graph holds
none of these rows) and are removed afterwards, identity and IP nodes only once nothing
else links to them.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import neo4j

from fraudgraph.detection.offline import changes_of
from fraudgraph.graph.connection import open_driver
from fraudgraph.graph.mapping import default_mapping
from fraudgraph.graph.pii import PiiHasher
from fraudgraph.graph.writer import GraphWriter
from fraudgraph.settings import Settings
from fraudgraph.simulator.generator import generate
from fraudgraph.simulator.ids import IdAllocator
from fraudgraph.simulator.options import FraudSpec, SimulationOptions, default_fraud
from fraudgraph.simulator.rows import TABLE_ORDER

ID_SPAN = 10**9  # far more rows than a test bank has, far less than the gap between banks
LOAD_CHUNK = 5000
# label -> key: the nodes a bank's rows own, found by their id range.
KEYED = {
    "Transaction": "txn_id",
    "Customer": "customer_id",
    "Account": "account_id",
    "Card": "card_id",
    "Device": "device_id",
    "Merchant": "merchant_id",
    "FraudReport": "report_id",
}
# Nodes with no row of their own: only this bank links to them (own key, own IPs).
SHARED = "n:Email OR n:Phone OR n:NationalId OR n:Address OR n:IP OR n:ExternalAccount"


@dataclass
class GraphBank:
    base: int
    tables: dict[str, list[dict[str, Any]]]
    hasher: PiiHasher
    driver: neo4j.Driver

    def ids(self, table: str, key: str) -> list[int]:
        return [int(row[key]) for row in self.tables[table]]

    def query(self, cypher: str, **params: Any) -> list[neo4j.Record]:
        records, _, _ = self.driver.execute_query(cypher, params)
        return records


def simulated_tables(
    *,
    base: int,
    seed: int,
    customers: int,
    days: int,
    ip_network: str,
    fraud: dict[str, FraudSpec] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """The simulator's bank as rows; `fraud` overrides the default cases of some typologies."""
    options = SimulationOptions(
        seed=seed, customers=customers, days=days, fraud=default_fraud(customers) | (fraud or {})
    )
    bank = generate(options, ids=IdAllocator(dict.fromkeys(TABLE_ORDER, base)))
    network = ipaddress.ip_network(ip_network)
    renumbered: dict[str, str] = {}

    def ip(value: str | None) -> str | None:
        if value is None:
            return None
        if value not in renumbered:
            renumbered[value] = str(network[len(renumbered) + 1])
        return renumbered[value]

    tables: dict[str, list[dict[str, Any]]] = {}
    for table, rows in bank.tables.items():
        tables[table] = []
        for row in rows:
            values = row._asdict()
            if "ip_address" in values:
                values["ip_address"] = ip(values["ip_address"])
            tables[table].append(values)
    return tables


def remove_bank(driver: neo4j.Driver, base: int) -> None:
    """Everything the bank in [base, base + ID_SPAN) wrote, in bounded transactions."""
    bounds = {"lo": base, "hi": base + ID_SPAN}
    records, _, _ = driver.execute_query(
        "MATCH (m) WHERE (m:Customer AND $lo <= m.customer_id < $hi)"
        " OR (m:Transaction AND $lo <= m.txn_id < $hi)"
        f" MATCH (m)--(n) WHERE {SHARED}"
        " RETURN collect(DISTINCT elementId(n)) AS ids",
        bounds,
    )
    with driver.session() as session:
        # CALL … IN TRANSACTIONS needs an auto-commit transaction: session.run.
        for label, key in KEYED.items():
            session.run(
                f"MATCH (n:{label}) WHERE $lo <= n.{key} < $hi"
                " CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 5000 ROWS",
                bounds,
            ).consume()
        session.run(
            "UNWIND $ids AS id MATCH (n) WHERE elementId(n) = id AND NOT EXISTS { (n)--() }"
            " CALL (n) { DELETE n } IN TRANSACTIONS OF 5000 ROWS",
            ids=records[0]["ids"],
        ).consume()


@contextmanager
def loaded_bank(
    settings: Settings,
    *,
    base: int,
    seed: int,
    customers: int,
    days: int,
    ip_network: str,
    fraud: dict[str, FraudSpec] | None = None,
) -> Iterator[GraphBank]:
    tables = simulated_tables(
        base=base, seed=seed, customers=customers, days=days, ip_network=ip_network, fraud=fraud
    )
    hasher = PiiHasher(f"fraudgraph-tests-{uuid.uuid4().hex}")
    with open_driver(settings) as driver:
        remove_bank(driver, base)  # what a run that crashed left behind
        writer = GraphWriter(driver, default_mapping(), hasher)
        writer.setup()
        planned = [
            row
            for change in changes_of(tables, "snapshot")
            for row in writer.planner.load([change])
        ]
        try:
            for start in range(0, len(planned), LOAD_CHUNK):
                writer.load(planned[start : start + LOAD_CHUNK])
            bank = GraphBank(base, tables, hasher, driver)
            loaded = bank.query(
                "MATCH (c:Customer) WHERE $lo <= c.customer_id < $hi RETURN count(c) AS n",
                lo=base,
                hi=base + ID_SPAN,
            )
            assert loaded[0]["n"] == len(tables["customers"]), "the bank is not all in the graph"
            yield bank
        finally:
            remove_bank(driver, base)

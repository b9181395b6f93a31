"""Spark's results back where people look: rings and features in Neo4j, rings as
alerts on the alerts topic (the contract format, the same ids `analyze clusters`
gives the same ring)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import neo4j
from pyspark.sql import DataFrame

from fraudgraph.alerts.model import Finding, alert_errors, to_alert
from fraudgraph.detection.clusters import Ring, ring_findings, ring_rows
from fraudgraph.errors import ConfigError
from fraudgraph.settings import Settings
from fraudgraph.spark.features import FEATURE_COLUMNS, Window
from fraudgraph.spark.neo4j_target import GraphTarget

# Fixed text; every value is a parameter.
WRITE_RINGS = """
UNWIND $rings AS ring
MERGE (r:Ring {ring_id: ring.ring_id})
SET r += ring.props, r.source = 'spark', r.analysed_at = $now
WITH r, ring
CALL (r) { MATCH (r)<-[old:IN_RING]-() DELETE old }
WITH r, ring
UNWIND ring.members AS member
MATCH (c:Customer {customer_id: member})
MERGE (c)-[:IN_RING]->(r)
"""
DROP_STALE_RINGS = """
MATCH (r:Ring {source: 'spark'}) WHERE r.analysed_at < $now DETACH DELETE r
"""
WRITE_FEATURES = """
UNWIND $rows AS row
MATCH (a:Account {account_id: row.account_id})
MERGE (a)-[:HAS_FEATURES]->(f:AccountFeatures {account_id: row.account_id})
SET f += row.features
"""


def ring_id(ring: Ring) -> str:
    """As the ring's alert anchor: stable until the ring grows into another size tier."""
    return f"community:{ring.members[0]}:tier{ring.tier}"


def write_rings(driver: neo4j.Driver, rings: Sequence[Ring], now_ms: int) -> None:
    rows = []
    for ring, row in zip(rings, ring_rows(rings), strict=True):
        members = row.pop("members")
        row["reported"] = list(row["reported"])
        rows.append({"ring_id": ring_id(ring), "members": members, "props": row})
    with driver.session() as session:
        session.execute_write(lambda tx: tx.run(WRITE_RINGS, rings=rows, now=now_ms).consume())
        session.execute_write(lambda tx: tx.run(DROP_STALE_RINGS, now=now_ms).consume())


def _feature_writer(target: GraphTarget, window: Window) -> Any:
    def write(rows: Iterable[Any]) -> None:
        batch: list[dict[str, Any]] = []
        with target.driver() as driver:
            for row in rows:
                values = {
                    name: None
                    if value is None or (isinstance(value, float) and math.isnan(value))
                    else value
                    for name, value in ((n, row[n]) for n in FEATURE_COLUMNS)
                }
                values |= {"since": window.since, "until": window.until}
                batch.append({"account_id": row["account_id"], "features": values})
                if len(batch) == 5000:
                    driver.execute_query(WRITE_FEATURES, rows=batch, database_=target.database)
                    batch = []
            if batch:
                driver.execute_query(WRITE_FEATURES, rows=batch, database_=target.database)

    return write


def write_features(features: DataFrame, target: GraphTarget, window: Window) -> None:
    """Partitioned, batched UNWIND writes from the executors."""
    features.foreachPartition(_feature_writer(target, window))


def ring_alerts(
    rings: Sequence[Ring], accounts_of: Mapping[int, Sequence[int]], now_ms: int, min_score: float
) -> list[dict[str, Any]]:
    findings: list[Finding] = ring_findings(rings, accounts_of, min_score=min_score)
    alerts = [to_alert(finding, now_ms) for finding in findings]
    for alert in alerts:
        if errors := alert_errors(alert):
            raise ConfigError(f"ring alert breaks the contract: {errors[0]}")
    return alerts


def publish_alerts(settings: Settings, alerts: Sequence[Mapping[str, Any]]) -> None:
    from fraudgraph.alerts.producer import produce_alerts  # noqa: PLC0415 - Kafka client only when asked

    produce_alerts(settings, alerts)

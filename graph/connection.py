"""The Neo4j driver and graph writer, built the same way by every tool from the settings."""

from __future__ import annotations

import neo4j

from fraudgraph.graph.mapping import GraphMapping, default_mapping
from fraudgraph.graph.pii import PiiHasher
from fraudgraph.graph.writer import GraphWriter
from fraudgraph.settings import Settings


def open_driver(settings: Settings) -> neo4j.Driver:
    return neo4j.GraphDatabase.driver(
        settings.neo4j_uri,
        auth=(settings.neo4j_user, settings.neo4j_password.get_secret_value()),
        # Schema notices ("constraint already exists") are not news on every start.
        notifications_min_severity="OFF",
    )


def graph_writer(
    settings: Settings, driver: neo4j.Driver, mapping: GraphMapping | None = None
) -> GraphWriter:
    return GraphWriter(
        driver, mapping or default_mapping(), PiiHasher(settings.pii_key.get_secret_value())
    )

"""What an executor needs to write to Neo4j, shipped with its task (no Settings object)."""

from __future__ import annotations

from dataclasses import dataclass

import neo4j

from fraudgraph.settings import Settings


@dataclass(frozen=True)
class GraphTarget:
    uri: str
    user: str
    password: str
    pii_key: str
    database: str = "neo4j"

    @classmethod
    def from_settings(cls, settings: Settings) -> GraphTarget:
        return cls(
            settings.neo4j_uri,
            settings.neo4j_user,
            settings.neo4j_password.get_secret_value(),
            settings.pii_key.get_secret_value(),
        )

    def __repr__(self) -> str:  # secrets never reach a log line or the Spark UI
        return f"GraphTarget({self.uri}, user={self.user})"

    def driver(self) -> neo4j.Driver:
        return neo4j.GraphDatabase.driver(
            self.uri, auth=(self.user, self.password), notifications_min_severity="OFF"
        )

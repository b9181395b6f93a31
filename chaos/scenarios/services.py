"""A stack service stopped under load for a while, then started: Neo4j, Kafka, Connect,
PostgreSQL. The stack manager stops and starts the single service."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fraudgraph.chaos.scenarios.base import Scenario

if TYPE_CHECKING:
    from fraudgraph.chaos.harness import ChaosRun


class ServiceDown(Scenario):
    service: str
    how: str

    def describe(self, outage_s: float) -> str:
        return f"{self.service} {self.how} {outage_s:g}s, then started"

    def inject(self, run: ChaosRun, outage_s: float) -> None:
        run.stop_service(self.service)
        run.pause(outage_s)
        run.start_service(self.service)
        run.cleared()


class Neo4jDown(ServiceDown):
    name = "neo4j-down"
    service = "neo4j"
    how = "stopped for"
    default_outage_s = 60.0


class BrokerRestart(ServiceDown):
    name = "broker-restart"
    service = "kafka"
    how = "(the broker) stopped for"
    default_outage_s = 10.0


class PostgresRestart(ServiceDown):
    name = "postgres-restart"
    service = "postgres"
    how = "stopped (fast shutdown; replication slot kept) for"
    default_outage_s = 10.0


class ConnectRestart(Scenario):
    """Connect restarted mid-stream, then the connector's task restarted while it runs."""

    name = "connect-restart"
    default_outage_s = 10.0

    def describe(self, outage_s: float) -> str:
        return (
            f"Kafka Connect stopped {outage_s:g}s and started; then its task restarted mid-stream"
        )

    def min_load_s(self, outage_s: float) -> float:
        return outage_s + 70.0

    def inject(self, run: ChaosRun, outage_s: float) -> None:
        run.stop_service("connect")
        run.pause(outage_s)
        run.start_service("connect")
        run._wait(run.connector_running, "connector task running again", 180)
        run.note("connector task RUNNING again")
        run.pause(10)
        run.restart_connector_task()
        run._wait(run.connector_running, "connector task running after its restart", 180)
        run.cleared()

"""Kafka Connect 4.1 (distributed worker) with the Debezium PostgreSQL connector.

Two Java agents ride along (both from Maven Central, see assets/kafka/pom.xml):
- OpenTelemetry: Debezium's ActivateTracingSpan transform (connectors/) starts each
  change's trace at its commit (`db-log-write`, then `debezium-read`) and puts the
  `traceparent` on the Kafka record. Without an agent its tracer is a no-op. Only
  the agent's OpenTelemetry-API bridge is on (no auto-instrumentation: the Kafka
  producer's would replace that header with a trace of its own). Spans go as OTLP
  JSON lines to `<state_dir>/traces/connect.otlp.jsonl` (read by `fraudgraph
  trace`), or to OTEL_EXPORTER_OTLP_ENDPOINT when set; FRAUDGRAPH_TRACING=off
  leaves the agent out.
- the Prometheus JMX exporter: Connect's and Debezium's MBeans on
  127.0.0.1:<connect_metrics_port>/metrics.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import httpx

from fraudgraph.stack.java import heap_flags, java_binary
from fraudgraph.stack.service import Service
from fraudgraph.stack.services.kafka import KAFKA_ASSETS, KafkaRuntime
from fraudgraph.stack.templates import render

DEBEZIUM_POSTGRES = "io.debezium.connector.postgresql.PostgresConnector"


class ConnectService(Service):
    name = "connect"

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.config.connect_port, self.config.connect_metrics_port)

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.config.connect_port}"

    @property
    def runtime(self) -> KafkaRuntime:
        return KafkaRuntime(self.config.downloads_dir)

    def install(self) -> None:
        java_binary()
        self.runtime.ensure()

    def launch(self) -> None:
        properties = render(
            KAFKA_ASSETS / "worker.properties",
            self.home / "worker.properties",
            {
                "STATE_DIR": str(self.runtime.root),
                "KAFKA_PORT": str(self.config.kafka_port),
                "CONNECT_PORT": str(self.config.connect_port),
            },
        )
        # What connector files reference as ${env:...}: resolved inside the worker.
        environment = {
            **os.environ,
            "FRAUDGRAPH_CDC_PG_HOST": self.config.host,
            "FRAUDGRAPH_CDC_PG_PORT": str(self.config.pg_port),
            "FRAUDGRAPH_CDC_PASSWORD": self.secrets.pg_cdc_password,
            "FRAUDGRAPH_CDC_PARTITIONS": str(self.config.kafka_partitions),
        }
        self.process.start(
            [
                java_binary(),
                *heap_flags(self.config.connect_heap),
                *self.runtime.log4j_flags(
                    self.config.logs_dir, "connect-worker", "log4j2-connect.xml"
                ),
                *self.agent_flags(os.environ),
                "-cp",
                self.runtime.classpath,
                "org.apache.kafka.connect.cli.ConnectDistributed",
                str(properties),
            ],
            env=environment,
        )

    def agent_flags(self, environ: Mapping[str, str]) -> list[str]:
        agents = self.runtime.root / "agents"
        listen = f"{self.config.host}:{self.config.connect_metrics_port}"
        jmx_config = KAFKA_ASSETS / "jmx-exporter.yaml"
        flags = [f"-javaagent:{agents / 'jmx_prometheus_javaagent.jar'}={listen}:{jmx_config}"]
        if environ.get("FRAUDGRAPH_TRACING", "auto") == "off":
            return flags
        otlp = bool(environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))
        traces = self.config.state_dir / "traces"
        traces.mkdir(parents=True, exist_ok=True)
        return [
            *flags,
            f"-javaagent:{agents / 'opentelemetry-javaagent.jar'}",
            "-Dotel.service.name=kafka-connect",
            f"-Dotel.traces.exporter={'otlp' if otlp else 'logging-otlp'}",
            "-Dotel.metrics.exporter=none",
            "-Dotel.logs.exporter=none",
            "-Dotel.instrumentation.common.default-enabled=false",
            "-Dotel.instrumentation.opentelemetry-api.enabled=true",
            # The agent logs through log4j2, whose config routes the exporter's lines.
            "-Dotel.javaagent.logging=application",
            "-Dotel.bsp.schedule.delay=500",
            f"-Dfraudgraph.traces.file={traces / 'connect.otlp.jsonl'}",
        ]

    def is_healthy(self) -> bool:
        response = httpx.get(f"{self.url}/connector-plugins", timeout=3)
        response.raise_for_status()
        return any(plugin.get("class") == DEBEZIUM_POSTGRES for plugin in response.json())

    def detail(self) -> str:
        return f"REST {self.url}, JMX metrics :{self.config.connect_metrics_port}"

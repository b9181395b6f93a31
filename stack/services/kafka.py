"""Kafka 4.1 in KRaft mode (one combined broker and controller) and its shared jars.

Kafka and Kafka Connect run from the same downloaded classpath; the Debezium
PostgreSQL plugin (with the OpenTelemetry API its tracing transform needs) is
unpacked into Connect's plugin path by the same Maven run.
"""

from __future__ import annotations

from pathlib import Path

from confluent_kafka.admin import AdminClient

from fraudgraph.stack.install import maven_fetch, run_checked
from fraudgraph.stack.java import heap_flags, java_binary
from fraudgraph.stack.ports import port_is_open
from fraudgraph.stack.service import Service
from fraudgraph.stack.templates import ASSETS_DIR, render

KAFKA_ASSETS = ASSETS_DIR / "kafka"


class KafkaRuntime:
    """The downloaded jars: libs/ (broker, Connect, tools, log4j) and plugins/ (Debezium)."""

    def __init__(self, downloads_dir: Path) -> None:
        self.root = downloads_dir / "kafka"

    @property
    def classpath(self) -> str:
        return str(self.root / "libs" / "*")

    @property
    def plugins_dir(self) -> Path:
        return self.root / "plugins"

    def ensure(self) -> None:
        maven_fetch(
            KAFKA_ASSETS / "pom.xml",
            [f"-Dstate.dir={self.root}", "generate-resources"],
            marker=self.root / ".fetched",
            replace=[self.plugins_dir / "debezium-connector-postgres", self.root / ".mvn-markers"],
        )

    def log4j_flags(self, logs_dir: Path, log_name: str, config: str = "log4j2.xml") -> list[str]:
        return [
            f"-Dlog4j2.configurationFile={KAFKA_ASSETS / config}",
            f"-Dkafka.logs.dir={logs_dir}",
            f"-Dkafka.log.name={log_name}",
        ]


class KafkaService(Service):
    name = "kafka"

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.config.kafka_port, self.config.kafka_controller_port)

    @property
    def runtime(self) -> KafkaRuntime:
        return KafkaRuntime(self.config.downloads_dir)

    @property
    def bootstrap(self) -> str:
        return f"{self.config.host}:{self.config.kafka_port}"

    def install(self) -> None:
        java_binary()
        self.runtime.ensure()

    def launch(self) -> None:
        java = java_binary()
        properties = render(
            KAFKA_ASSETS / "server.properties",
            self.home / "server.properties",
            {
                "STATE_DIR": str(self.home),
                "KAFKA_PORT": str(self.config.kafka_port),
                "CONTROLLER_PORT": str(self.config.kafka_controller_port),
            },
        )
        if not (self.home / "kafka-data" / "meta.properties").exists():
            self._format_storage(java, properties)
        self.process.start(
            [
                java,
                *heap_flags(self.config.kafka_heap),
                *self.runtime.log4j_flags(self.config.logs_dir, "kafka-server"),
                "-cp",
                self.runtime.classpath,
                "kafka.Kafka",
                str(properties),
            ]
        )

    def _format_storage(self, java: str, properties: Path) -> None:
        tool = [
            java,
            "-Xmx256m",
            *self.runtime.log4j_flags(self.config.logs_dir, "kafka-tools", "log4j2-tools.xml"),
            "-cp",
            self.runtime.classpath,
            "kafka.tools.StorageTool",
        ]
        cluster_id = run_checked([*tool, "random-uuid"], what="kafka storage id").strip()
        run_checked(
            [*tool, "format", "--standalone", "-t", cluster_id, "-c", str(properties)],
            what="kafka storage format",
        )

    def is_healthy(self) -> bool:
        # A closed port would make librdkafka log a refusal every few milliseconds.
        if not port_is_open(self.config.kafka_port, self.config.host):
            return False
        admin = AdminClient(
            {"bootstrap.servers": self.bootstrap, "socket.timeout.ms": 3000, "log_level": 0}
        )
        metadata = admin.list_topics(timeout=3)
        return bool(metadata.brokers)

    def detail(self) -> str:
        return f"bootstrap {self.bootstrap}"

"""Kafka Connect 4.1 (distributed worker) with the Debezium PostgreSQL connector."""

from __future__ import annotations

import os

import httpx

from stack.java import heap_flags, java_binary
from stack.service import Service
from stack.services.kafka import KAFKA_ASSETS, KafkaRuntime
from stack.templates import render

DEBEZIUM_POSTGRES = "io.debezium.connector.postgresql.PostgresConnector"


class ConnectService(Service):
    name = "connect"

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.config.connect_port,)

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
                *self.runtime.log4j_flags(self.config.logs_dir, "connect-worker"),
                "-cp",
                self.runtime.classpath,
                "org.apache.kafka.connect.cli.ConnectDistributed",
                str(properties),
            ],
            env=environment,
        )

    def is_healthy(self) -> bool:
        response = httpx.get(f"{self.url}/connector-plugins", timeout=3)
        response.raise_for_status()
        return any(plugin.get("class") == DEBEZIUM_POSTGRES for plugin in response.json())

    def detail(self) -> str:
        return f"REST {self.url}"

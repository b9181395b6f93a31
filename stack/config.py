"""Ports, heaps and folders of the native stack, from FRAUDGRAPH_STACK_* variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from fraudgraph.paths import DEFAULT_STATE_DIR

Port = int


class StackConfig(BaseSettings):
    """Everything the launcher needs to place and size the services."""

    model_config = SettingsConfigDict(env_prefix="FRAUDGRAPH_STACK_", frozen=True, extra="ignore")

    # The state folder is shared with the client settings (FRAUDGRAPH_STATE_DIR).
    state_dir: Path = Field(default=DEFAULT_STATE_DIR, validation_alias="FRAUDGRAPH_STATE_DIR")
    host: str = "127.0.0.1"
    pg_port: Port = Field(default=5432, ge=1, le=65535)
    kafka_port: Port = Field(default=9092, ge=1, le=65535)
    kafka_controller_port: Port = Field(default=9093, ge=1, le=65535)
    connect_port: Port = Field(default=8083, ge=1, le=65535)
    # Connect's JMX exporter (Connect and Debezium MBeans as Prometheus metrics).
    connect_metrics_port: Port = Field(default=9404, ge=1, le=65535)
    neo4j_bolt_port: Port = Field(default=7687, ge=1, le=65535)
    neo4j_http_port: Port = Field(default=7474, ge=1, le=65535)
    prometheus_port: Port = Field(default=9090, ge=1, le=65535)
    # Not Alertmanager's usual 9093: that is Kafka's controller port here.
    alertmanager_port: Port = Field(default=9094, ge=1, le=65535)
    # What Prometheus scrapes (comma-separated host:port; the workers' FRAUDGRAPH_METRICS_PORT
    # and FRAUDGRAPH_WEBHOOKS_METRICS_PORT) and where Alertmanager posts its notifications.
    worker_metrics: str = "127.0.0.1:9108"
    webhooks_metrics: str = "127.0.0.1:9109"
    alertmanager_webhook_url: str = "http://127.0.0.1:9110/alertmanager"
    # The stack's own processes: the receiver of Alertmanager's notifications (on the
    # URL's port when the URL names the stack's host) and the pipeline exporter (lag
    # from outside the worker, Connect status).
    alert_receiver_port: Port = Field(default=9110, ge=1, le=65535)
    exporter_port: Port = Field(default=9111, ge=1, le=65535)
    kafka_heap: str = "512m"
    connect_heap: str = "512m"
    neo4j_heap: str = "1g"
    neo4j_pagecache: str = "256m"
    kafka_partitions: int = Field(default=3, ge=1)
    topic_prefix: str = Field(default="bank", pattern=r"^[A-Za-z0-9._-]+$")
    start_timeout_s: float = 180.0

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def downloads_dir(self) -> Path:
        return self.state_dir / "downloads"

    def service_dir(self, name: str) -> Path:
        return self.state_dir / name

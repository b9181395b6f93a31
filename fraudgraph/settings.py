"""One typed settings object, read once from the environment.

`fraudgraph stack env` prints `export` lines for exactly these variables, so
`eval "$(fraudgraph stack env)"` points every tool at the running stack.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from fraudgraph.paths import DEFAULT_STATE_DIR


class Settings(BaseSettings):
    """Client-side settings shared by the CLI, the worker and the tests."""

    model_config = SettingsConfigDict(env_prefix="FRAUDGRAPH_", frozen=True, extra="ignore")

    state_dir: Path = DEFAULT_STATE_DIR
    pg_dsn: SecretStr = SecretStr("postgresql://fraudgraph@127.0.0.1:5432/bank")
    kafka_bootstrap: str = "127.0.0.1:9092"
    connect_url: str = "http://127.0.0.1:8083"
    neo4j_uri: str = "bolt://127.0.0.1:7687"
    neo4j_user: str = "neo4j"
    neo4j_password: SecretStr = SecretStr("")
    # Key of the HMAC that replaces PII (national id, email, phone, address, card
    # token) before it reaches the graph, logs or alerts.
    pii_key: SecretStr = SecretStr("")
    topic_prefix: str = Field(default="bank", pattern=r"^[A-Za-z0-9._-]+$")
    alerts_topic: str = "fraud.alerts"
    deadletter_topic: str = "fraudgraph.deadletter"
    source_schema: str = Field(default="bank", pattern=r"^[A-Za-z0-9_]+$")
    # Partitions of the CDC topics: the variable connectors/*.json reference as
    # ${env:FRAUDGRAPH_CDC_PARTITIONS}, which Connect's worker resolves in its own
    # environment; `connectors apply` resolves it here to create the topics first.
    cdc_partitions: int = Field(default=3, ge=1)
    # The graph writer's consumer group; every worker in it shares the CDC partitions.
    worker_group: str = "fraudgraph-graph"
    worker_batch_size: int = Field(default=5000, ge=1, le=100_000)
    # How long the worker waits for more events once it is free, when fewer than a batch
    # are queued. Faust's take waits this long after every batch, even with events
    # already queued behind it: at 500 tx/s, 0.05 s gave a commit-to-alert p99 of
    # 372-511 ms against 289-337 ms for 0.01 s (same sitting, two runs each). A backlog
    # fills whole batches and never waits.
    worker_batch_seconds: float = Field(default=0.01, gt=0, le=60)
    # Judge an append-only batch while it is written to Neo4j (stream/processor.py,
    # step 3); off: write, then judge, one after the other (to compare the two).
    worker_overlap: bool = True
    # Detection: which detectors run, their thresholds and shadow flags (YAML);
    # None means the packaged detection/detectors.yaml.
    detectors_file: Path | None = None
    # Off: the worker only builds the graph (e.g. to measure ingest alone).
    detection_enabled: bool = True
    # Alerts of detectors in shadow mode go here, never to webhooks.
    alerts_shadow_topic: str = "fraud.alerts.shadow"
    # Louvain over the suspicious subgraph in the worker, every this many seconds (0: off).
    cluster_interval_seconds: float = Field(default=300.0, ge=0)
    # Webhook delivery: endpoints (YAML), its own consumer group, retry and give-up topics.
    webhooks_file: Path | None = None
    webhooks_group: str = "fraudgraph-webhooks"
    webhooks_retry_topic_prefix: str = "fraudgraph.webhooks.retry"
    webhooks_deadletter_topic: str = "fraudgraph.webhooks.deadletter"
    # Prometheus /metrics of the stream worker and of the webhook delivery worker
    # (0 picks a free port; loopback unless told otherwise).
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9108, ge=0, le=65535)
    webhooks_metrics_port: int = Field(default=9109, ge=0, le=65535)
    # Traces: auto (OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set, else file), file
    # (<state_dir>/traces/<service>.jsonl, read by `fraudgraph trace`), otlp, or off.
    tracing: str = Field(default="auto", pattern=r"^(auto|file|otlp|off)$")

    def as_environment(self) -> dict[str, str]:
        """FRAUDGRAPH_* variables that give a child process exactly these settings.

        Secrets are included in the clear: for a child's environment only, never logs.
        """
        values: dict[str, str] = {}
        for name, value in self:
            if value is None:
                continue  # unset: the child uses the default, not the string "None"
            raw = value.get_secret_value() if isinstance(value, SecretStr) else value
            values[f"FRAUDGRAPH_{name.upper()}"] = str(raw)
        return values

    def masked(self) -> dict[str, Any]:
        """The settings as printable data, secrets masked (pydantic shows '**********')."""
        return {name: str(value) for name, value in self}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()

"""The client settings that point any tool at this running stack."""

from __future__ import annotations

import shlex

import psycopg

from fraudgraph.stack.config import StackConfig
from fraudgraph.stack.pg_bootstrap import APP_ROLE, DATABASE
from fraudgraph.stack.secrets import StackSecrets


def client_environment(config: StackConfig, secrets: StackSecrets) -> dict[str, str]:
    """FRAUDGRAPH_* variables read by `fraudgraph.settings.Settings`."""
    host = config.host
    return {
        "FRAUDGRAPH_STATE_DIR": str(config.state_dir),
        "FRAUDGRAPH_PG_DSN": psycopg.conninfo.make_conninfo(
            f"postgresql://{host}:{config.pg_port}/{DATABASE}",
            user=APP_ROLE,
            password=secrets.pg_app_password,
        ),
        "FRAUDGRAPH_KAFKA_BOOTSTRAP": f"{host}:{config.kafka_port}",
        "FRAUDGRAPH_CONNECT_URL": f"http://{host}:{config.connect_port}",
        "FRAUDGRAPH_NEO4J_URI": f"bolt://{host}:{config.neo4j_bolt_port}",
        "FRAUDGRAPH_NEO4J_USER": "neo4j",
        "FRAUDGRAPH_NEO4J_PASSWORD": secrets.neo4j_password,
        "FRAUDGRAPH_PII_KEY": secrets.pii_hash_key,
        "FRAUDGRAPH_TOPIC_PREFIX": config.topic_prefix,
        # What the stack gives Connect for connector files' ${env:FRAUDGRAPH_CDC_PARTITIONS}.
        "FRAUDGRAPH_CDC_PARTITIONS": str(config.kafka_partitions),
        # Where this stack's Prometheus scrapes the workers: a second stack on other
        # ports must not have its workers collide with the first stack's on 9108/9109.
        "FRAUDGRAPH_METRICS_PORT": str(first_port(config.worker_metrics)),
        "FRAUDGRAPH_WEBHOOKS_METRICS_PORT": str(first_port(config.webhooks_metrics)),
    }


def first_port(targets: str) -> int:
    """The port of the first 'host:port' in a comma-separated scrape target list."""
    first = targets.split(",", maxsplit=1)[0].strip()
    return int(first.rsplit(":", 1)[1])


def export_lines(variables: dict[str, str]) -> str:
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in variables.items())

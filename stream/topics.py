"""The topics the processor reads and writes, and making sure the outputs exist."""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # NewTopic is untyped
    AdminClient,
    NewTopic,
)

from fraudgraph.errors import RetryableError
from fraudgraph.graph.mapping import GraphMapping
from fraudgraph.settings import Settings


def cdc_topics(settings: Settings, mapping: GraphMapping) -> list[str]:
    """Debezium names topics <topic.prefix>.<schema>.<table>."""
    prefix, schema = settings.topic_prefix, settings.source_schema
    return [f"{prefix}.{schema}.{table}" for table in mapping.tables]


def ensure_topics(bootstrap: str, names: Iterable[str], partitions: int = 3) -> None:
    """Create output topics that do not exist yet (brokers here do not auto-create)."""
    # log_level 4: its info lines at close would reach stderr raw, not as JSON log lines.
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 4})
    try:
        existing = set(admin.list_topics(timeout=10).topics)
    except KafkaException as error:
        raise RetryableError(f"Kafka at {bootstrap} did not answer: {error}") from error
    missing = [NewTopic(name, partitions, 1) for name in names if name not in existing]
    if not missing:
        return
    for name, future in admin.create_topics(missing).items():
        try:
            future.result(timeout=30)
        except KafkaException as error:
            if "TOPIC_ALREADY_EXISTS" not in str(error):
                raise RetryableError(f"cannot create topic {name}: {error}") from error

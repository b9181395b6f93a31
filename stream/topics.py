"""The topics the processor reads and writes, and making sure topics exist."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from confluent_kafka import KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # NewTopic is untyped
    AdminClient,
    NewTopic,
)

from fraudgraph.errors import RetryableError
from fraudgraph.graph.mapping import GraphMapping
from fraudgraph.settings import Settings


def cdc_topic(prefix: str, schema: str, table: str) -> str:
    """Debezium names topics <topic.prefix>.<schema>.<table>."""
    return f"{prefix}.{schema}.{table}"


def cdc_topics(settings: Settings, mapping: GraphMapping) -> list[str]:
    prefix, schema = settings.topic_prefix, settings.source_schema
    return [cdc_topic(prefix, schema, table) for table in mapping.tables]


def ensure_topics(
    bootstrap: str,
    names: Iterable[str],
    partitions: int = 3,
    *,
    replication_factor: int = 1,
    config: Mapping[str, str] | None = None,
) -> list[str]:
    """Create the topics that do not exist yet; returns the names this call created.

    Existing topics are left as they are (brokers here do not auto-create, and a
    topic's partitions or retention are not ours to change once it holds data).
    """
    # log_level 4: its info lines at close would reach stderr raw, not as JSON log lines.
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 4})
    try:
        existing = set(admin.list_topics(timeout=10).topics)
    except KafkaException as error:
        raise RetryableError(f"Kafka at {bootstrap} did not answer: {error}") from error
    missing = [
        NewTopic(name, partitions, replication_factor, config=dict(config or {}))
        for name in dict.fromkeys(names)
        if name not in existing
    ]
    if not missing:
        return []
    created = []
    for name, future in admin.create_topics(missing).items():
        try:
            future.result(timeout=30)
            created.append(name)
        except KafkaException as error:
            # Another worker (or Connect) may have created it since we listed: fine.
            if "TOPIC_ALREADY_EXISTS" not in str(error):
                raise RetryableError(f"cannot create topic {name}: {error}") from error
    return created

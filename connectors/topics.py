"""The topics a connector writes, created by `connectors apply` before the connector runs.

Kafka Connect creates a source connector's topic (from its
`topic.creation.default.*` settings) only when the first record for it arrives.
A table with no rows yet, or none since capture began (a bank's `fraud_reports`,
often), therefore has no topic, and a worker started then subscribes to a topic
that does not exist: Faust assigns none of its partitions until the worker's
next metadata refresh (five minutes by default; stream/app.py makes it seconds,
for tables added later). So the connector file is read
the way Connect reads it and every captured table's topic is created up front,
with the same partitions, replication and topic settings Connect would use.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from fraudgraph.connectors.definitions import ConnectorDefinition
from fraudgraph.connectors.errors import ConnectorDefinitionError
from fraudgraph.stream.topics import cdc_topic, ensure_topics

CREATION = "topic.creation.default."
# Connect needs these two to create topics at all; every other key is a topic config.
SIZING = ("partitions", "replication.factor")
# Settings that would name topics other than <topic.prefix>.<schema>.<table>,
# the names the worker subscribes to (stream/topics.py).
RENAMING = ("topic.naming.strategy", "topic.delimiter")
_ENV = re.compile(r"\$\{env:([^}:]+)\}")
# Debezium reads table.include.list as regular expressions; only plain names can be
# turned into topics without asking the database which tables match.
_TABLE = re.compile(r"^[A-Za-z0-9_]+\.[A-Za-z0-9_]+$")


@dataclass(frozen=True)
class TopicPlan:
    names: tuple[str, ...]
    partitions: int  # -1: the broker's default, as in Connect
    replication_factor: int
    config: dict[str, str]  # topic-level settings: cleanup.policy, retention.ms, ...


def topic_plan(definition: ConnectorDefinition, environ: Mapping[str, str]) -> TopicPlan:
    """The topics `definition` writes and how Connect would create them.

    `${env:NAME}` references are resolved from `environ`, which must agree with
    the Connect worker's environment (the stack's client settings do).
    """
    config = definition.config
    where = f"{definition.name} ({definition.source})"
    if config.get("topic.creation.groups", "").strip():
        raise ConnectorDefinitionError(
            f"{where}: topic.creation.groups is not supported by `connectors apply`, "
            "which creates the topics itself; declare topic.creation.default.* only"
        )
    renamed = [key for key in RENAMING if key in config]
    if renamed:
        raise ConnectorDefinitionError(
            f"{where}: {', '.join(renamed)} would rename the topics the worker reads"
        )
    creation = {
        key.removeprefix(CREATION): _resolve(where, key, value, environ)
        for key, value in config.items()
        if key.startswith(CREATION)
    }
    missing = [CREATION + key for key in SIZING if key not in creation]
    if missing:
        raise ConnectorDefinitionError(
            f"{where}: lacks {', '.join(missing)}; without them Connect creates no topic, "
            "and a table's topic would not exist before its first change"
        )
    prefix = _resolve(where, "topic.prefix", config.get("topic.prefix", ""), environ)
    if not prefix:
        raise ConnectorDefinitionError(f"{where}: topic.prefix must be set")
    tables = _tables(where, config.get("table.include.list", ""))
    return TopicPlan(
        names=tuple(cdc_topic(prefix, *table.split(".")) for table in tables),
        partitions=_count(where, "partitions", creation["partitions"]),
        replication_factor=_count(where, "replication.factor", creation["replication.factor"]),
        config={key: value for key, value in creation.items() if key not in SIZING},
    )


def create_connector_topics(
    bootstrap: str, definition: ConnectorDefinition, environ: Mapping[str, str]
) -> list[str]:
    """Create the topics of `definition` that do not exist yet; returns those created."""
    plan = topic_plan(definition, environ)
    return ensure_topics(
        bootstrap,
        plan.names,
        plan.partitions,
        replication_factor=plan.replication_factor,
        config=plan.config,
    )


def _resolve(where: str, key: str, value: str, environ: Mapping[str, str]) -> str:
    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise ConnectorDefinitionError(
                f"{where}: {key} refers to ${{env:{name}}}, which is not set here; "
                "set it to the value Connect's worker has"
            )
        return environ[name]

    resolved = _ENV.sub(lookup, value)
    if "${" in resolved:
        raise ConnectorDefinitionError(
            f"{where}: {key} uses a config provider other than env: {value}"
        )
    return resolved


def _tables(where: str, listed: str) -> list[str]:
    tables = [table.strip() for table in listed.split(",") if table.strip()]
    if not tables:
        raise ConnectorDefinitionError(
            f"{where}: table.include.list must name the captured tables (schema.table)"
        )
    patterns = [table for table in tables if not _TABLE.match(table)]
    if patterns:
        raise ConnectorDefinitionError(
            f"{where}: table.include.list holds patterns ({', '.join(patterns)}); "
            "name each table as schema.table so its topic can be created before its first change"
        )
    return tables


def _count(where: str, key: str, value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1 and count != -1:
        raise ConnectorDefinitionError(
            f"{where}: {CREATION}{key} must be a positive number or -1 (the broker's default), "
            f"not {value!r}"
        )
    return count

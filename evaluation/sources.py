"""Where alerts come from — a JSON Lines file or the alerts topic — validated
against contracts/alert.schema.json. Invalid alerts are counted and the first error
reported; they never stop the evaluation."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition
from jsonschema import Draft202012Validator, FormatChecker

from fraudgraph.evaluation.errors import EvaluationError
from fraudgraph.evaluation.scoring import parse_time
from fraudgraph.paths import ALERT_SCHEMA_JSON


@dataclass
class AlertBatch:
    alerts: list[dict[str, Any]] = field(default_factory=list)
    read: int = 0
    invalid: int = 0
    first_error: str | None = None

    def reject(self, where: str, reason: str) -> None:
        self.invalid += 1
        if self.first_error is None:
            self.first_error = f"{where}: {reason}"


def load_validator(schema_path: Path = ALERT_SCHEMA_JSON) -> Draft202012Validator:
    try:
        schema = orjson.loads(schema_path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as error:
        raise EvaluationError(f"cannot read the alert schema {schema_path}: {error}") from error
    return Draft202012Validator(schema, format_checker=FormatChecker())


def validate(
    raw: Iterable[tuple[str, bytes | None]], validator: Draft202012Validator | None = None
) -> AlertBatch:
    """(where, bytes) pairs -> valid alerts, plus the count and first reason of the rest."""
    validator = validator or load_validator()
    batch = AlertBatch()
    for where, payload in raw:
        batch.read += 1
        if payload is None:
            batch.reject(where, "empty value (tombstone)")
            continue
        try:
            alert = orjson.loads(payload)
        except orjson.JSONDecodeError as error:
            batch.reject(where, f"not JSON ({error})")
            continue
        problem = next(iter(validator.iter_errors(alert)), None)
        if problem is not None:
            path = "/".join(str(p) for p in problem.absolute_path) or "(root)"
            batch.reject(where, f"{path}: {problem.message}")
            continue
        # FormatChecker only checks date-time when rfc3339-validator is installed.
        if parse_time(alert["detected_at"]) is None:
            batch.reject(where, f"detected_at: {alert['detected_at']!r} is not a date-time")
            continue
        batch.alerts.append(alert)
    return batch


def read_file(path: Path, validator: Draft202012Validator | None = None) -> AlertBatch:
    try:
        lines = path.read_bytes().splitlines()
    except OSError as error:
        raise EvaluationError(
            f"cannot read alerts file {path}: {error.strerror or error}"
        ) from error
    return validate(
        ((f"{path.name}:{n}", line) for n, line in enumerate(lines, start=1) if line.strip()),
        validator,
    )


def _quiet_logger() -> logging.Logger:
    logger = logging.getLogger("evaluation.kafka")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    return logger


def read_topic(
    bootstrap: str, topic: str, timeout: float = 30.0, validator: Draft202012Validator | None = None
) -> AlertBatch:
    """Every record of `topic` from the beginning up to the end offsets seen at start."""

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            # A private group: no offsets shared with, or committed for, anyone else.
            "group.id": f"fraudgraph-eval-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
            "socket.timeout.ms": max(1000, int(timeout * 1000)),
        },
        logger=_quiet_logger(),
    )
    deadline = time.monotonic() + timeout
    raw: list[tuple[str, bytes | None]] = []
    try:
        try:
            metadata = consumer.list_topics(topic, timeout=timeout)
        except KafkaException as error:
            raise EvaluationError(f"cannot reach Kafka at {bootstrap}: {error.args[0]}") from error
        info = metadata.topics.get(topic)
        if info is None or info.error is not None or not info.partitions:
            raise EvaluationError(f"topic {topic!r} not found at {bootstrap}")
        remaining: dict[int, int] = {}
        for partition in sorted(info.partitions):
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=timeout
            )
            if high > low:
                remaining[partition] = high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in remaining])
        while remaining:
            if time.monotonic() > deadline:
                raise EvaluationError(
                    f"timed out after {timeout:.0f}s reading {topic!r} ({len(raw)} records read)"
                )
            message = consumer.poll(0.5)
            if message is None:
                continue
            partition = message.partition() or 0
            failure = message.error()
            if failure is not None:
                if failure.code() == KafkaError._PARTITION_EOF:
                    remaining.pop(partition, None)
                    continue
                raise EvaluationError(f"reading {topic!r} failed: {failure.str()}")
            offset = message.offset() or 0
            raw.append((f"{topic}[{partition}]@{offset}", message.value()))
            if offset + 1 >= remaining.get(partition, 0):
                remaining.pop(partition, None)
    except KafkaException as error:
        raise EvaluationError(f"reading {topic!r} failed: {error.args[0]}") from error
    finally:
        consumer.close()
    return validate(raw, validator)

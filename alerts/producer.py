"""The alerts topic: each alert keyed by its alert_id, produced idempotently.

`send` returns only when Kafka has acknowledged every alert, so the worker commits
its input offsets after the alerts are durable; a crash before that redelivers the
batch and the same alerts are produced again under the same ids, which consumers
(and the webhook worker) deduplicate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import orjson
from confluent_kafka import KafkaError, Producer

from fraudgraph.errors import RetryableError
from fraudgraph.settings import Settings


class AlertSink(Protocol):
    def send(self, alerts: Sequence[Mapping[str, Any]], shadow: bool = False) -> None:
        """Durably publish the alerts; raise RetryableError if that is not certain."""


def traceparent_of(alert: Mapping[str, Any]) -> str | None:
    """A W3C traceparent continuing the alert's trace (its own span id comes later)."""
    trace_id = alert.get("trace_id")
    span_id = alert.get("span_id")
    if isinstance(trace_id, str) and len(trace_id) == 32 and isinstance(span_id, str):
        return f"00-{trace_id}-{span_id}-01"
    return None


class KafkaAlertSink:
    def __init__(
        self, bootstrap: str, topic: str, shadow_topic: str, flush_timeout_s: float = 30.0
    ) -> None:
        self.topic = topic
        self.shadow_topic = shadow_topic
        self.flush_timeout_s = flush_timeout_s
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "enable.idempotence": True,
                "linger.ms": 5,
                "compression.type": "lz4",
            }
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaAlertSink:
        return cls(settings.kafka_bootstrap, settings.alerts_topic, settings.alerts_shadow_topic)

    def send(self, alerts: Sequence[Mapping[str, Any]], shadow: bool = False) -> None:
        if not alerts:
            return
        failures: list[KafkaError] = []

        def on_delivery(error: KafkaError | None, _: object) -> None:
            if error is not None:
                failures.append(error)

        topic = self.shadow_topic if shadow else self.topic
        for alert in alerts:
            headers: list[tuple[str, str | bytes | None]] = []
            if (parent := traceparent_of(alert)) is not None:
                headers.append(("traceparent", parent.encode()))
            self._producer.produce(
                topic,
                key=str(alert["alert_id"]).encode(),
                value=orjson.dumps(alert),
                headers=headers,
                on_delivery=on_delivery,
            )
        remaining = self._producer.flush(self.flush_timeout_s)
        if remaining or failures:
            raise RetryableError(
                f"alerts topic {topic}: {remaining} unacknowledged, "
                f"{len(failures)} failed ({failures[0] if failures else 'timeout'})"
            )


def produce_alerts(settings: Settings, alerts: Sequence[Mapping[str, Any]]) -> None:
    """Publish alerts raised outside the worker (e.g. `fraudgraph analyze clusters`)."""
    KafkaAlertSink.from_settings(settings).send(alerts)

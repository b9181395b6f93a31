"""The alerts topic: each alert keyed by its alert_id, produced idempotently.

Each alert is produced under a `send <topic>` span, child of the detect span of
the change that raised it; its `traceparent` header names that span, so the
webhook worker continues the same trace.

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
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from fraudgraph.errors import RetryableError
from fraudgraph.observability import trace_semconv as sc
from fraudgraph.observability.logs import kafka_client_logger
from fraudgraph.observability.tracing import headers_of, tracer
from fraudgraph.settings import Settings


class AlertSink(Protocol):
    def send(
        self,
        alerts: Sequence[Mapping[str, Any]],
        shadow: bool = False,
        parents: Mapping[str, Context] | None = None,
    ) -> None:
        """Durably publish the alerts; raise RetryableError if that is not certain.

        `parents` maps an alert_id to the trace context it was raised in: its
        `send` span goes under it, and the record's `traceparent` names that span.
        """


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
                "logger": kafka_client_logger(),
                # Unserved info lines (BGQUEUE at close) bypass the logger: warnings up.
                "log_level": 4,
            }
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaAlertSink:
        return cls(settings.kafka_bootstrap, settings.alerts_topic, settings.alerts_shadow_topic)

    def send(
        self,
        alerts: Sequence[Mapping[str, Any]],
        shadow: bool = False,
        parents: Mapping[str, Context] | None = None,
    ) -> None:
        if not alerts:
            return
        failures: list[KafkaError] = []

        def on_delivery(error: KafkaError | None, _: object) -> None:
            if error is not None:
                failures.append(error)

        topic = self.shadow_topic if shadow else self.topic
        spans = []
        for alert in alerts:
            alert_id = str(alert["alert_id"])
            span = _send_span(topic, alert, (parents or {}).get(alert_id))
            spans.append(span)
            self._producer.produce(
                topic,
                key=alert_id.encode(),
                value=orjson.dumps(alert),
                headers=list[tuple[str, str | bytes | None]](headers_of(span)),
                on_delivery=on_delivery,
            )
        remaining = self._producer.flush(self.flush_timeout_s)
        for span in spans:
            if remaining or failures:
                span.set_status(Status(StatusCode.ERROR, "not acknowledged"))
            span.end()
        if remaining or failures:
            raise RetryableError(
                f"alerts topic {topic}: {remaining} unacknowledged, "
                f"{len(failures)} failed ({failures[0] if failures else 'timeout'})"
            )


def _send_span(topic: str, alert: Mapping[str, Any], parent: Context | None) -> Span:
    """The producer span of one alert: ended once Kafka acknowledged (or failed) it."""
    return tracer().start_span(
        f"{sc.SEND} {topic}",
        context=parent,
        kind=SpanKind.PRODUCER,
        attributes={
            sc.MESSAGING_SYSTEM: "kafka",
            sc.MESSAGING_OPERATION_TYPE: "send",
            sc.MESSAGING_OPERATION_NAME: "send",
            sc.MESSAGING_DESTINATION: topic,
            sc.KAFKA_KEY: str(alert["alert_id"]),
            sc.ALERT_ID: str(alert["alert_id"]),
            sc.ALERT_RULE: str(alert.get("rule", "")),
            sc.ALERT_TXN_IDS: [str(txn) for txn in alert.get("txn_ids") or ()],
            sc.ALERT_SHADOW: bool(alert.get("shadow", False)),
        },
    )


def produce_alerts(settings: Settings, alerts: Sequence[Mapping[str, Any]]) -> None:
    """Publish alerts raised outside the worker (e.g. `fraudgraph analyze clusters`)."""
    KafkaAlertSink.from_settings(settings).send(alerts)

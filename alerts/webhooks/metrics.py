"""Prometheus metrics of webhook delivery (served by `fraudgraph webhooks deliver`)."""

from __future__ import annotations

from typing import Literal

from prometheus_client import Counter, Gauge, Histogram

AttemptOutcome = Literal["delivered", "retry", "gone", "gave_up", "filtered"]

ATTEMPTS = Counter(
    "fraudgraph_webhook_attempts",
    "Delivery decisions per endpoint: delivered (2xx), retry (failed, rescheduled), "
    "gone (410 or endpoint disabled), gave_up (dead-lettered), filtered (not wanted).",
    ["endpoint", "outcome"],
)
DELIVERY_SECONDS = Histogram(
    "fraudgraph_webhook_delivery_seconds",
    "Duration of one HTTP delivery attempt, whatever its outcome.",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
PENDING = Gauge(
    "fraudgraph_webhook_pending",
    "Deliveries waiting on the retry topics of partitions assigned to this worker.",
)


def count(endpoint: str, outcome: AttemptOutcome) -> None:
    ATTEMPTS.labels(endpoint=endpoint, outcome=outcome).inc()

"""Wiring of the delivery worker: HTTP client, dispatcher, Kafka loop and /metrics."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import httpx
from prometheus_client import start_http_server

from fraudgraph.alerts.webhooks.config import WebhookConfig
from fraudgraph.alerts.webhooks.disabled import DisabledEndpoints
from fraudgraph.alerts.webhooks.dispatcher import Dispatcher
from fraudgraph.alerts.webhooks.retry import RetryTopics
from fraudgraph.alerts.webhooks.sender import Sender
from fraudgraph.alerts.webhooks.worker import DeliveryWorker
from fraudgraph.observability.logs import get_logger
from fraudgraph.observability.tracing import setup_tracing
from fraudgraph.settings import Settings

log = get_logger(__name__)


def disabled_endpoints_path(settings: Settings) -> Path:
    # Per consumer group: a test or staging group never disables production endpoints.
    return settings.state_dir / "webhooks" / f"{settings.webhooks_group}.disabled.json"


def run_delivery(settings: Settings, config: WebhookConfig, stop: threading.Event) -> None:
    """Deliver until `stop` is set, then finish the batch in flight, commit and close."""
    # httpx logs every request at INFO; our own line per outcome says more, in fewer lines.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    tracing = setup_tracing("webhooks", settings.state_dir, settings.tracing)
    disabled = DisabledEndpoints(disabled_endpoints_path(settings))
    disabled.load()
    topics = RetryTopics(settings.webhooks_retry_topic_prefix, config.retry)
    limits = httpx.Limits(
        max_connections=config.concurrency, max_keepalive_connections=config.concurrency
    )
    # Redirects are not followed: a signed delivery goes only where it was configured.
    with httpx.Client(limits=limits, follow_redirects=False) as client:
        sender = Sender(client, config.signers)
        dispatcher = Dispatcher(
            config, sender, disabled, topics, settings.webhooks_deadletter_topic
        )
        worker = DeliveryWorker(settings, dispatcher, topics)
        metrics_server, _ = start_http_server(
            settings.webhooks_metrics_port, addr=settings.metrics_host
        )
        try:
            log.info(
                "metrics_listening",
                host=settings.metrics_host,
                port=metrics_server.server_address[1],
            )
            worker.start()
            log.info(
                "deliver_ready",
                endpoints=[e.name for e in config.endpoints],
                disabled=disabled.names(),
                tiers=topics.all(),
                settings=settings.masked(),
            )
            worker.run(stop)
        finally:
            worker.close()
            metrics_server.shutdown()
            tracing.shutdown()
            log.info("deliver_stopped")

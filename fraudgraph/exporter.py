"""`fraudgraph exporter`: consumer lag and Connect status on a /metrics of their own.

`fraudgraph stack up` runs one (port 9111, job `fraudgraph-exporter`); the lag it
reports does not depend on a worker being alive. See observability/README.md.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Annotated

import typer

from fraudgraph.connectors.rest import ConnectClient
from fraudgraph.errors import ConfigError
from fraudgraph.graph.mapping import default_mapping
from fraudgraph.observability.exporter import exporter_registry, serve_exporter
from fraudgraph.observability.lag import LagProbe
from fraudgraph.observability.logs import configure_logging, get_logger
from fraudgraph.settings import get_settings
from fraudgraph.stream.topics import cdc_topics

log = get_logger(__name__)

# Short: a scrape waits for these, and Prometheus gives up on a scrape after 10 s.
CONNECT_TIMEOUT_S = 3.0
KAFKA_TIMEOUT_S = 3.0


def exporter(
    port: Annotated[int, typer.Option(help="Port for /metrics (0: any free one).")] = 9111,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    group: Annotated[
        str | None, typer.Option(help="Consumer group to measure (default: the worker's).")
    ] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
) -> None:
    """Serve the worker group's consumer lag and Kafka Connect's task state until stopped."""
    configure_logging(log_level.upper())
    # httpx logs each request at INFO: one line per Connect poll is noise.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be between 0 and 65535, not {port}")
    settings = get_settings()
    measured_group = group or settings.worker_group
    topics = cdc_topics(settings, default_mapping())
    probe = LagProbe(settings.kafka_bootstrap, measured_group, topics, timeout_s=KAFKA_TIMEOUT_S)
    connect = ConnectClient(settings.connect_url, timeout=CONNECT_TIMEOUT_S)
    registry = exporter_registry(probe, connect.statuses)
    try:
        bound, stop_serving = serve_exporter(registry, host, port)
    except OSError as error:
        raise ConfigError(f"cannot serve metrics on {host}:{port} ({error.strerror})") from error
    log.info("exporter_listening", host=host, port=bound, group=measured_group, topics=len(topics))
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    stop.wait()
    stop_serving()
    log.info("exporter_stopped")

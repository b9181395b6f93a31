"""`fraudgraph worker`: run the stream processor until stopped."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

import faust
import typer
import uvloop

from fraudgraph.alerts.producer import KafkaAlertSink
from fraudgraph.detection.detector import Detector
from fraudgraph.detection.engine import DetectionEngine
from fraudgraph.detection.graph_history import GraphHistory
from fraudgraph.detection.records import RecordBuilder
from fraudgraph.detection.registry import build_detectors
from fraudgraph.detection.settings import DetectionConfig, load_detection_config
from fraudgraph.errors import ConfigError
from fraudgraph.graph.connection import graph_writer, open_driver
from fraudgraph.graph.errors import GraphUnavailableError
from fraudgraph.graph.mapping import GraphMapping, default_mapping
from fraudgraph.graph.writer import GraphWriter
from fraudgraph.observability.logs import configure_logging, get_logger, logging_config
from fraudgraph.observability.metrics import start_metrics_server
from fraudgraph.observability.tracing import setup_tracing
from fraudgraph.settings import Settings, get_settings
from fraudgraph.stream.app import build_app
from fraudgraph.stream.backoff import Backoff
from fraudgraph.stream.deadletter import KafkaDeadLetterSink
from fraudgraph.stream.garbage import settle_for_streaming
from fraudgraph.stream.processor import BatchProcessor
from fraudgraph.stream.topics import ensure_topics

log = get_logger(__name__)


def worker(
    batch_size: Annotated[
        int | None, typer.Option(min=1, max=100_000, help="Events per graph transaction.")
    ] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
) -> None:
    """Consume the CDC topics into the Neo4j graph (several workers share the partitions)."""
    configure_logging(log_level.upper())
    settings = get_settings()
    if batch_size is not None:
        settings = settings.model_copy(update={"worker_batch_size": batch_size})
    tracing = setup_tracing("worker", settings.state_dir, settings.tracing)
    app = prepare_worker(settings)
    settle_for_streaming()
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        port = start_metrics_server(settings.metrics_host, settings.metrics_port)
    except OSError as error:
        raise ConfigError(
            f"cannot serve metrics on {settings.metrics_host}:{settings.metrics_port} "
            f"({error.strerror}); another worker on this host? set FRAUDGRAPH_METRICS_PORT "
            "(0 picks a free port)"
        ) from error
    log.info("metrics_serving", host=settings.metrics_host, port=port)
    # Faust would install its own handlers; ours keeps every line JSON.
    runner = faust.Worker(
        app, loglevel="WARNING", quiet=True, logging_config=logging_config(log_level.upper())
    )
    runner.spinner = None  # a terminal spinner would put escape codes into the JSON logs
    try:
        runner.execute_from_commandline()
    finally:
        tracing.shutdown()  # what the batch processor queued reaches the file


def prepare_worker(settings: Settings) -> faust.App:
    """Connect, create constraints and output topics, and build the app (waits for Neo4j)."""
    # Detectors first: a missing or mismatched model file stops the worker before it
    # waits for or touches any service.
    detection = _detectors(settings)
    mapping = default_mapping()
    writer = graph_writer(settings, open_driver(settings), mapping)
    backoff = Backoff()
    while True:
        try:
            writer.setup()
            break
        except GraphUnavailableError as error:
            delay = backoff.next_delay()
            log.warning("neo4j_unavailable_at_start", error=str(error)[:300], retry_in_s=delay)
            time.sleep(delay)
    ensure_topics(settings.kafka_bootstrap, [settings.deadletter_topic])
    processor = BatchProcessor(
        mapping,
        writer,
        KafkaDeadLetterSink(settings.kafka_bootstrap, settings.deadletter_topic),
        **_detection(settings, mapping, writer, detection),
        group=settings.worker_group,
        overlap=settings.worker_overlap,
    )
    log.info("worker_ready", settings=settings.masked())
    return build_app(settings, mapping, processor)


def _detectors(settings: Settings) -> tuple[DetectionConfig, list[tuple[Detector, bool]]] | None:
    """The detection config and its detectors, or None when detection is off."""
    if not settings.detection_enabled:
        return None
    config = load_detection_config(settings.detectors_file)
    return config, build_detectors(config)


def _detection(
    settings: Settings,
    mapping: GraphMapping,
    writer: GraphWriter,
    detection: tuple[DetectionConfig, list[tuple[Detector, bool]]] | None,
) -> dict[str, Any]:
    """The detection engine and alert sink the processor runs after each write (or none)."""
    if detection is None:
        return {}
    config, detectors = detection
    ensure_topics(settings.kafka_bootstrap, [settings.alerts_topic, settings.alerts_shadow_topic])
    engine = DetectionEngine(
        GraphHistory(writer.driver),
        config,
        RecordBuilder(mapping, writer.planner.hasher),
        detectors,
    )
    return {"detection": engine, "alerts": KafkaAlertSink.from_settings(settings)}

"""OpenTelemetry tracing on every hop: a TracerProvider per process, W3C context in Kafka headers.

`setup_tracing(service, state_dir, mode)` is called once at start-up by each
process (the stream worker, the webhook delivery worker). Modes
(`FRAUDGRAPH_TRACING`):

- `file` (the default on the native stack): spans as JSON Lines in
  `<state_dir>/traces/<service>.jsonl`, read back by `fraudgraph trace`;
- `otlp`: OTLP/HTTP to `OTEL_EXPORTER_OTLP_ENDPOINT` (Jaeger in docker-compose);
- `auto`: `otlp` when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, else `file`;
- `off`: no provider; the API hands out non-recording spans (the no-tracing baseline).

Spans go through a BatchSpanProcessor, so exporting never runs on the hot path.
Sampling follows the standard `OTEL_TRACES_SAMPLER` variables (default: always on,
and a child follows its parent's decision): at thousands of records/s set e.g.
`OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG=0.01`.

Context travels between processes as the W3C `traceparent`/`tracestate` Kafka
headers (TraceContextTextMapPropagator with the Kafka header getter below; the
outgoing headers are formatted directly, see `mapping_of`) and as the
`traceparent` HTTP header on webhook POSTs.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Literal

import orjson
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Span, SpanContext
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from fraudgraph.observability.logs import get_logger

log = get_logger(__name__)

TracingMode = Literal["off", "file", "otlp", "auto"]
TRACING_MODES: tuple[TracingMode, ...] = ("off", "file", "otlp", "auto")
TRACER_NAME = "fraudgraph"
TRACE_HEADERS = ("traceparent", "tracestate")
# A trace file is renamed to <name>.1 past this size (one old file kept): at
# thousands of spans/s an unbounded file would fill the disk within a day.
DEFAULT_MAX_FILE_BYTES = 256 * 1024 * 1024

_PROPAGATOR = TraceContextTextMapPropagator()
KafkaHeaders = Sequence[tuple[str, bytes | str | None]]


class TracingConfigError(ValueError):
    """FRAUDGRAPH_TRACING names no known mode."""


_tracer_of: tuple[object, trace.Tracer] | None = None


def tracer() -> trace.Tracer:
    """The fraudgraph tracer of the current provider (a no-op one until setup_tracing).

    Cached per provider: the SDK builds a new Tracer on every get_tracer call, which
    cost more than the span itself on the worker's per-record path.
    """
    global _tracer_of  # noqa: PLW0603 - a cache of a process-wide object
    provider = trace.get_tracer_provider()
    cached = _tracer_of
    if cached is None or cached[0] is not provider:
        cached = _tracer_of = (provider, provider.get_tracer(TRACER_NAME))
    return cached[1]


def traces_dir(state_dir: Path) -> Path:
    return state_dir / "traces"


def resolve_mode(mode: str, environ: Mapping[str, str] = os.environ) -> TracingMode:
    """`auto` becomes `otlp` or `file`; an unknown mode is a one-line error."""
    if mode not in TRACING_MODES:
        raise TracingConfigError(
            f"FRAUDGRAPH_TRACING must be one of {', '.join(TRACING_MODES)} (got {mode!r})"
        )
    if mode == "auto":
        return "otlp" if environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") else "file"
    return mode


def sampling(environ: Mapping[str, str]) -> str:
    """The sampling a process started with `environ` applies, as OpenTelemetry reads it
    (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`): a benchmark's figures depend on it."""
    if environ.get("FRAUDGRAPH_TRACING") == "off":
        return "off"
    sampler = environ.get("OTEL_TRACES_SAMPLER", "parentbased_always_on")
    ratio = environ.get("OTEL_TRACES_SAMPLER_ARG")
    return f"{sampler} {ratio}" if ratio and sampler.endswith("traceidratio") else sampler


class Tracing:
    """The process's tracing, as installed by setup_tracing; `shutdown` flushes what is queued."""

    def __init__(self, mode: TracingMode, provider: TracerProvider | None, where: str) -> None:
        self.mode = mode
        self.provider = provider
        self.where = where

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()


_installed: Tracing | None = None
_install_lock = threading.Lock()


def setup_tracing(
    service: str,
    state_dir: Path,
    mode: str = "auto",
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> Tracing:
    """Install the process-wide TracerProvider for `service` (once; later calls return it)."""
    global _installed  # noqa: PLW0603 - OpenTelemetry's provider is process-wide too
    with _install_lock:
        if _installed is not None:
            return _installed
        chosen = resolve_mode(mode)
        if chosen == "off":
            _installed = Tracing(chosen, None, "nowhere (FRAUDGRAPH_TRACING=off)")
            return _installed
        provider = TracerProvider(resource=Resource.create({SERVICE_NAME: f"fraudgraph-{service}"}))
        exporter: SpanExporter
        if chosen == "otlp":
            # Imported here: only processes that export OTLP pay for protobuf.
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
                OTLPSpanExporter,
            )

            exporter = OTLPSpanExporter()  # endpoint, headers, timeout from OTEL_EXPORTER_OTLP_*
            where = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318")
        else:
            path = traces_dir(state_dir) / f"{service}.jsonl"
            exporter = JsonLinesSpanExporter(path, max_bytes=max_file_bytes)
            where = str(path)
        # A deep queue: a batch of 5,000 records makes ~20,000 spans at once, and the
        # default 2,048 would drop most of them.
        provider.add_span_processor(
            BatchSpanProcessor(
                exporter,
                max_queue_size=200_000,
                max_export_batch_size=8192,
                schedule_delay_millis=500,
            )
        )
        trace.set_tracer_provider(provider)
        _installed = Tracing(chosen, provider, where)
        log.info("tracing_enabled", service=service, mode=chosen, exporting_to=where)
        return _installed


# --- the span file -----------------------------------------------------------------------


def span_record(span: ReadableSpan) -> dict[str, object]:
    """One span as flat JSON: ids in hex as in traceparent, times in ns since the epoch."""
    context = span.get_span_context()
    assert context is not None  # an SDK span always has one
    parent = span.parent
    return {
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
        "parent_id": format(parent.span_id, "016x") if parent is not None else None,
        "name": span.name,
        "kind": span.kind.name,
        "service": span.resource.attributes.get(SERVICE_NAME),
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "status": span.status.status_code.name,
        "attributes": dict(span.attributes or {}),
        "links": [
            {
                "trace_id": format(link.context.trace_id, "032x"),
                "span_id": format(link.context.span_id, "016x"),
            }
            for link in span.links
        ],
    }


class JsonLinesSpanExporter(SpanExporter):
    """Appends each exported batch as JSON lines with one write on an O_APPEND file.

    Several processes of one service (tests run workers side by side) may share the
    file: a single append per batch keeps their lines whole.
    """

    def __init__(self, path: Path, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not spans:
            return SpanExportResult.SUCCESS
        data = b"".join(orjson.dumps(span_record(span)) + b"\n" for span in spans)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._rotate_if_full()
            handle = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(handle, data)
            finally:
                os.close(handle)
        except OSError as error:
            log.warning("trace_export_failed", path=str(self.path), error=str(error)[:200])
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def _rotate_if_full(self) -> None:
        try:
            if self.path.stat().st_size < self.max_bytes:
                return
        except FileNotFoundError:
            return
        # Another process may have rotated it first: then there is nothing to move.
        with contextlib.suppress(FileNotFoundError):
            os.replace(self.path, self.path.with_name(self.path.name + ".1"))


# --- W3C trace context in Kafka headers ---------------------------------------------------


class KafkaHeadersGetter(Getter[KafkaHeaders]):
    """Reads a header from Kafka's list of (name, value) pairs; the last value wins."""

    def get(self, carrier: KafkaHeaders, key: str) -> list[str] | None:
        found = None
        for name, value in carrier:
            if name == key and value is not None:
                found = (
                    value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value
                )
        return None if found is None else [found]

    def keys(self, carrier: KafkaHeaders) -> list[str]:
        return [name for name, _ in carrier]


KAFKA_GETTER = KafkaHeadersGetter()


def context_from_headers(headers: KafkaHeaders) -> Context:
    """The remote parent carried by a record's `traceparent`, or an empty context."""
    return _PROPAGATOR.extract(headers, getter=KAFKA_GETTER)


def context_from_mapping(carrier: Mapping[str, str] | None) -> Context:
    return _PROPAGATOR.extract(dict(carrier or {}))


def headers_of(span: Span) -> list[tuple[str, bytes]]:
    """`traceparent` (and `tracestate`) naming `span`, as Kafka headers; empty if not recording."""
    return [(name, value.encode()) for name, value in mapping_of(span).items()]


def mapping_of(span: Span) -> dict[str, str]:
    """`traceparent` (and `tracestate`) naming `span`, for HTTP headers or a RowChange.

    The W3C format written directly: it runs once per record, and the propagator's
    inject (context objects, setter calls) cost several times the formatting.
    A unit test checks it against TraceContextTextMapPropagator's output.
    """
    context = span.get_span_context()
    if not context.is_valid:
        return {}
    ids = f"{context.trace_id:032x}-{context.span_id:016x}"
    carrier = {"traceparent": f"00-{ids}-{context.trace_flags:02x}"}
    if context.trace_state:
        carrier["tracestate"] = context.trace_state.to_header()
    return carrier


def without_trace_headers(
    headers: Iterable[tuple[str, bytes]],
) -> list[tuple[str, bytes]]:
    return [(name, value) for name, value in headers if name not in TRACE_HEADERS]


def hex_ids(context: SpanContext) -> tuple[str, str] | None:
    """(trace_id, span_id) in hex for a valid context, else None."""
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")

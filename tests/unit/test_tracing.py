"""Trace context through Kafka headers, the span file, tracing modes and log correlation."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import structlog
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from fraudgraph.observability.logs import configure_logging, get_logger
from fraudgraph.observability.trace_files import read_spans, span_files
from fraudgraph.observability.tracing import (
    JsonLinesSpanExporter,
    TracingConfigError,
    context_from_headers,
    headers_of,
    mapping_of,
    resolve_mode,
    sampling,
    setup_tracing,
    tracer,
)
from tests.unit.trace_support import reset_globals

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_a_span_named_in_headers_is_the_parent_on_the_other_side() -> None:
    provider = TracerProvider()
    producer_side = provider.get_tracer("test").start_span("send alerts")
    headers = headers_of(producer_side)
    assert [name for name, _ in headers] == ["traceparent"]
    consumer_side = provider.get_tracer("test").start_span(
        "process alerts", context=context_from_headers(headers)
    )
    parent = consumer_side.parent
    sent = producer_side.get_span_context()
    assert parent is not None and parent.is_remote
    assert (parent.trace_id, parent.span_id) == (sent.trace_id, sent.span_id)
    assert consumer_side.get_span_context().trace_id == sent.trace_id


def test_headers_are_read_as_kafka_clients_give_them() -> None:
    # confluent-kafka gives bytes or None; the last traceparent wins, as in retry records.
    headers = [
        ("traceparent", b"00-11111111111111111111111111111111-2222222222222222-01"),
        ("other", None),
        ("traceparent", PARENT.encode()),
        ("tracestate", "vendor=x"),
    ]
    context = trace.get_current_span(context_from_headers(headers)).get_span_context()
    assert format(context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert format(context.span_id, "016x") == "b7ad6b7169203331"
    assert context.trace_state.get("vendor") == "x"


def test_no_or_broken_traceparent_gives_no_parent() -> None:
    for headers in ([], [("traceparent", b"\xff\xfe")], [("traceparent", b"00-zz-yy-01")]):
        span = trace.get_current_span(context_from_headers(headers))
        assert not span.get_span_context().is_valid


def test_a_non_recording_span_adds_no_headers() -> None:
    assert headers_of(trace.INVALID_SPAN) == []
    assert mapping_of(trace.INVALID_SPAN) == {}


def test_the_span_file_holds_one_json_line_per_span_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "traces" / "worker.jsonl"
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(path)))
    parent = provider.get_tracer("t").start_span("parent", attributes={"a": 1})
    child = provider.get_tracer("t").start_span("child", context=trace.set_span_in_context(parent))
    child.end()
    parent.end()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["name"] for line in lines] == ["child", "parent"]
    assert lines[0]["parent_id"] == lines[1]["span_id"]
    assert lines[1]["parent_id"] is None
    assert lines[1]["attributes"] == {"a": 1}
    spans = list(read_spans(span_files([path.parent])))
    assert [s.name for s in spans] == ["child", "parent"]
    assert spans[0].trace_id == format(parent.get_span_context().trace_id, "032x")


def test_a_full_span_file_is_rotated_not_grown(tmp_path: Path) -> None:
    path = tmp_path / "worker.jsonl"
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(path, max_bytes=200)))
    for n in range(5):
        provider.get_tracer("t").start_span(f"span {n}").end()
    rotated = tmp_path / "worker.jsonl.1"
    assert rotated.exists()
    assert path.stat().st_size < 400
    names = [s.name for s in read_spans(span_files([tmp_path]))]
    assert names[-1] == "span 4"
    assert len(names) < 5  # older rotations are dropped: bounded disk use


def test_modes() -> None:
    assert resolve_mode("auto", {}) == "file"
    assert resolve_mode("auto", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318"}) == "otlp"
    assert resolve_mode("off", {}) == "off"
    with pytest.raises(TracingConfigError, match="must be one of"):
        resolve_mode("on", {})


def test_off_installs_nothing_and_file_writes_under_the_state_dir(tmp_path: Path) -> None:
    reset_globals()
    try:
        off = setup_tracing("worker", tmp_path, "off")
        assert off.provider is None
        assert not tracer().start_span("x").is_recording()
        reset_globals()
        on = setup_tracing("worker", tmp_path, "file")
        tracer().start_span("kept").end()
        on.shutdown()  # flushes the batch processor
        (span,) = read_spans(span_files([tmp_path / "traces"]))
        assert (span.name, span.service) == ("kept", "fraudgraph-worker")
    finally:
        reset_globals()


def test_log_lines_inside_a_span_carry_its_ids(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging("INFO")
        span = TracerProvider().get_tracer("t").start_span("batch")
        with trace.use_span(span):
            get_logger("test").info("inside")
        get_logger("test").info("outside")
        inside, outside = (json.loads(line) for line in capsys.readouterr().err.splitlines())
        context = span.get_span_context()
        assert inside["trace_id"] == format(context.trace_id, "032x")
        assert inside["span_id"] == format(context.span_id, "016x")
        assert "trace_id" not in outside
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.reset_defaults()


def test_the_hand_written_traceparent_is_what_the_w3c_propagator_writes() -> None:
    parent = context_from_headers([("traceparent", PARENT.encode()), ("tracestate", b"k=v")])
    span = TracerProvider().get_tracer("t").start_span("child", context=parent)
    expected: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(expected, context=trace.set_span_in_context(span))
    assert mapping_of(span) == expected
    assert dict((k, v.decode()) for k, v in headers_of(span)) == expected


def test_the_sampling_a_process_applies_is_read_as_opentelemetry_reads_it() -> None:
    assert sampling({}) == "parentbased_always_on"
    ratio = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.01"}
    assert sampling(ratio) == "parentbased_traceidratio 0.01"
    assert sampling({"OTEL_TRACES_SAMPLER": "always_off", "OTEL_TRACES_SAMPLER_ARG": "0.5"}) == (
        "always_off"
    )
    assert sampling({**ratio, "FRAUDGRAPH_TRACING": "off"}) == "off"

"""Reading exported spans back: fraudgraph's JSON lines and Connect's OTLP JSON lines.

Two formats share `<state_dir>/traces/`:
- `<service>.jsonl` from our processes (observability/tracing.py: one span a line);
- `connect.otlp.jsonl` from Kafka Connect's OpenTelemetry Java agent
  (`logging-otlp` exporter: one OTLP/JSON `ResourceSpans` a line; a whole
  `ExportTraceServiceRequest` a line is read too).

Files can be large (every record of every batch), so callers give a cheap
substring filter that is applied to each raw line before it is parsed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

# OTLP's SpanKind enum, as the Java agent writes it in JSON.
_OTLP_KINDS = {0: "INTERNAL", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
_OTLP_STATUS = {0: "UNSET", 1: "OK", 2: "ERROR"}


@dataclass(frozen=True)
class SpanRecord:
    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    service: str
    start_ns: int
    end_ns: int
    kind: str = "INTERNAL"
    status: str = "UNSET"
    attributes: dict[str, Any] = field(default_factory=dict)
    links: tuple[tuple[str, str], ...] = ()  # (trace_id, span_id) of linked spans

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


def span_files(directories: Iterable[Path]) -> list[Path]:
    """Every span file in the folders, rotated ones (`*.jsonl.1`) first."""
    found: list[Path] = []
    for directory in directories:
        found += sorted(directory.glob("*.jsonl.1")) + sorted(directory.glob("*.jsonl"))
    return found


def read_spans(
    files: Sequence[Path], line_filter: Callable[[bytes], bool] | None = None
) -> Iterator[SpanRecord]:
    """Spans of every line that passes `line_filter`; a torn or foreign line is skipped."""
    for path in files:
        with path.open("rb") as lines:
            for line in lines:
                if line_filter is not None and not line_filter(line):
                    continue
                try:
                    data = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue  # a line cut short by a crash mid-write
                if isinstance(data, dict):
                    yield from _spans_of(data)


def _spans_of(data: dict[str, Any]) -> Iterator[SpanRecord]:
    if "resourceSpans" in data:  # an ExportTraceServiceRequest
        yield from _otlp_spans(data["resourceSpans"])
    elif "scopeSpans" in data:  # one ResourceSpans a line: the Java agent's logging-otlp
        yield from _otlp_spans([data])
    elif "trace_id" in data and "span_id" in data:
        yield SpanRecord(
            trace_id=data["trace_id"],
            span_id=data["span_id"],
            parent_id=data.get("parent_id"),
            name=str(data.get("name", "")),
            service=str(data.get("service") or "?"),
            start_ns=int(data.get("start_ns") or 0),
            end_ns=int(data.get("end_ns") or 0),
            kind=str(data.get("kind", "INTERNAL")),
            status=str(data.get("status", "UNSET")),
            attributes=dict(data.get("attributes") or {}),
            links=tuple(
                (str(link["trace_id"]), str(link["span_id"]))
                for link in data.get("links") or ()
                if isinstance(link, dict) and "trace_id" in link and "span_id" in link
            ),
        )


def _otlp_spans(all_resource_spans: list[dict[str, Any]]) -> Iterator[SpanRecord]:
    for resource_spans in all_resource_spans or []:
        resource = _attributes((resource_spans.get("resource") or {}).get("attributes"))
        service = str(resource.get("service.name", "?"))
        for scope in resource_spans.get("scopeSpans") or []:
            for span in scope.get("spans") or []:
                yield SpanRecord(
                    trace_id=str(span.get("traceId", "")).lower(),
                    span_id=str(span.get("spanId", "")).lower(),
                    parent_id=str(span["parentSpanId"]).lower()
                    if span.get("parentSpanId")
                    else None,
                    name=str(span.get("name", "")),
                    service=service,
                    start_ns=int(span.get("startTimeUnixNano") or 0),
                    end_ns=int(span.get("endTimeUnixNano") or 0),
                    kind=_OTLP_KINDS.get(int(span.get("kind") or 0), "INTERNAL"),
                    status=_OTLP_STATUS.get(
                        int((span.get("status") or {}).get("code") or 0), "UNSET"
                    ),
                    attributes=_attributes(span.get("attributes")),
                    links=tuple(
                        (str(link.get("traceId", "")).lower(), str(link.get("spanId", "")).lower())
                        for link in span.get("links") or ()
                    ),
                )


def _status_code(span: dict[str, Any]) -> int:
    return int((span.get("status") or {}).get("code") or 0)


def _attributes(raw: Any) -> dict[str, Any]:
    """OTLP's [{key, value: {stringValue|intValue|...}}] as a plain dict."""
    values: dict[str, Any] = {}
    for item in raw or []:
        value = item.get("value") or {}
        for kind in ("stringValue", "intValue", "doubleValue", "boolValue"):
            if kind in value:
                values[item["key"]] = int(value[kind]) if kind == "intValue" else value[kind]
                break
    return values

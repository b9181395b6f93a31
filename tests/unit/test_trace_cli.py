"""`fraudgraph trace` over crafted span files: the tree, the hops, the summary, unknown ids."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from rich.console import Console

from fraudgraph.observability import trace_semconv as sc
from fraudgraph.observability.trace_cli import TraceNotFoundError, find_transaction, summarise
from fraudgraph.observability.trace_files import span_files
from fraudgraph.observability.trace_journey import journey_of, span_tree

TRACE = "0af7651916cd43dd8448eb211c80319c"
OTHER = "11111111111111111111111111111111"
BATCH_TRACE = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
OTHER_BATCH = "cccccccccccccccccccccccccccccccc"
COMMIT_MS = 1_800_000_000_000
MS = 1_000_000  # ns


def span(
    trace: str,
    span_id: str,
    parent: str | None,
    name: str,
    window: tuple[float, float],
    **extra: Any,
) -> dict[str, Any]:
    return {
        "trace_id": trace,
        "span_id": span_id,
        "parent_id": parent,
        "name": name,
        "kind": extra.pop("kind", "INTERNAL"),
        "service": extra.pop("service", "fraudgraph-worker"),
        "start_ns": int((COMMIT_MS + window[0]) * MS),
        "end_ns": int((COMMIT_MS + window[1]) * MS),
        "status": extra.pop("status", "UNSET"),
        "attributes": extra.pop("attributes", {}),
        "links": [],
    }


def process(
    trace: str, span_id: str, parent: str | None, key: str, start_ms: float
) -> dict[str, Any]:
    return span(
        trace,
        span_id,
        parent,
        "process bank.bank.transactions",
        (start_ms, start_ms + 30),
        kind="CONSUMER",
        attributes={
            sc.TABLE: "transactions",
            sc.OP: "c",
            sc.ROW_KEY: key,
            sc.LSN: 123,
            sc.COMMIT_MS: COMMIT_MS,
            sc.KAFKA_TIMESTAMP_MS: COMMIT_MS + 100,
            sc.MESSAGING_PARTITION: "1",
            sc.KAFKA_OFFSET: 9,
        },
    )


def connect_line(trace: str) -> dict[str, Any]:
    """An OTLP/JSON export request with Debezium's two spans (as Connect's agent exports them)."""
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"stringValue": "kafka-connect"}}
                    ]
                },
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": trace,
                                "spanId": "00000000000000d1",
                                "name": "db-log-write",
                                "kind": 1,
                                "startTimeUnixNano": str(COMMIT_MS * MS),
                                "endTimeUnixNano": str(COMMIT_MS * MS),
                            },
                            {
                                "traceId": trace,
                                "spanId": "00000000000000d2",
                                "parentSpanId": "00000000000000d1",
                                "name": "debezium-read",
                                "kind": 1,
                                "startTimeUnixNano": str((COMMIT_MS + 60) * MS),
                                "endTimeUnixNano": str((COMMIT_MS + 61) * MS),
                                "attributes": [{"key": "op", "value": {"stringValue": "c"}}],
                            },
                        ]
                    }
                ],
            }
        ]
    }


@pytest.fixture
def traces(tmp_path: Path) -> Path:
    batch = {"trace_id": BATCH_TRACE, "span_id": "00000000000000e0"}
    worker = [
        {**process(TRACE, "00000000000000a1", "00000000000000d1", "42", 150), "links": [batch]},
        span(BATCH_TRACE, "00000000000000e0", None, "worker batch", (150, 180)),
        span(
            BATCH_TRACE,
            "00000000000000e1",
            "00000000000000e0",
            "graph write",
            (160, 170),
            attributes={sc.DB_SYSTEM: "neo4j"},
        ),
        span(BATCH_TRACE, "00000000000000e2", "00000000000000e0", "detect", (170, 185)),
        span(
            TRACE,
            "00000000000000a4",
            "00000000000000a1",
            "send fraud.alerts",
            (185, 190),
            kind="PRODUCER",
            attributes={sc.ALERT_ID: "fa-1", sc.ALERT_RULE: "cycle"},
        ),
        {
            **process(OTHER, "00000000000000b1", None, "43", 500),
            "links": [{"trace_id": OTHER_BATCH, "span_id": "00000000000000f0"}],
        },
        span(OTHER_BATCH, "00000000000000f0", None, "worker batch", (500, 540)),
        span(OTHER_BATCH, "00000000000000f2", "00000000000000f0", "graph write", (510, 530)),
    ]
    webhooks = [
        span(
            TRACE,
            "00000000000000c1",
            "00000000000000a4",
            "process fraud.alerts",
            (200, 230),
            kind="CONSUMER",
            service="fraudgraph-webhooks",
        ),
        span(
            TRACE,
            "00000000000000c2",
            "00000000000000c1",
            "POST",
            (205, 228),
            kind="CLIENT",
            service="fraudgraph-webhooks",
            attributes={sc.HTTP_METHOD: "POST", sc.HTTP_STATUS: 200},
        ),
    ]
    folder = tmp_path / "traces"
    folder.mkdir()
    # The worker's file ends with a line cut short by a crash: it is skipped.
    (folder / "worker.jsonl").write_bytes(
        b"".join(orjson.dumps(s) + b"\n" for s in worker) + b'{"trace_id": "0af7'
    )
    (folder / "webhooks.jsonl").write_bytes(b"".join(orjson.dumps(s) + b"\n" for s in webhooks))
    # The agent writes one ResourceSpans a line; a whole export request is read as well.
    request = connect_line(TRACE)
    (folder / "connect.otlp.jsonl").write_bytes(orjson.dumps(request["resourceSpans"][0]) + b"\n")
    (folder / "other.otlp.jsonl").write_bytes(orjson.dumps(connect_line(OTHER)) + b"\n")
    return folder


def test_a_transaction_is_found_with_every_span_of_its_trace(traces: Path) -> None:
    found = find_transaction(span_files([traces]), "42")
    assert list(found) == [TRACE]
    names = sorted(s.name for s in found[TRACE])
    assert names == sorted(
        [
            "db-log-write",
            "debezium-read",
            "process bank.bank.transactions",
            "worker batch",
            "graph write",
            "detect",
            "send fraud.alerts",
            "process fraud.alerts",
            "POST",
        ]
    )


def test_the_hops_run_from_commit_to_webhook(traces: Path) -> None:
    spans = find_transaction(span_files([traces]), "42")[TRACE]
    hops = dict(journey_of(TRACE, spans).hops())
    assert hops == {
        "commit → debezium read": 60.0,
        "debezium read → kafka": 40.0,
        "kafka → worker": 50.0,
        "worker → neo4j": 20.0,
        "neo4j → alert": 20.0,
        "alert → webhook": 38.0,
        "commit → webhook (total)": 228.0,
    }


def test_the_tree_nests_the_hops_under_the_commit(traces: Path) -> None:
    spans = find_transaction(span_files([traces]), "42")[TRACE]
    console = Console(record=True, width=200)
    console.print(span_tree(TRACE, spans))
    lines = console.export_text().splitlines()
    depth = {
        name: next(i for i, line in enumerate(lines) if name in line)
        for name in ("db-log-write", "POST", "graph write", "process bank")
    }
    indent = {name: len(lines[i]) - len(lines[i].lstrip(" │├└─")) for name, i in depth.items()}
    assert indent["POST"] > indent["db-log-write"]
    assert indent["graph write"] > indent["process bank"]  # the linked batch, under the record
    assert "linked batch: worker batch" in "\n".join(lines)
    assert "status=200" in lines[depth["POST"]]
    assert "transactions c key=42 lsn=123" in "\n".join(lines)


def test_the_summary_counts_each_traced_transaction_once(traces: Path) -> None:
    figures = summarise(span_files([traces]))
    assert figures["transactions"] == 2
    hops: Any = figures["hops"]
    assert hops["worker → neo4j"]["count"] == 2
    assert hops["commit → debezium read"]["count"] == 2  # both OTLP JSON shapes were read
    assert hops["worker → neo4j"]["max_ms"] == 30.0
    assert hops["alert → webhook"]["count"] == 1


def test_the_summary_since_a_moment_leaves_out_traces_begun_before_it(traces: Path) -> None:
    """A benchmark phase summarises only its own transactions, not the file's past."""
    began = COMMIT_MS * MS  # both transactions were committed then
    assert summarise(span_files([traces]), since_ns=began)["transactions"] == 2
    assert summarise(span_files([traces]), since_ns=began + 1)["transactions"] == 0


def test_an_unknown_transaction_is_an_error(traces: Path) -> None:
    with pytest.raises(TraceNotFoundError, match="no spans of transaction 4"):
        find_transaction(span_files([traces]), "4")


def test_the_command_prints_the_journey_and_refuses_unknown_ids_in_one_line(traces: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "fraudgraph", "trace", *args, "--dir", str(traces)],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    shown = run("42")
    assert shown.returncode == 0, shown.stderr
    assert "alert → webhook" in shown.stdout and "POST" in shown.stdout
    missing = run("999")
    assert missing.returncode == 2
    assert missing.stderr.strip().count("\n") == 0
    assert "no spans of transaction 999" in missing.stderr

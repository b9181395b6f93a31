"""Prometheus metrics of the stream worker, detection and change capture.

The metric objects live at module level in the default registry, so any module
imports them and records without wiring; a process exposes them with
`start_metrics_server`. Names and labels are the contract with
`observability/prometheus/rules.yml` and the Grafana dashboard (a unit test
checks that every name those files use is defined, here or in
alerts/webhooks/metrics.py for webhook delivery).

Label values must stay few: tables, topics, rule names, reasons, endpoints; never
an entity id, an account number or anything else per-row (and never PII).
"""

from __future__ import annotations

import time
from wsgiref.simple_server import WSGIServer

from prometheus_client import Counter, Gauge, Histogram, start_http_server

# Seconds from a commit in the source database to its effect: 10 ms .. 60 s.
END_TO_END_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)
# One Neo4j transaction for a batch: a few ms for tiny batches, seconds when Neo4j struggles.
GRAPH_WRITE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Events per batch, up to the largest allowed batch (FRAUDGRAPH_WORKER_BATCH_SIZE <= 100,000).
BATCH_SIZE_BUCKETS = (1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 50_000, 100_000)
# One detector over one batch: mostly sub-millisecond, graph look-ups take longer.
DETECTOR_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)

# --- stream worker -------------------------------------------------------------------------

EVENTS = Counter(
    "fraudgraph_events_total",
    "Change events consumed, by topic, source table and operation (c, u, d, r, t).",
    ["topic", "table", "op"],
)
DEADLETTERS = Counter(
    "fraudgraph_deadletters_total",
    "Events sent to the dead-letter topic, by reason (the dlq.reason header).",
    ["reason"],
)
TRUNCATES = Counter(
    "fraudgraph_truncates_total",
    "Source-table truncates applied to the graph (each removes every row of its table).",
    ["table"],
)
TRUNCATE_REMOVED = Counter(
    "fraudgraph_truncate_removed_total",
    "Nodes and row-owned relationships truncates removed from the graph, by table.",
    ["table"],
)
BATCH_SIZE = Histogram(
    "fraudgraph_batch_size",
    "Events per batch written to the graph in one transaction.",
    buckets=BATCH_SIZE_BUCKETS,
)
GRAPH_WRITE_SECONDS = Histogram(
    "fraudgraph_graph_write_seconds",
    "Duration of one batch's Neo4j write transaction, retries excluded.",
    buckets=GRAPH_WRITE_BUCKETS,
)
COMMIT_TO_GRAPH_SECONDS = Histogram(
    "fraudgraph_commit_to_graph_seconds",
    "From the source transaction's commit (Debezium source.ts_ms) to the graph write.",
    buckets=END_TO_END_BUCKETS,
)
COMMIT_TO_ALERT_SECONDS = Histogram(
    "fraudgraph_commit_to_alert_seconds",
    "From the source commit of the triggering change to the alert produced on Kafka.",
    buckets=END_TO_END_BUCKETS,
)
CONSUMER_LAG = Gauge(
    "fraudgraph_consumer_lag",
    "Messages not yet committed by the worker's group (high watermark - committed offset).",
    ["topic", "partition"],
)
WORKER_UP = Gauge(
    "fraudgraph_worker_up",
    "1 while the worker consumes; 0 while it starts, stops or is held by an error.",
)
LAST_BATCH_TIMESTAMP = Gauge(
    "fraudgraph_last_batch_timestamp_seconds",
    "Unix time of the last batch the worker finished (stall detection).",
)
WORKER_RETRIES = Counter(
    "fraudgraph_worker_retries_total",
    "Retries of a failed step (graph_write, deadletter, commit, ...), by step.",
    ["what"],
)

# --- detection and alerts ------------------------------------------------------------------

ALERTS = Counter(
    "fraudgraph_alerts_total",
    "Alerts produced, by rule, kind, severity and shadow mode ('true'/'false').",
    ["rule", "kind", "severity", "shadow"],
)
ALERTS_SUPPRESSED = Counter(
    "fraudgraph_alerts_suppressed_total",
    "Alerts a rule raised but did not send (duplicate, cooldown, allow-list...), by reason.",
    ["rule", "reason"],
)
LATE_REJUDGED = Counter(
    "fraudgraph_detection_rejudged_total",
    "Payments judged again because an earlier one of their accounts arrived late.",
)
SHARED_RECHECKED = Counter(
    "fraudgraph_detection_rechecked_total",
    "Events judged a second time because other workers share the group (see recheck).",
)
DETECTION_GRAPH_READS = Counter(
    "fraudgraph_detection_graph_reads_total",
    "Round trips detection made to Neo4j for history its cache did not hold, by cache index.",
    ["index"],
)
DETECTION_GRAPH_READ_KEYS = Counter(
    "fraudgraph_detection_graph_read_keys_total",
    "Entities (accounts, customers, ...) those round trips asked for, by cache index.",
    ["index"],
)
DETECTOR_SECONDS = Histogram(
    "fraudgraph_detector_seconds",
    "Time one detector spent on one batch.",
    ["detector"],
    buckets=DETECTOR_BUCKETS,
)
DETECTOR_ERRORS = Counter(
    "fraudgraph_detector_errors_total",
    "Detector runs that raised (the batch still goes on).",
    ["detector"],
)
CLUSTER_RUNS = Counter(
    "fraudgraph_cluster_runs_total",
    "Periodic community runs over the suspicious subgraph, by outcome (ok, failed).",
    ["outcome"],
)
CLUSTER_RUN_SECONDS = Histogram(
    "fraudgraph_cluster_run_seconds",
    "Duration of a periodic community run (read subgraph, Louvain, publish).",
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)

# (Webhook delivery has its own metrics next to it: alerts/webhooks/metrics.py; Connect's
# task state and the lag seen from outside the worker are the exporter's,
# observability/exporter.py.)

# --- helpers with a little logic -----------------------------------------------------------


def seconds_since(epoch_ms: float, now: float | None = None) -> float:
    """Seconds from a millisecond Unix timestamp (Debezium's ts_ms) to `now`.

    Clamped at 0: the source database and this host have separate clocks, and a
    negative latency would land in no bucket and skew the sums.
    """
    current = time.time() if now is None else now
    return max(0.0, current - epoch_ms / 1000.0)


def record_batch(events: int, now: float | None = None) -> None:
    """A batch is done: its size, and the time the stall alert watches."""
    BATCH_SIZE.observe(events)
    LAST_BATCH_TIMESTAMP.set(time.time() if now is None else now)


def observe_commit_latency(histogram: Histogram, source_ts_ms: float | None) -> None:
    """Observe commit -> now on one of the end-to-end histograms; events without ts skip."""
    if source_ts_ms is None or source_ts_ms <= 0:
        return
    histogram.observe(seconds_since(source_ts_ms))


# --- exposition ----------------------------------------------------------------------------

# Servers started in this process, by bound port, so tests and shutdown can stop them.
_servers: dict[int, WSGIServer] = {}


def start_metrics_server(host: str = "127.0.0.1", port: int = 0) -> int:
    """Serve /metrics of the default registry from a daemon thread; returns the bound port.

    Port 0 picks a free one (tests, several workers on one host). Loopback by
    default: metrics name tables and rules, so exposing them is a deliberate choice
    (compose sets FRAUDGRAPH_METRICS_HOST=0.0.0.0 inside its private network).
    """
    server, _thread = start_http_server(port, addr=host)
    bound = int(server.server_port)
    _servers[bound] = server
    return bound


def stop_metrics_server(port: int) -> None:
    """Stop a server `start_metrics_server` started; unknown ports are ignored."""
    server = _servers.pop(port, None)
    if server is not None:
        server.shutdown()
        server.server_close()

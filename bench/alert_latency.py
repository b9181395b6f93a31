"""Commit → alert latency under a live load: `fraudgraph bench latency`.

A small bank is bulk-loaded, a worker (own consumer group and alerts topic) builds
its graph from the change events of that load, then the live simulator commits
transactions at each asked rate with a fraud case every second. For every alert
raised during the live phase: latency = the time Kafka stamped the alert record
(producer CreateTime) minus `source_committed_at`, the source commit time of the change
that triggered it. Same machine, same clock.

Each phase also reports the CPU time every process spent per 1,000 change events
(the worker, Neo4j, Kafka, Connect, PostgreSQL, and this bench with the live
simulator it runs): the figures a capacity projection needs, events/s per core; and,
from the first worker's own metrics, its detection time per event and the costliest
detectors (bench/worker_metrics.py): detection reads windows a live load fills.
"""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import psutil
from confluent_kafka import Consumer, TopicPartition
from rich.console import Console

from fraudgraph.bench.ingest import clear_shared_graph
from fraudgraph.bench.observe import CpuMark, CpuWatch, MemorySampler, find_service
from fraudgraph.bench.pipeline import (
    cdc_ends_before_load,
    end_offsets,
    free_port,
    group_lag,
    private_run_env,
    run_fraudgraph,
    start_fresh_worker,
    start_worker,
)
from fraudgraph.bench.worker_metrics import (
    MetricsMark,
    WorkerMetricsError,
    detection_per_event,
    read_mark,
)
from fraudgraph.errors import FraudgraphError
from fraudgraph.evaluation.scoring import parse_time
from fraudgraph.graph.connection import open_driver
from fraudgraph.observability.trace_cli import summarise, summary_table
from fraudgraph.observability.trace_files import span_files
from fraudgraph.observability.tracing import sampling, traces_dir
from fraudgraph.settings import Settings
from fraudgraph.stack.waiting import DeadlineExceeded, wait_for


class LatencyBenchError(FraudgraphError):
    pass


# How long the worker may take to drain a phase's backlog before the run is called off.
CATCH_UP_SECONDS = 900


def _hops_since(settings: Settings, started_ms: float, console: Console) -> dict[str, object]:
    """Per-hop percentiles of the transactions traced since `started_ms`, from the span
    files of the stack's state folder (the worker's and Connect's); {} with tracing off."""
    # A file last written before the phase (a rotated `.1`) holds none of its spans:
    # skipping it saves reading hundreds of MB.
    files = [
        f
        for f in span_files([traces_dir(settings.state_dir)])
        if f.stat().st_mtime * 1000 >= started_ms
    ]
    if not files:
        return {}
    summary = summarise(files, since_ns=int(started_ms * 1e6))
    console.print(summary_table(summary))
    return {"transactions": summary["transactions"], "hops": summary["hops"]}


# Each service's process, found by its command line (the JVM's main class).
SERVICE_MARKERS = {
    "neo4j": "org.neo4j.server",
    "kafka": "kafka.Kafka",
    "connect": "ConnectDistributed",
    "postgres": "bin/postgres",
}


def _cpu_watch(worker: subprocess.Popen[bytes]) -> CpuWatch:
    """CPU of the first worker, each service (with its children: PostgreSQL's
    backends) and this bench (with the live simulator it starts)."""
    services = {name: find_service(marker) for name, marker in SERVICE_MARKERS.items()}
    return CpuWatch(psutil.Process(worker.pid), services)


def _trace_sampling(worker_env: dict[str, str]) -> dict[str, str]:
    """How Connect (where a change's trace starts) and the worker sample traces. The
    worker follows the sampling decision a record's traceparent carries, so Connect's
    setting decides how many changes the worker traces, and what tracing costs it
    (docs/benchmarks.md)."""
    connect = find_service(SERVICE_MARKERS["connect"])
    try:
        at_connect = sampling(connect.environ()) if connect is not None else "not running"
    except psutil.Error:
        at_connect = "unknown (environment not readable)"
    return {"connect": at_connect, "worker": sampling(worker_env)}


def _cdc_events(bootstrap: str, topics: list[str]) -> int:
    """Change events on the CDC topics so far (the sum of their end offsets)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-latency-ends"})
    try:
        return sum(t.offset for t in end_offsets(consumer, topics))
    finally:
        consumer.close()


def _cpu_per_event(start: CpuMark, end: CpuMark, events: int) -> dict[str, Any]:
    """CPU ms per 1,000 change events of the phase (live load and catching up), per
    process, and the machine's busy share."""
    used = {name: end.busy[name] - start.busy[name] for name in start.busy}
    per_1k = {
        f"{name}_ms_per_1k_events": round(1e6 * seconds / events, 1) if events else 0.0
        for name, seconds in used.items()
    }
    shares = CpuWatch.percent(start, end)
    return {
        "events": events,
        "seconds": round(end.at - start.at, 1),
        **per_1k,
        "machine_cpu_percent": round(shares["machine_cpu_percent"], 1),
    }


def _alert_latencies(bootstrap: str, topic: str, since_ms: float) -> list[float]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"bench-latency-{uuid.uuid4().hex[:6]}"}
    )
    latencies: list[float] = []
    try:
        ends = end_offsets(consumer, [topic])
        consumer.assign([TopicPartition(t.topic, t.partition, 0) for t in ends])
        remaining = {(t.topic, t.partition): t.offset for t in ends if t.offset > 0}
        deadline = time.monotonic() + 60
        while remaining and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None or message.error():
                continue
            key = (str(message.topic()), int(message.partition() or 0))
            if (message.offset() or 0) + 1 >= remaining.get(key, 0):
                remaining.pop(key, None)
            alert = orjson.loads(message.value() or b"{}")
            committed = parse_time(alert.get("source_committed_at"))
            if committed is None:
                continue
            committed_ms = committed.timestamp() * 1000
            if committed_ms >= since_ms:
                latencies.append(message.timestamp()[1] - committed_ms)
    finally:
        consumer.close()
    return latencies


def _worker_mark(port: int) -> MetricsMark:
    try:
        return read_mark(port)
    except WorkerMetricsError as error:
        raise LatencyBenchError(str(error)) from error


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def measure_alert_latency(
    settings: Settings,
    *,
    rates: list[float],
    seconds: float,
    customers: int,
    console: Console,
    workers: int = 1,
    warmup: float = 0,
) -> dict[str, Any]:
    run = f"latency-{uuid.uuid4().hex[:8]}"
    # The worker as a user runs it: its default batch wait is made for latency.
    env = private_run_env(settings, run)
    work = Path(tempfile.mkdtemp(prefix=f"{run}-"))
    topics, before_load = cdc_ends_before_load(settings, run)
    console.print(f"bulk-loading {customers:,} customers …")
    run_fraudgraph(
        [
            "simulate",
            "--bulk",
            "--reset",
            "--customers",
            str(customers),
            "--days",
            "7",
            "--labels",
            str(work / "labels.jsonl"),
        ],
        env,
        timeout=600,
    )
    with open_driver(settings) as driver:
        clear_shared_graph(driver)
    # The first worker serves its metrics where this bench can read them.
    metrics_port = free_port()
    first_env = {**env, "FRAUDGRAPH_METRICS_PORT": str(metrics_port)}
    running = [
        start_fresh_worker(
            settings.kafka_bootstrap, run, before_load, first_env, work / "worker.log"
        )
    ]
    # The first worker's peak memory, from its start (the bulk load's graph) on.
    memory = MemorySampler(running[0].pid).start()
    # More workers join the same group: the partitions are shared out between them.
    running += [start_worker(env, work / f"worker-{n}.log") for n in range(2, workers + 1)]
    results: dict[str, Any] = {
        "customers": customers,
        "workers": workers,
        "seconds_per_rate": seconds,
        "worker_log": str(work / "worker.log"),
        "trace_sampling": _trace_sampling(env),
        "warmup_seconds": warmup,
    }

    def live_phase(rate: float, duration: float) -> None:
        """`duration` seconds of live load at `rate`, then the worker caught up with it."""
        run_fraudgraph(
            [
                "simulate",
                "--live",
                "--customers",
                str(customers),
                "--days",
                "7",
                "--rate",
                str(rate),
                "--duration",
                str(duration),
                "--case-every",
                "1",
                "--labels",
                str(work / "live-labels.jsonl"),
            ],
            env,
            timeout=duration + 300,
        )
        try:
            wait_for(
                lambda: group_lag(settings.kafka_bootstrap, f"{run}-worker", topics) == 0,
                what=f"worker to catch up after {rate:,.0f} tx/s",
                timeout=CATCH_UP_SECONDS,
                interval=1,
            )
        except DeadlineExceeded as error:
            raise LatencyBenchError(
                f"the worker had not caught up {CATCH_UP_SECONDS} s after the "
                f"{rate:,.0f} tx/s phase: it falls behind at this rate "
                f"(worker log: {work / 'worker.log'})"
            ) from error

    try:
        console.print("worker building the graph from the load's change events …")
        wait_for(
            lambda: group_lag(settings.kafka_bootstrap, f"{run}-worker", topics) == 0,
            what="worker to catch up with the bulk load",
            timeout=900,
            interval=2,
            abort=lambda: None if all(w.poll() is None for w in running) else "a worker exited",
        )
        if warmup > 0:
            console.print(f"warming up at {rates[0]:,.0f} tx/s for {warmup:.0f}s (not measured) …")
            live_phase(rates[0], warmup)
        watch = _cpu_watch(running[0])
        for rate in rates:
            console.print(f"live load at {rate:,.0f} tx/s for {seconds:.0f}s …")
            started_ms = time.time() * 1000
            events_before, cpu_before = _cdc_events(settings.kafka_bootstrap, topics), watch.mark()
            metrics_before = _worker_mark(metrics_port)
            live_phase(rate, seconds)
            detection = detection_per_event(metrics_before, _worker_mark(metrics_port))
            events = _cdc_events(settings.kafka_bootstrap, topics) - events_before
            if events == 0:
                raise LatencyBenchError(
                    f"no change event reached the {settings.topic_prefix}.* topics at "
                    f"{rate:,.0f} tx/s: is the connector applied? (fraudgraph connectors apply)"
                )
            cpu = _cpu_per_event(cpu_before, watch.mark(), events)
            latencies = _alert_latencies(settings.kafka_bootstrap, f"{run}.alerts", started_ms)
            if not latencies:
                raise LatencyBenchError(f"no alert raised during the {rate:,.0f} tx/s phase")
            results[f"{rate:.0f}_tx_s"] = {
                "alerts": len(latencies),
                "p50_ms": round(statistics.median(latencies), 1),
                "p95_ms": round(_percentile(latencies, 0.95), 1),
                "p99_ms": round(_percentile(latencies, 0.99), 1),
                "max_ms": round(max(latencies), 1),
                # Where the time went: the traced transactions of this phase, per hop
                # (commit → Debezium → Kafka → worker → Neo4j → alert).
                "hops": _hops_since(settings, started_ms, console),
                "cpu": cpu,
                # The first worker's (with several, it took a share of the events).
                "detection": detection,
                "worker_peak_rss_mb": memory.peak_mb,  # since it started
            }
    finally:
        memory.stop()
        for worker in running:
            worker.terminate()
        for worker in running:
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
    return results

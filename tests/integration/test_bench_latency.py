"""`fraudgraph bench latency`, short: a live load through the whole stack, figures per phase."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from fraudgraph.bench.alert_latency import SERVICE_MARKERS
from fraudgraph.bench.observe import find_service
from fraudgraph.observability.tracing import sampling
from fraudgraph.settings import Settings
from fraudgraph.stack.manager import Stack
from tests.support import private_run, run_cli, temporary_connector

pytestmark = pytest.mark.integration


def test_a_short_live_phase_gives_latency_and_cpu_per_event_per_process(
    settings: Settings, stack: Stack, tmp_path: Path
) -> None:
    out = tmp_path / "latency.json"
    # Its own connector and topics: a fresh stack has no `bank` connector (only
    # `fraudgraph connectors apply` makes one), and nothing else of the suite's is read.
    local = private_run(settings, "lat")
    # Longer than a fraud case may take (the live simulator's 8 s case horizon): cases
    # are injected only while one can still finish within the phase.
    # A short unmeasured warm-up first, so that path runs too; and a sampler of the
    # bench's own (its worker's), which the figures must name apart from Connect's.
    with temporary_connector(local, stack, local.topic_prefix):
        result = run_cli(
            "bench", "latency", "--rate", "50", "--seconds", "15", "--customers", "100",
            "--warmup", "5", "--json", str(out), settings=local,
            OTEL_TRACES_SAMPLER="parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG="0.5",
        )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "not measured" in result.stdout
    figures = orjson.loads(out.read_bytes())["figures"]
    assert figures["warmup_seconds"] == 5
    # The figures say how traces were sampled, Connect's setting first: it decides.
    connect = find_service(SERVICE_MARKERS["connect"])
    assert connect is not None
    assert figures["trace_sampling"] == {
        "connect": sampling(connect.environ()),
        "worker": "parentbased_traceidratio 0.5",
    }
    phase = figures["50_tx_s"]
    assert phase["alerts"] > 0
    assert 0 < phase["p50_ms"] <= phase["p95_ms"] <= phase["p99_ms"] <= phase["max_ms"]
    cpu = phase["cpu"]
    # Fifteen seconds at 50 tx/s: the payments, their logins and the injected cases.
    assert cpu["events"] >= 600
    # Every process of the path did work for these events, so each figure is measured.
    for process in ("worker", "neo4j", "kafka", "connect", "postgres", "bench"):
        assert cpu[f"{process}_ms_per_1k_events"] > 0, process
    # The first worker's own metrics: it judged the phase's events, and the costliest
    # detectors account for part of its detection time, never more.
    detection = phase["detection"]
    assert detection["events"] >= 600
    assert detection["us_per_event"] > 0
    costliest = detection["costliest_us_per_event"]
    assert costliest and sum(costliest.values()) <= detection["us_per_event"] + 0.1 * len(costliest)
    assert list(costliest.values()) == sorted(costliest.values(), reverse=True)
    # The first worker's memory, sampled while the phases ran: a Python worker with its
    # graph driver, Kafka clients and detection cache is tens of MB at the least.
    assert 50 < phase["worker_peak_rss_mb"] < 4096

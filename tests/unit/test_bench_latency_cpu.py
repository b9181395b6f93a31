"""bench latency's CPU per event per process: the arithmetic over two CPU marks."""

from __future__ import annotations

import os

import pytest

from fraudgraph.bench.alert_latency import SERVICE_MARKERS, _cpu_per_event
from fraudgraph.bench.observe import CpuMark, MemorySampler
from fraudgraph.stack.waiting import wait_for


def mark(at: float, machine: float, **busy: float) -> CpuMark:
    return CpuMark(at=at, busy=dict(busy), machine_busy=machine)


def test_cpu_per_thousand_events_is_each_process_own_share() -> None:
    start = mark(100.0, 50.0, worker=10.0, neo4j=20.0, bench=1.0)
    end = mark(120.0, 74.0, worker=16.0, neo4j=24.0, bench=1.5)
    figures = _cpu_per_event(start, end, events=20_000)
    assert figures["events"] == 20_000 and figures["seconds"] == 20.0
    # 6 s of worker CPU over 20,000 events: 300 ms per 1,000.
    assert figures["worker_ms_per_1k_events"] == pytest.approx(300.0)
    assert figures["neo4j_ms_per_1k_events"] == pytest.approx(200.0)
    assert figures["bench_ms_per_1k_events"] == pytest.approx(25.0)
    # 24 CPU-seconds of the machine over 20 s of wall clock, over every core.
    assert 0 < figures["machine_cpu_percent"] <= 100 * 24 / 20


def test_a_phase_without_events_reports_zero_not_a_division_error() -> None:
    start = mark(0.0, 0.0, worker=1.0)
    figures = _cpu_per_event(start, mark(5.0, 1.0, worker=2.0), events=0)
    assert figures["worker_ms_per_1k_events"] == 0.0


def test_every_stack_service_is_watched() -> None:
    assert set(SERVICE_MARKERS) == {"neo4j", "kafka", "connect", "postgres"}


def test_the_memory_sampler_keeps_the_peak_while_the_caller_waits() -> None:
    """Sampled on its own thread: the peak covers memory taken and given back between
    two things the caller did (here: a block of 64 MB allocated and freed)."""
    sampler = MemorySampler(os.getpid(), interval=0.01).start()
    before = sampler.peak_mb
    block = bytearray(64 * 2**20)
    block[::4096] = b"x" * len(block[::4096])  # touch every page so it is resident
    wait_for(lambda: sampler.peak_mb >= before + 60, what="a sample with the block", timeout=10)
    del block
    sampler.stop()
    assert sampler.peak_mb >= before + 60

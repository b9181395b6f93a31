"""Consumer lag arithmetic and its gauge (the Kafka adapter is exercised on the stack)."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from fraudgraph.observability.lag import LagProbe, LagUnavailableError, compute_lag, publish_lag


def test_lag_is_high_watermark_minus_committed_offset() -> None:
    high = {("t", 0): 100, ("t", 1): 50}
    committed = {("t", 0): 40, ("t", 1): 50}
    assert compute_lag(high, committed, low={}) == {("t", 0): 60, ("t", 1): 0}


def test_a_partition_never_committed_lags_from_its_low_watermark() -> None:
    # -1001 is librdkafka's "no offset"; retention may have deleted the start.
    high = {("t", 0): 100, ("t", 1): 100}
    committed = {("t", 0): -1001}
    low = {("t", 0): 30, ("t", 1): 0}
    assert compute_lag(high, committed, low) == {("t", 0): 70, ("t", 1): 100}


def test_a_commit_read_after_the_watermark_never_makes_lag_negative() -> None:
    assert compute_lag({("t", 0): 10}, {("t", 0): 12}, {}) == {("t", 0): 0}


def test_publish_lag_sets_one_series_per_partition() -> None:
    publish_lag({("bank.bank.cards", 2): 17})
    value = REGISTRY.get_sample_value(
        "fraudgraph_consumer_lag", {"topic": "bank.bank.cards", "partition": "2"}
    )
    assert value == 17


def test_the_probe_does_no_io_until_measured() -> None:
    probe = LagProbe("127.0.0.1:1", "g", ["b", "a", "a"])
    assert probe.topics == ["a", "b"]
    assert probe._consumer is None


def test_a_broker_that_is_down_never_writes_raw_librdkafka_lines(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The exporter's log stays one JSON object per line while the broker restarts."""
    probe = LagProbe("127.0.0.1:1", "g", ["t"], timeout_s=1.0)
    for _ in range(2):
        with pytest.raises(LagUnavailableError):
            probe.measure()
        # Rebuilt on the next call: no request of the outage lingers in a live client.
        assert probe._consumer is None
    with pytest.raises(LagUnavailableError):
        probe.partition_counts()
    assert probe._consumer is None
    assert "|FAIL|" not in capfd.readouterr().err

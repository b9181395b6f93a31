"""The exporter's collectors: Connect status and consumer lag, from plain fakes of their I/O."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from fraudgraph.observability.connect_status import ConnectStatusCollector
from fraudgraph.observability.exporter import ConsumerLagCollector
from fraudgraph.observability.lag import LagUnavailableError, PartitionKey


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _status(connector: str = "RUNNING", *tasks: str) -> dict[str, Any]:
    return {
        "bank-postgres": {
            "status": {
                "connector": {"state": connector, "worker_id": "127.0.0.1:8083"},
                "tasks": [{"id": i, "state": state} for i, state in enumerate(tasks)],
            }
        }
    }


class FakeConnect:
    def __init__(self, *answers: dict[str, Any] | Exception) -> None:
        self.answers = list(answers)
        self.calls = 0

    def __call__(self) -> dict[str, Any]:
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        if isinstance(answer, Exception):
            raise answer
        return answer


def _scrape(collector: Any) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(collector)
    return registry


def test_task_state_failures_and_restarts_follow_the_polls() -> None:
    connect = FakeConnect(
        _status("RUNNING", "RUNNING"),
        _status("RUNNING", "FAILED"),
        _status("RUNNING", "FAILED"),  # still failed: not a second failure
        _status("RUNNING", "RUNNING"),  # restarted
    )
    clock = Clock()
    registry = _scrape(ConnectStatusCollector(connect, min_interval_s=5, clock=clock))
    task = {"connector": "bank-postgres", "task": "0"}
    values = []
    for _ in range(4):
        values.append(
            (
                registry.get_sample_value("fraudgraph_connector_task_running", task),
                registry.get_sample_value("fraudgraph_connector_task_failures_total", task),
                registry.get_sample_value("fraudgraph_connector_task_restarts_total", task),
                registry.get_sample_value(
                    "fraudgraph_connector_task_state", {**task, "state": "FAILED"}
                ),
            )
        )
        clock.now += 5
    assert values == [
        (1.0, 0.0, 0.0, 0.0),
        (0.0, 1.0, 0.0, 1.0),
        (0.0, 1.0, 0.0, 1.0),
        (1.0, 1.0, 1.0, 0.0),
    ]
    assert registry.get_sample_value("fraudgraph_connect_up") == 1.0
    assert registry.get_sample_value("fraudgraph_connector_running", {"connector": "bank-postgres"})


def test_polls_are_cached_between_scrapes() -> None:
    connect = FakeConnect(_status("RUNNING", "RUNNING"))
    clock = Clock()
    registry = _scrape(ConnectStatusCollector(connect, min_interval_s=5, clock=clock))
    assert connect.calls == 0  # registering describes, it does not poll
    generate_latest(registry)
    clock.now = 4.9
    generate_latest(registry)
    assert connect.calls == 1
    clock.now = 5.0
    generate_latest(registry)
    assert connect.calls == 2


def test_connect_down_reads_as_down_with_no_stale_task_state() -> None:
    connect = FakeConnect(_status("RUNNING", "RUNNING"), ConnectionError("refused"))
    clock = Clock()
    registry = _scrape(ConnectStatusCollector(connect, min_interval_s=0, clock=clock))
    assert registry.get_sample_value("fraudgraph_connect_up") == 1.0
    assert registry.get_sample_value("fraudgraph_connect_up") == 0.0
    task = {"connector": "bank-postgres", "task": "0"}
    assert registry.get_sample_value("fraudgraph_connector_task_running", task) is None


def test_a_failed_connector_without_tasks_still_reports() -> None:
    registry = _scrape(ConnectStatusCollector(FakeConnect(_status("FAILED"))))
    assert (
        registry.get_sample_value("fraudgraph_connector_running", {"connector": "bank-postgres"})
        == 0.0
    )


def test_lag_is_labelled_with_the_group_and_dropped_when_kafka_does_not_answer() -> None:
    answers: list[dict[PartitionKey, int] | Exception] = [
        {("bank.bank.transactions", 0): 7, ("bank.bank.transactions", 1): 0},
        LagUnavailableError("timed out"),
    ]

    def measure() -> dict[PartitionKey, int]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    clock = Clock()
    registry = _scrape(ConsumerLagCollector(measure, "g1", min_interval_s=5, clock=clock))
    labels = {"group": "g1", "topic": "bank.bank.transactions", "partition": "0"}
    assert registry.get_sample_value("fraudgraph_consumer_lag", labels) == 7.0
    assert registry.get_sample_value("fraudgraph_consumer_lag_measured", {"group": "g1"}) == 1.0
    clock.now = 5
    text = generate_latest(registry).decode()
    assert "fraudgraph_consumer_lag{" not in text
    assert 'fraudgraph_consumer_lag_measured{group="g1"} 0.0' in text

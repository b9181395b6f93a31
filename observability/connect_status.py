"""Kafka Connect / Debezium connector and task state as Prometheus series.

Connect's REST API (`GET /connectors?expand=status`) says what runs now; it
keeps no history of failures or restarts. This collector polls it when
Prometheus scrapes (at most every `min_interval_s`, so several scrapers or a
quick re-scrape cost one call) and counts the transitions it observes: a task
seen FAILED after being seen otherwise, and a task seen RUNNING again after
being seen not running. A failure and restart that both fall between two polls
go unseen; Connect's own JMX metrics (task-error counters) cover that case.

The fetch is injected (a callable returning the expanded status document), so
this module imports nothing of `connectors/` and is unit-tested with plain dicts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from fraudgraph.observability.logs import get_logger

log = get_logger(__name__)

# Connect's task and connector states (AbstractStatus.State).
STATES = ("RUNNING", "FAILED", "PAUSED", "UNASSIGNED", "RESTARTING", "STOPPED")
RUNNING, FAILED = "RUNNING", "FAILED"

# name -> {"status": {"connector": {"state": ...}, "tasks": [{"id": 0, "state": ...}]}}
StatusFetch = Callable[[], Mapping[str, Any]]
TaskKey = tuple[str, str]  # (connector, task id)


class ConnectStatusCollector(Collector):
    """Exports connector/task state polled from Connect's REST API on scrape."""

    def __init__(
        self,
        fetch: StatusFetch,
        min_interval_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._min_interval_s = min_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._polled_at: float | None = None
        self._up = False
        self._connectors: dict[str, str] = {}  # connector -> state
        self._tasks: dict[TaskKey, str] = {}  # (connector, task) -> state, last poll
        self._failures: dict[TaskKey, int] = {}
        self._restarts: dict[TaskKey, int] = {}

    def describe(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        # Names only: without describe(), registering would call collect() and Connect.
        yield from self._families()

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        with self._lock:
            now = self._clock()
            if self._polled_at is None or now - self._polled_at >= self._min_interval_s:
                self._poll()
                self._polled_at = now
            yield from self._families(filled=True)

    def _poll(self) -> None:
        try:
            document = self._fetch()
        except Exception as error:  # noqa: BLE001 - any failure reads as "Connect down"
            if self._up:
                log.warning("connect_status_unavailable", error=str(error)[:300])
            self._up = False
            self._connectors, self._tasks = {}, {}
            return
        self._up = True
        connectors: dict[str, str] = {}
        tasks: dict[TaskKey, str] = {}
        for name, entry in document.items():
            status = (entry or {}).get("status") or {}
            connectors[name] = str((status.get("connector") or {}).get("state", "UNASSIGNED"))
            for task in status.get("tasks") or []:
                tasks[(name, str(task.get("id")))] = str(task.get("state", "UNASSIGNED"))
        for key, state in tasks.items():
            before = self._tasks.get(key)
            if before is None:
                continue  # first sight of the task: no transition observed yet
            if state == FAILED and before != FAILED:
                self._failures[key] = self._failures.get(key, 0) + 1
            if state == RUNNING and before != RUNNING:
                self._restarts[key] = self._restarts.get(key, 0) + 1
        self._connectors, self._tasks = connectors, tasks

    def _families(self, filled: bool = False) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        up = GaugeMetricFamily(
            "fraudgraph_connect_up", "1 when Kafka Connect's REST API answered the last poll."
        )
        connector_running = GaugeMetricFamily(
            "fraudgraph_connector_running",
            "1 when the connector itself is RUNNING, 0 otherwise (from Connect's REST status).",
            labels=["connector"],
        )
        task_running = GaugeMetricFamily(
            "fraudgraph_connector_task_running",
            "1 when the Kafka Connect task is RUNNING, 0 otherwise (from Connect's REST status).",
            labels=["connector", "task"],
        )
        task_state = GaugeMetricFamily(
            "fraudgraph_connector_task_state",
            "1 for the task's current state (RUNNING, FAILED, PAUSED, ...), 0 for the others.",
            labels=["connector", "task", "state"],
        )
        failures = CounterMetricFamily(
            "fraudgraph_connector_task_failures",
            "Times this exporter saw a task turn FAILED (between two of its polls).",
            labels=["connector", "task"],
        )
        restarts = CounterMetricFamily(
            "fraudgraph_connector_task_restarts",
            "Times this exporter saw a task RUNNING again after seeing it not running.",
            labels=["connector", "task"],
        )
        if filled:
            up.add_metric([], 1.0 if self._up else 0.0)
            for name, state in sorted(self._connectors.items()):
                connector_running.add_metric([name], 1.0 if state == RUNNING else 0.0)
            for (name, task), state in sorted(self._tasks.items()):
                task_running.add_metric([name, task], 1.0 if state == RUNNING else 0.0)
                for candidate in STATES:
                    task_state.add_metric([name, task, candidate], float(state == candidate))
                failures.add_metric([name, task], self._failures.get((name, task), 0))
                restarts.add_metric([name, task], self._restarts.get((name, task), 0))
        yield from (up, connector_running, task_running, task_state, failures, restarts)

"""Community detection over the whole graph, run periodically by the worker.

The stream's identity_ring sees a ring grow one customer at a time; Louvain over the
suspicious subgraph sees rings the increments cannot (a ring bound by several weak
links). It runs in a child process, not a thread of the worker: networkx is pure
Python and would hold the GIL for seconds, stalling the batches (and their latency).
Only the worker holding partition 0 of the transactions topic runs it, so several
workers do not repeat the same work. Ring alert ids are stable and the worker
remembers which it published, so the next run produces only rings that are new or
grew to a new size tier; after a restart or a rebalance a run may repeat ids, which
consumers and the webhook worker deduplicate.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from fraudgraph.settings import Settings


@dataclass(frozen=True)
class ClusterParams:
    """Knobs of a community run (defaults of `fraudgraph analyze clusters`)."""

    min_size: int = 3
    min_score: float = 0.6
    max_holders: int = 25
    max_device_users: int = 5
    seed: int = 7
    resolution: float = 1.0


@dataclass(frozen=True)
class ClusterRun:
    links: int
    rings: int
    published: list[str]  # ids of the alerts this run produced
    seconds: float


def run_cluster_job(
    published: frozenset[str] = frozenset(), params: ClusterParams = ClusterParams()
) -> ClusterRun:
    """Read the suspicious subgraph, find rings, publish the alerts not in `published`
    (child process)."""
    from fraudgraph.detection import clusters as analysis  # noqa: PLC0415 - networkx in the child only
    from fraudgraph.graph.connection import open_driver  # noqa: PLC0415

    began = time.perf_counter()
    settings = Settings()  # the worker's environment, inherited by the child
    with open_driver(settings) as driver:
        found = analysis.fetch_suspicious_links(
            driver, max_holders=params.max_holders, max_device_users=params.max_device_users
        )
    rings = analysis.find_rings(
        found.links,
        found.reported,
        min_size=params.min_size,
        seed=params.seed,
        resolution=params.resolution,
    )
    findings = analysis.ring_findings(rings, found.accounts_of, min_score=params.min_score)
    sent = analysis.produce_ring_alerts(settings, findings, time.time_ns() // 1_000_000, published)
    return ClusterRun(len(found.links), len(rings), sent, time.perf_counter() - began)


def leads_cluster_runs(assigned: Iterable[tuple[str, int]], transactions_topic: str) -> bool:
    """Whether this worker holds partition 0 of the transactions topic (one worker does)."""
    return any(topic == transactions_topic and part == 0 for topic, part in assigned)


class PublishedRings:
    """Ids of the ring alerts this worker published, newest last, bounded."""

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._ids: dict[str, None] = {}

    def snapshot(self) -> frozenset[str]:
        return frozenset(self._ids)

    def add(self, alert_ids: Iterable[str]) -> None:
        for alert_id in alert_ids:
            self._ids.pop(alert_id, None)
            self._ids[alert_id] = None
        while len(self._ids) > self.limit:
            del self._ids[next(iter(self._ids))]

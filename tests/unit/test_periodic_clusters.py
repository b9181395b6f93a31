"""`fraudgraph analyze clusters --every`: runs again and again, outliving a service outage."""

from __future__ import annotations

import os
import signal

from fraudgraph.detection.cli import run_periodically
from fraudgraph.detection.periodic import PublishedRings, leads_cluster_runs
from fraudgraph.graph.errors import GraphUnavailableError


def test_runs_until_sigterm_and_a_failed_run_does_not_stop_it() -> None:
    previous = signal.getsignal(signal.SIGTERM)
    calls: list[int] = []

    def run_once() -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            raise GraphUnavailableError("Neo4j restarting")
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    try:
        run_periodically(run_once, every=0.01)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert calls == [0, 1, 2]


def test_only_the_worker_holding_partition_0_of_transactions_runs_louvain() -> None:
    topic = "bank.bank.transactions"
    assert leads_cluster_runs([("bank.bank.customers", 0), (topic, 0)], topic)
    assert not leads_cluster_runs([("bank.bank.customers", 0), (topic, 1), (topic, 2)], topic)
    assert not leads_cluster_runs([], topic)


def test_published_ring_ids_are_remembered_up_to_a_bound() -> None:
    published = PublishedRings(limit=3)
    published.add(["a", "b", "c"])
    published.add(["a", "d"])  # "a" seen again: newest now; "b" is the oldest
    assert published.snapshot() == frozenset({"c", "a", "d"})

"""The agent's last line of defence: an error the processor cannot handle stops the worker."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import NoReturn

import pytest

from fraudgraph.cdc.changes import RowChange
from fraudgraph.graph.errors import GraphQueryError
from fraudgraph.graph.mapping import default_mapping
from fraudgraph.graph.writer import WriteResult
from fraudgraph.observability.lag import LagUnavailableError
from fraudgraph.stream.app import EXIT_FATAL, GroupSharing, process_or_exit, shares_partitions
from fraudgraph.stream.deadletter import DeadLetter
from fraudgraph.stream.processor import BatchProcessor
from fraudgraph.stream.records import RawRecord

ENVELOPE = (
    b'{"op": "c", "before": null, "source": {"table": "merchants", "lsn": 7, "ts_ms": 1},'
    b' "after": {"merchant_id": 1, "name": "M", "mcc": "5411", "country": "GB"}}'
)


class _Exited(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _exit(code: int) -> NoReturn:
    raise _Exited(code)


class _Graph:
    def __init__(self, error: Exception | None) -> None:
        self.error = error
        self.applied: list[RowChange] = []

    def apply(self, changes: Sequence[RowChange]) -> WriteResult:
        if self.error is not None:
            raise self.error
        self.applied += changes
        return WriteResult(len(changes), len(changes), 1)


class _Letters:
    def send(self, letters: Sequence[DeadLetter]) -> None:
        assert not letters


def _run(graph: _Graph) -> None:
    processor = BatchProcessor(default_mapping(), graph, _Letters(), sleep=lambda _: None)
    records = [RawRecord("bank.bank.merchants", 0, 5, b'{"merchant_id": 1}', ENVELOPE)]

    async def scenario() -> None:
        with ThreadPoolExecutor(max_workers=1) as executor:
            await process_or_exit(
                asyncio.get_running_loop(), executor, processor, records, exit_process=_exit
            )

    asyncio.run(scenario())


def test_a_query_error_stops_the_process_instead_of_skipping_the_batch() -> None:
    with pytest.raises(_Exited) as stopped:
        _run(_Graph(GraphQueryError("Neo4j refused a statement: syntax")))
    assert stopped.value.code == EXIT_FATAL


def test_a_good_batch_is_applied_and_the_process_goes_on() -> None:
    graph = _Graph(None)
    _run(graph)
    assert [change.key for change in graph.applied] == [{"merchant_id": 1}]


def test_a_worker_knows_when_other_workers_hold_part_of_its_topics() -> None:
    from faust.types import TP  # noqa: PLC0415 - only this test needs faust's types

    topics = ["b.bank.customers", "b.bank.transactions"]
    counts = {"b.bank.customers": 3, "b.bank.transactions": 3}.get
    everything = [TP(t, p) for t in topics for p in range(3)]
    assert not shares_partitions(everything, topics, counts)
    assert shares_partitions(everything[:-1], topics, counts)
    assert shares_partitions([TP("b.bank.customers", p) for p in range(3)], topics, counts)
    assert not shares_partitions([], topics, lambda _: None)  # not known yet: alone


def _answered(counts: dict[str, int] | Exception) -> Future[dict[str, int]]:
    future: Future[dict[str, int]] = Future()
    if isinstance(counts, Exception):
        future.set_exception(counts)
    else:
        future.set_result(counts)
    return future


def test_group_sharing_reads_partition_counts_from_the_brokers_on_each_new_assignment() -> None:
    from faust.types import TP  # noqa: PLC0415 - only this test needs faust's types

    topics = ["b.bank.customers", "b.bank.transactions"]
    answers: list[dict[str, int] | Exception] = [
        LagUnavailableError("broker away"),  # unknown: shared, the safe side
        {"b.bank.customers": 2, "b.bank.transactions": 2},
        {"b.bank.customers": 2, "b.bank.transactions": 2},
    ]
    asked: list[int] = []

    def fetch() -> Future[dict[str, int]]:
        asked.append(1)
        return _answered(answers.pop(0))

    sharing = GroupSharing(topics, fetch)
    everything = [TP(t, p) for t in topics for p in range(2)]

    async def scenario() -> list[bool]:
        return [
            await sharing.now(everything),  # counts unavailable
            await sharing.now(everything),  # asked again: alone
            await sharing.now(everything),  # same assignment: not asked again
            await sharing.now(everything[:-1]),  # rebalanced: asked again, shared
        ]

    assert asyncio.run(scenario()) == [True, False, False, True]
    assert len(asked) == 3


def test_a_topic_not_created_yet_does_not_make_a_lone_worker_shared() -> None:
    from faust.types import TP  # noqa: PLC0415 - only this test needs faust's types

    topics = ["b.bank.customers", "b.bank.fraud_reports"]
    sharing = GroupSharing(topics, lambda: _answered({"b.bank.customers": 2}))
    mine = [TP("b.bank.customers", p) for p in range(2)]
    assert asyncio.run(sharing.now(mine)) is False

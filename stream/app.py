"""The Faust app: CDC topics in, batches through BatchProcessor, acks only afterwards.

Commit order (the at-least-once contract): a batch is written to Neo4j and its
dead letters are acknowledged by Kafka *before* its events are acked, and Faust
commits only acked offsets. A crash anywhere redelivers the batch; the graph
writes are idempotent (LSN-guarded MERGEs), so redelivery changes nothing.

One agent per worker, one batch at a time: acks then always form a contiguous
prefix of each partition, which keeps clear of Faust's known trouble committing
past an in-flight message (faust-streaming issue #606). When other workers share
the group, a batch is acked only after its second judgement (detection/engine.py
`recheck`), about a second later; a timer runs those that fall due while the
stream is idle, so a rebalance's wait for acks ends.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, NoReturn, TypeVar, cast

import faust

from fraudgraph.detection.periodic import PublishedRings, leads_cluster_runs, run_cluster_job
from fraudgraph.graph.mapping import GraphMapping
from fraudgraph.observability import metrics
from fraudgraph.observability.lag import LagProbe, LagUnavailableError, publish_lag
from fraudgraph.observability.logs import get_logger
from fraudgraph.settings import Settings
from fraudgraph.stream.processor import BatchOutcome, BatchProcessor
from fraudgraph.stream.records import RawRecord
from fraudgraph.stream.topics import cdc_topics

log = get_logger(__name__)
EXIT_FATAL = 70  # EX_SOFTWARE: an internal error, not bad input
# How often second judgements that fell due are run while no batch arrives.
SETTLE_INTERVAL_SECONDS = 0.25
# How often the consumer refreshes its metadata, which is how it learns of a topic
# created after it subscribed (a table whose first change comes later, when nothing
# created its topic before): aiokafka's default is five minutes, a stall on a fresh
# stack. The group leader then rebalances and the new topic's partitions are read
# from offset 0. A refresh is one small metadata request.
METADATA_MAX_AGE_MS = 2_000
T = TypeVar("T")


def build_app(settings: Settings, mapping: GraphMapping, processor: BatchProcessor) -> faust.App:
    # Faust creates only the last folder of its datadir: a fresh state folder (a
    # second stack, a clean clone) would otherwise stop the worker at start.
    (settings.state_dir / "faust").mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.worker_group,
        broker=f"kafka://{settings.kafka_bootstrap}",
        key_serializer="raw",
        value_serializer="raw",
        store="memory://",
        # Faust's default is "<group>-data" in the working directory: keep it with the state.
        datadir=str(settings.state_dir / "faust" / "{conf.name}"),
        topic_replication_factor=1,
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        # Large polls and a deep stream buffer: measured 3.7x Faust's defaults here.
        broker_max_poll_records=10_000,
        stream_buffer_maxsize=2 * settings.worker_batch_size,
        broker_commit_interval=1.0,
        # A worker killed outright holds its partitions until its session expires:
        # keep that short so the survivors (or its restart) take over quickly.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=3.0,
        consumer_metadata_max_age_ms=METADATA_MAX_AGE_MS,
    )
    source = app.topic(*cdc_topics(settings, mapping), key_type=bytes, value_type=bytes)
    # Neo4j's driver is synchronous: writes run on one thread so the event loop
    # keeps heart-beating to Kafka while a batch waits for Neo4j.
    writer_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="graph-writer")

    lag = LagProbe(settings.kafka_bootstrap, settings.worker_group, [t for t in source.topics])
    lag_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lag-probe")

    @app.timer(interval=15.0)  # type: ignore[untyped-decorator]
    async def publish_consumer_lag() -> None:
        # Lag is read from the brokers, not from this worker's memory, so the figure
        # (and the alert on it) stays right when this worker is the one that stalled.
        try:
            measured = await asyncio.get_running_loop().run_in_executor(lag_thread, lag.measure)
        except LagUnavailableError as error:
            log.warning("consumer_lag_unavailable", error=str(error)[:200])
            return
        publish_lag(measured)

    if settings.detection_enabled and settings.cluster_interval_seconds > 0:
        schedule_cluster_runs(app, settings)

    @app.task  # type: ignore[untyped-decorator]
    async def mark_up() -> None:
        metrics.WORKER_UP.set(1)

    sharing = GroupSharing(source.topics, lambda: lag_thread.submit(lag.partition_counts))
    # Batches processed but not yet settled, oldest first, and the stream to ack them
    # on; the lock keeps the agent and the timer from settling at the same time.
    unsettled: deque[list[faust.EventT[Any]]] = deque()
    settling = asyncio.Lock()
    streams: list[faust.StreamT[Any]] = []

    async def ack_settled(settled: int) -> None:
        for _ in range(settled):
            for event in unsettled.popleft():
                await streams[0].ack(event)

    @app.timer(interval=SETTLE_INTERVAL_SECONDS)  # type: ignore[untyped-decorator]
    async def settle_idle_batches() -> None:
        # A batch in progress settles what is due when it ends: no need to queue behind it.
        if not unsettled or settling.locked():
            return
        async with settling:
            settled = await run_or_exit(
                asyncio.get_running_loop(), writer_thread, processor.settle_due
            )
            await ack_settled(settled)

    @app.agent(source, concurrency=1)
    async def write_graph(stream: faust.StreamT[Any]) -> None:
        loop = asyncio.get_running_loop()
        streams[:] = [stream]
        # noack_take is missing from faust's StreamT protocol, hence the cast.
        unacked = cast(faust.Stream[Any], cast(faust.Stream[Any], stream).noack())
        shared = False
        async for events in unacked.noack_take(
            settings.worker_batch_size, within=settings.worker_batch_seconds
        ):
            async with settling:
                now_shared = await sharing.now(app.consumer.assignment())
                if now_shared != shared:  # on the writer thread: between batches
                    shared = now_shared
                    await loop.run_in_executor(writer_thread, processor.share_group, shared)
                records = [_raw_record(event) for event in events]
                outcome = await process_or_exit(loop, writer_thread, processor, records)
                unsettled.append(list(events))
                await ack_settled(outcome.settled)

    return app


def shares_partitions(
    assigned: Iterable[Any], topics: Iterable[str], partitions_of: Callable[[str], int | None]
) -> bool:
    """Whether other workers of the group hold some of these topics' partitions."""
    mine: dict[str, int] = {}
    for tp in assigned:
        mine[tp.topic] = mine.get(tp.topic, 0) + 1
    return any(mine.get(topic, 0) < (partitions_of(topic) or 0) for topic in topics)


class GroupSharing:
    """Whether this worker shares its group, checked again whenever its assignment changes.

    The topics' partition counts come from the brokers' metadata. Faust's
    `topic_partitions` reads the group coordinator's snapshot, which only the
    member that computed the assignment is sure to hold: a worker that trusted it
    ran as if alone beside another worker (its cache 300 s stale, no second
    judgement; seen in the rebalance chaos run). Until the counts were read once, the
    worker counts as shared: slower, never wrong.
    """

    def __init__(
        self, topics: Iterable[str], fetch_counts: Callable[[], Future[dict[str, int]]]
    ) -> None:
        self.topics = sorted(set(topics))
        self.fetch_counts = fetch_counts
        self.counts: dict[str, int] = {}
        self._judged_for: frozenset[Any] | None = None

    async def now(self, assigned: Iterable[Any]) -> bool:
        assignment = frozenset(assigned)
        if assignment != self._judged_for:
            try:
                self.counts = await asyncio.wrap_future(self.fetch_counts())
                self._judged_for = assignment
            except LagUnavailableError as error:  # asked again at the next batch
                log.warning("partition_counts_unavailable", error=str(error)[:200])
        if self._judged_for is None:
            return True
        # A topic not created yet (a table with no rows) is nobody's.
        return shares_partitions(assignment, self.topics, self.counts.get)


def schedule_cluster_runs(app: faust.App, settings: Settings) -> None:
    """Louvain over the suspicious subgraph every `cluster_interval_seconds` (see
    detection/periodic.py)."""
    transactions = f"{settings.topic_prefix}.{settings.source_schema}.transactions"
    published = PublishedRings()

    @app.timer(interval=settings.cluster_interval_seconds)  # type: ignore[untyped-decorator]
    async def find_rings_periodically() -> None:
        assigned = [(tp.topic, tp.partition) for tp in app.consumer.assignment()]
        if not leads_cluster_runs(assigned, transactions):
            return
        try:
            # A child per run, gone when the run ends: an idle pool child would outlive a
            # worker killed with SIGKILL. "spawn": a fresh interpreter, not a fork of a
            # process holding Kafka client threads.
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                run = await asyncio.get_running_loop().run_in_executor(
                    pool, run_cluster_job, published.snapshot()
                )
        except Exception as error:  # noqa: BLE001 - the next run may succeed; batches go on
            metrics.CLUSTER_RUNS.labels("failed").inc()
            log.warning("cluster_run_failed", error=f"{type(error).__name__}: {str(error)[:300]}")
            return
        published.add(run.published)
        metrics.CLUSTER_RUNS.labels("ok").inc()
        metrics.CLUSTER_RUN_SECONDS.observe(run.seconds)
        log.info(
            "cluster_run",
            links=run.links,
            rings=run.rings,
            alerts=len(run.published),
            seconds=round(run.seconds, 2),
        )


async def process_or_exit(
    loop: asyncio.AbstractEventLoop,
    executor: Executor,
    processor: BatchProcessor,
    records: list[RawRecord],
    exit_process: Callable[[int], NoReturn] = os._exit,
) -> BatchOutcome:
    """Process a batch; on an error the processor could not handle, stop the process.

    BatchProcessor already retries what is transient and dead-letters bad events, so
    what reaches here is a bug (e.g. Neo4j refusing our own Cypher). Faust would
    restart the agent and go on past this batch, whose offsets could then never be
    committed: a silent stall. Exiting instead makes the failure loud to the
    supervisor (compose `restart:`, systemd) and, as nothing of the batch was acked,
    it is redelivered when the worker comes back.
    """
    where = f"{records[0].topic}/{records[0].partition}@{records[0].offset}" if records else None
    return await run_or_exit(
        loop, executor, lambda: processor.process(records), exit_process, first_offset=where
    )


async def run_or_exit(
    loop: asyncio.AbstractEventLoop,
    executor: Executor,
    step: Callable[[], T],
    exit_process: Callable[[int], NoReturn] = os._exit,
    first_offset: str | None = None,
) -> T:
    """Run one step of the processor on `executor`; stop the process if it raises."""
    try:
        return await loop.run_in_executor(executor, step)
    except Exception as error:  # noqa: BLE001 - every unhandled error must stop the worker
        log.critical(
            "worker_stopping",
            error=f"{type(error).__name__}: {str(error)[:500]}",
            first_offset=first_offset,
        )
        exit_process(EXIT_FATAL)


def _raw_record(event: faust.EventT[Any]) -> RawRecord:
    message = event.message
    raw_headers = message.headers or ()
    pairs = raw_headers.items() if isinstance(raw_headers, Mapping) else raw_headers
    headers = tuple((name, value) for name, value in pairs if isinstance(value, bytes))
    return RawRecord(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        headers=headers,
        # Faust gives the record's timestamp in seconds (float); spans want ms.
        timestamp_ms=round(message.timestamp * 1000) if message.timestamp else None,
    )

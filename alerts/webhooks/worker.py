"""The delivery worker: one consumer loop over the alerts topic and the retry tiers.

Commit order for every batch, as in quix-streams' checkpoint: deliver, then produce
the retries and dead letters and wait for every ack, then commit the batch's
offsets. A crash anywhere before the commit redelivers the batch: delivery is
at-least-once and receivers deduplicate on `webhook-id` (the alert_id).

A retry record that is not due yet waits in the holdback (holdback.py), and its
partition is paused while it waits; the alerts topic and every other partition
keep flowing meanwhile.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AdminClient

from fraudgraph.alerts.webhooks import metrics
from fraudgraph.alerts.webhooks.dispatcher import Dispatcher, Plan
from fraudgraph.alerts.webhooks.holdback import TP, Held, Holdback
from fraudgraph.alerts.webhooks.kafka import (
    KafkaSink,
    OutputSink,
    admin_client,
    ensure_topics,
    list_topics,
    partition_offsets,
)
from fraudgraph.alerts.webhooks.records import (
    BadRecord,
    Incoming,
    Output,
    normalize_headers,
    parse_retry,
)
from fraudgraph.alerts.webhooks.retry import RetryTopics
from fraudgraph.errors import RetryableError
from fraudgraph.observability.logs import get_logger, kafka_client_logger
from fraudgraph.settings import Settings

log = get_logger(__name__)

# A commit that loses a race with a rebalance is harmless: the new owner of the
# partition redelivers from the last commit, and receivers deduplicate.
_REBALANCE_ERRORS = {
    KafkaError.REBALANCE_IN_PROGRESS,
    KafkaError.ILLEGAL_GENERATION,
    KafkaError.UNKNOWN_MEMBER_ID,
    KafkaError._NO_OFFSET,  # librdkafka's name for "nothing to commit"
}
_MAX_WAIT_S = 1.0
_PENDING_EVERY_S = 2.0


class _Batch:
    """What one pass of the loop decided: deliveries, records to produce, offsets."""

    def __init__(self) -> None:
        self.plan = Plan()
        self.done: dict[TP, int] = {}  # partition -> next offset, everything before handled

    def add(self, record: Incoming, plan: Plan) -> None:
        self.plan.jobs.extend(plan.jobs)
        self.plan.outputs.extend(plan.outputs)
        self.done[(record.topic, record.partition)] = record.offset + 1

    def add_output(self, record: Incoming, output: Output) -> None:
        self.add(record, Plan(outputs=[output]))


class DeliveryWorker:
    def __init__(
        self,
        settings: Settings,
        dispatcher: Dispatcher,
        topics: RetryTopics,
        batch_size: int = 64,
        holdback: Holdback | None = None,
    ) -> None:
        self._settings = settings
        self._dispatcher = dispatcher
        self._topics = topics
        self._batch_size = batch_size
        self._holdback = holdback or Holdback()
        self._consumer: Any = None  # confluent_kafka.Consumer once started
        self._sink: OutputSink | None = None
        self._admin: AdminClient | None = None
        self._paused: set[TP] = set()
        self._pending_at = 0.0

    def start(self) -> None:
        """Create the topics (idempotent), connect, and subscribe."""
        settings = self._settings
        bootstrap = settings.kafka_bootstrap
        tiers = self._topics.all()
        ensure_topics(
            bootstrap, [settings.alerts_topic, *tiers, settings.webhooks_deadletter_topic]
        )
        # Tiers of an earlier schedule may still hold retries: consume them too.
        earlier = {t for t in list_topics(bootstrap) if self._is_retry_topic(t)}
        retry_topics = sorted({*tiers, *earlier})
        consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": settings.webhooks_group,
                "client.id": "fraudgraph-webhooks",
                "logger": kafka_client_logger(),
                # Unserved info lines (BGQUEUE at close) bypass the logger: warnings up.
                "log_level": 4,
                "enable.auto.commit": False,
                # A new group delivers what is already on the topic: nothing is lost,
                # and alerts a receiver already has are deduplicated by webhook-id.
                "auto.offset.reset": "earliest",
                # Heartbeats run on librdkafka's own thread, so a short session only
                # shortens how long a killed worker's partitions stay orphaned.
                "session.timeout.ms": 10_000,
                "heartbeat.interval.ms": 2_000,
            }
        )
        self.attach(consumer, KafkaSink(bootstrap), admin_client(bootstrap))
        consumer.subscribe(
            [settings.alerts_topic, *retry_topics],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )
        log.info("deliver_subscribed", alerts=settings.alerts_topic, retry_topics=retry_topics)

    def attach(self, consumer: Any, sink: OutputSink, admin: AdminClient | None = None) -> None:
        """Use these clients: start() passes real ones, unit tests pass fakes."""
        self._consumer, self._sink, self._admin = consumer, sink, admin

    def run(self, stop: threading.Event) -> None:
        """Deliver until `stop` is set; the batch in flight is finished and committed."""
        while not stop.is_set():
            self.run_once()

    def run_once(self) -> None:
        """Poll, deliver what is due, make retries durable, commit, then adjust pauses."""
        self._process(self._poll(self._wait_s()))
        self._apply_pauses()
        self._refresh_pending()

    def close(self) -> None:
        self._dispatcher.close()
        if self._sink is not None:
            self._sink.close()
        if self._consumer is not None:
            self._consumer.close()  # leaves the group at once: no session timeout to wait out
            self._consumer = None

    # -- one batch ----------------------------------------------------------------

    def _poll(self, timeout: float) -> list[Message]:
        # poll() returns as soon as one record is there; consume(timeout=0) then takes
        # what is already fetched, so a lone alert never waits for a full batch.
        first = self._consumer.poll(timeout)
        if first is None:
            return []
        rest: list[Message] = self._consumer.consume(num_messages=self._batch_size - 1, timeout=0)
        return [first, *rest]

    def _process(self, messages: list[Message]) -> None:
        now_ms = self._dispatcher.now_ms()
        batch = _Batch()
        for message in messages:
            if (error := message.error()) is not None:
                self._on_error(error)
                continue
            record = _incoming(message)
            if not self._is_retry_topic(record.topic):
                batch.add(record, self._dispatcher.from_alert(record))
                continue
            try:
                state = parse_retry(record.headers)
            except BadRecord as problem:
                batch.add_output(record, self._dispatcher.unreadable_retry(record, str(problem)))
                continue
            tp = (record.topic, record.partition)
            if state.due_ms > now_ms or self._holdback.holding(tp):
                self._holdback.hold(Held(record, state))  # behind its partition's head
            else:
                batch.add(record, self._dispatcher.from_retry(record, state))
        for held in self._holdback.take_due(now_ms):
            batch.add(held.record, self._dispatcher.from_retry(held.record, held.state))
        if not batch.done:
            return
        outputs = batch.plan.outputs + self._dispatcher.deliver(batch.plan.jobs)
        assert self._sink is not None
        self._sink.send(outputs)  # raises unless every retry and dead letter is acked
        self._commit({tp: self._commit_offset(tp, done) for tp, done in batch.done.items()})

    def _is_retry_topic(self, topic: str) -> bool:
        # A prefix such as "fraud" must not turn the alerts topic into a retry tier.
        ours = (self._settings.alerts_topic, self._settings.webhooks_deadletter_topic)
        return topic not in ours and self._topics.is_retry_topic(topic)

    def _commit_offset(self, tp: TP, done: int) -> int:
        """Up to the oldest held record of `tp`, if it holds any, else past the last handled."""
        held = self._holdback.first_offset(tp)
        return done if held is None else held

    def _commit(self, offsets: dict[TP, int]) -> None:
        if not offsets:
            return
        partitions = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        try:
            self._consumer.commit(offsets=partitions, asynchronous=False)
        except KafkaException as error:
            if error.args[0].code() not in _REBALANCE_ERRORS:
                raise RetryableError(f"offset commit failed: {error}") from error
            log.warning("commit_lost_to_rebalance", error=str(error)[:200])

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal():
            raise RetryableError(f"Kafka consumer failed: {error}")
        log.warning("kafka_error", error=str(error)[:200])

    # -- waiting for retries ------------------------------------------------------

    def _apply_pauses(self) -> None:
        wanted = self._holdback.to_pause(self._dispatcher.now_ms())
        if pause := wanted - self._paused:
            self._consumer.pause([TopicPartition(t, p) for t, p in pause])
        if resume := self._paused - wanted:
            self._consumer.resume([TopicPartition(t, p) for t, p in resume])
        self._paused = wanted

    def _wait_s(self) -> float:
        now_ms = self._dispatcher.now_ms()
        next_ms = self._holdback.next_event_ms(now_ms, self._paused)
        if next_ms is None:
            return _MAX_WAIT_S
        return min(_MAX_WAIT_S, max(0.0, (next_ms - now_ms) / 1000))

    def _on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        consumer.assign(partitions)
        # A partition held by this worker before a rebalance must not stay paused.
        consumer.resume(partitions)
        log.info("partitions_assigned", count=len(partitions))

    def _on_revoke(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        # Held records were never committed: the partition's next owner reads them again.
        revoked = {(partition.topic, partition.partition) for partition in partitions}
        self._holdback.drop(revoked)
        self._paused -= revoked
        log.info("partitions_revoked", count=len(partitions))

    # -- metrics --------------------------------------------------------------------

    def _refresh_pending(self) -> None:
        if time.monotonic() < self._pending_at:
            return
        self._pending_at = time.monotonic() + _PENDING_EVERY_S
        try:
            metrics.PENDING.set(self._backlog())
        except KafkaException as error:
            log.debug("pending_unknown", error=str(error)[:200])

    def _backlog(self) -> int:
        """Records on this worker's retry partitions past the group's committed offset."""
        assigned = [tp for tp in self._consumer.assignment() if self._is_retry_topic(tp.topic)]
        if not assigned or self._admin is None:
            return 0
        committed = {
            (tp.topic, tp.partition): tp.offset
            for tp in self._consumer.committed(assigned, timeout=5)
        }
        ends = partition_offsets(self._admin, committed, latest=True)
        # Never committed: pending from the start of the log.
        starts = partition_offsets(
            self._admin, [tp for tp, offset in committed.items() if offset < 0], latest=False
        )
        return sum(
            max(0, ends[tp] - (offset if offset >= 0 else starts[tp]))
            for tp, offset in committed.items()
        )


def _incoming(message: Message) -> Incoming:
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    # Only error events lack these, and those never get here.
    assert topic is not None and partition is not None and offset is not None
    headers = message.headers()
    return Incoming(
        topic=topic,
        partition=partition,
        offset=offset,
        key=_as_bytes(message.key()),
        value=_as_bytes(message.value()),
        headers=normalize_headers(list(headers.items()) if isinstance(headers, dict) else headers),
    )


def _as_bytes(data: str | bytes | None) -> bytes | None:
    return data.encode() if isinstance(data, str) else data

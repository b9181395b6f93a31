"""The delivery loop without Kafka: commit order, held retries, pauses, failed produce."""

import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from confluent_kafka import TopicPartition
from standardwebhooks.webhooks import Webhook

from fraudgraph.alerts.webhooks.config import Endpoint, RetryPolicy, WebhookConfig
from fraudgraph.alerts.webhooks.disabled import DisabledEndpoints
from fraudgraph.alerts.webhooks.dispatcher import Dispatcher
from fraudgraph.alerts.webhooks.records import Output
from fraudgraph.alerts.webhooks.retry import RetryTopics
from fraudgraph.alerts.webhooks.sender import Sender
from fraudgraph.alerts.webhooks.testing import make_alert, new_secret
from fraudgraph.alerts.webhooks.worker import DeliveryWorker
from fraudgraph.errors import RetryableError
from fraudgraph.settings import Settings

ALERTS = "t.alerts"
SECRET = new_secret()


class FakeMessage:
    def __init__(
        self, topic: str, partition: int, offset: int, *, key: bytes, value: bytes, headers: Any
    ) -> None:
        self._fields = (topic, partition, offset, key, value, headers)

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return self._fields[0]

    def partition(self) -> int:
        return self._fields[1]

    def offset(self) -> int:
        return self._fields[2]

    def key(self) -> bytes:
        return self._fields[3]

    def value(self) -> bytes:
        return self._fields[4]

    def headers(self) -> Any:
        return self._fields[5]


class FakeConsumer:
    """Hands out queued messages once; records commits, pauses and resumes in `events`."""

    def __init__(self, events: list[tuple[str, Any]]) -> None:
        self.queue: list[FakeMessage] = []
        self.events = events

    def poll(self, _timeout: float) -> FakeMessage | None:
        return self.queue.pop(0) if self.queue else None

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        taken, self.queue = self.queue[:num_messages], self.queue[num_messages:]
        return taken

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        assert not asynchronous
        self.events.append(("commit", {(tp.topic, tp.partition): tp.offset for tp in offsets}))

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.events.append(("pause", {(tp.topic, tp.partition) for tp in partitions}))

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.events.append(("resume", {(tp.topic, tp.partition) for tp in partitions}))

    def assignment(self) -> list[TopicPartition]:
        return []

    def close(self) -> None:
        self.events.append(("close", None))


class FakeSink:
    def __init__(self, events: list[tuple[str, Any]]) -> None:
        self.events = events
        self.fail = False
        self.sent: list[Output] = []

    def send(self, outputs: Sequence[Output]) -> None:
        if self.fail and outputs:
            raise RetryableError("broker gone")
        if outputs:
            self.sent.extend(outputs)
            self.events.append(("produce", [o.topic for o in outputs]))

    def close(self) -> None:
        pass


class Loop:
    def __init__(self, tmp_path: Path) -> None:
        self.now = 1_000.0
        self.status = 200
        self.events: list[tuple[str, Any]] = []
        endpoint = Endpoint.model_validate(
            {"name": "cases", "url": "http://cases.test/", "secret_env": "S"}
        )
        policy = RetryPolicy(schedule_seconds=(5,), jitter=0)
        config = WebhookConfig((endpoint,), {"cases": Webhook(SECRET)}, policy, concurrency=2)
        client = httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(self.status)))
        self.topics = RetryTopics("t.retry", policy)
        self.dispatcher = Dispatcher(
            config,
            Sender(client, config.signers),
            DisabledEndpoints(tmp_path / "d.json"),
            self.topics,
            "t.dlq",
            clock=lambda: self.now,
            rng=random.Random(1),
        )
        settings = Settings(alerts_topic=ALERTS, webhooks_deadletter_topic="t.dlq")
        self.worker = DeliveryWorker(settings, self.dispatcher, self.topics)
        self.consumer = FakeConsumer(self.events)
        self.sink = FakeSink(self.events)
        self.worker.attach(self.consumer, self.sink)
        self.offsets: dict[str, int] = {}

    def alert(self, anchor: str, partition: int = 0) -> None:
        alert = make_alert(anchor)
        self._queue(ALERTS, partition, str(alert["alert_id"]).encode(), orjson.dumps(alert), None)

    def retry(self, output: Output, partition: int = 0) -> None:
        self._queue(output.topic, partition, output.key, output.value, list(output.headers))

    def _queue(self, topic: str, partition: int, key: bytes, value: bytes, headers: Any) -> None:
        offset = self.offsets.get(f"{topic}/{partition}", 0)
        self.offsets[f"{topic}/{partition}"] = offset + 1
        self.consumer.queue.append(
            FakeMessage(topic, partition, offset, key=key, value=value, headers=headers)
        )

    def take(self) -> list[tuple[str, Any]]:
        taken, self.events[:] = list(self.events), []
        return taken


@pytest.fixture
def loop(tmp_path: Path) -> Iterator[Loop]:
    built = Loop(tmp_path)
    yield built
    built.dispatcher.close()


def test_a_delivered_alert_is_committed_past(loop: Loop) -> None:
    loop.alert("a")
    loop.alert("b")
    loop.worker.run_once()
    assert loop.take() == [("commit", {(ALERTS, 0): 2})]


def test_a_failed_delivery_is_produced_to_its_tier_before_the_commit(loop: Loop) -> None:
    loop.status = 503
    loop.alert("a")
    loop.worker.run_once()
    assert loop.take() == [("produce", ["t.retry.5s"]), ("commit", {(ALERTS, 0): 1})]


def test_nothing_is_committed_when_the_retry_cannot_be_made_durable(loop: Loop) -> None:
    loop.status = 500
    loop.sink.fail = True
    loop.alert("a")
    with pytest.raises(RetryableError):
        loop.worker.run_once()
    assert [kind for kind, _ in loop.take()] == []


def test_a_retry_waits_until_due_without_holding_up_alerts(loop: Loop) -> None:
    loop.status = 500
    loop.alert("a")
    loop.worker.run_once()
    (retry,) = loop.sink.sent
    tp = (retry.topic, 0)
    loop.take()
    # The retry record is read back at once, 5 s before it is due; a new alert
    # behind it on the alerts topic is delivered meanwhile.
    loop.retry(retry)
    loop.status = 200
    loop.alert("b")
    loop.worker.run_once()
    # Only the alert is committed; the held retry is not, and its partition is
    # paused while its head is far off.
    assert loop.take() == [("commit", {(ALERTS, 0): 2}), ("pause", {tp})]
    loop.now += 4  # within the lead time: resumed, so what lies behind it is fetched
    loop.worker.run_once()
    assert loop.take() == [("resume", {tp})]
    loop.now += 1.5  # due: delivered, then committed past
    loop.worker.run_once()
    assert loop.take() == [("commit", {tp: 1})]


def test_close_closes_the_consumer(loop: Loop) -> None:
    loop.worker.close()
    assert loop.take() == [("close", None)]

"""From records to deliveries: fan-out, filters, retry tiers, 410, giving up, dead letters."""

import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from prometheus_client import REGISTRY
from standardwebhooks.webhooks import Webhook

from fraudgraph.alerts.webhooks.config import Endpoint, RetryPolicy, WebhookConfig
from fraudgraph.alerts.webhooks.disabled import DisabledEndpoints
from fraudgraph.alerts.webhooks.dispatcher import Dispatcher
from fraudgraph.alerts.webhooks.records import BadRecord, Incoming, Output, header, parse_retry
from fraudgraph.alerts.webhooks.retry import RetryTopics
from fraudgraph.alerts.webhooks.sender import Sender
from fraudgraph.alerts.webhooks.testing import make_alert, new_secret

SECRET = new_secret()
NOW = 1_750_000_000.0
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
Answer = Callable[[httpx.Request], httpx.Response]


def endpoint(name: str, **fields: object) -> Endpoint:
    url = f"http://{name}.test/hook"
    return Endpoint.model_validate({"name": name, "url": url, "secret_env": "S", **fields})


class Harness:
    def __init__(self, tmp_path: Path, endpoints: list[Endpoint], policy: RetryPolicy) -> None:
        self.answers: dict[str, Answer] = {e.name: lambda _: httpx.Response(200) for e in endpoints}
        self.requests: list[httpx.Request] = []
        self.now = NOW
        self.disabled = DisabledEndpoints(tmp_path / "disabled.json")
        self.topics = RetryTopics("hooks.retry", policy)
        config = WebhookConfig(
            tuple(endpoints), {e.name: Webhook(SECRET) for e in endpoints}, policy, concurrency=4
        )
        client = httpx.Client(transport=httpx.MockTransport(self._answer))
        self.dispatcher = Dispatcher(
            config,
            Sender(client, config.signers),
            self.disabled,
            self.topics,
            "hooks.dlq",
            clock=lambda: self.now,
            rng=random.Random(5),
        )

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        Webhook(SECRET).verify(request.content, dict(request.headers))
        return self.answers[str(request.url.host).removesuffix(".test")](request)

    def alert_record(self, alert: dict[str, object], offset: int = 0) -> Incoming:
        headers = (("traceparent", TRACEPARENT.encode()),)
        key = str(alert["alert_id"]).encode()
        return Incoming("fraud.alerts", 0, offset, key, orjson.dumps(alert), headers)

    def run_alert(self, record: Incoming) -> list[Output]:
        plan = self.dispatcher.from_alert(record)
        return plan.outputs + self.dispatcher.deliver(plan.jobs)

    def run_retry(self, output: Output) -> list[Output]:
        record = Incoming(output.topic, 0, 0, output.key, output.value, output.headers)
        plan = self.dispatcher.from_retry(record, parse_retry(record.headers))
        return plan.outputs + self.dispatcher.deliver(plan.jobs)


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    policy = RetryPolicy(schedule_seconds=(5, 30), give_up_after_seconds=3600, jitter=0.2)
    built = Harness(tmp_path, [endpoint("cases"), endpoint("pager", kinds=["cluster"])], policy)
    yield built
    built.dispatcher.close()


def attempts(endpoint: str, outcome: str) -> float:
    labels = {"endpoint": endpoint, "outcome": outcome}
    return REGISTRY.get_sample_value("fraudgraph_webhook_attempts_total", labels) or 0.0


def headers_of(output: Output) -> dict[str, str]:
    return {k: v.decode() for k, v in output.headers}


def test_an_alert_goes_to_each_endpoint_that_wants_it(harness: Harness) -> None:
    before = attempts("cases", "delivered"), attempts("pager", "filtered")
    alert = make_alert("a", kind="link")
    assert harness.run_alert(harness.alert_record(alert)) == []
    (request,) = harness.requests
    assert request.url.host == "cases.test"
    assert request.headers["webhook-id"] == alert["alert_id"]
    assert request.headers["traceparent"] == TRACEPARENT
    assert orjson.loads(request.content) == alert
    assert (attempts("cases", "delivered"), attempts("pager", "filtered")) == (
        before[0] + 1,
        before[1] + 1,
    )


def test_a_failed_attempt_waits_on_the_first_tier(harness: Harness) -> None:
    harness.answers["cases"] = lambda _: httpx.Response(503)
    record = harness.alert_record(make_alert("a"))
    (retry,) = harness.run_alert(record)
    assert retry.topic == "hooks.retry.5s"
    assert retry.key == record.key
    assert retry.value == record.value  # the exact body that was signed
    headers = headers_of(retry)
    assert headers["traceparent"] == TRACEPARENT
    assert headers["webhook.endpoint"] == "cases"
    assert headers["webhook.attempt"] == "2"
    assert headers["webhook.first_attempt_ms"] == str(int(NOW * 1000))
    assert 4000 <= int(headers["webhook.due_ms"]) - NOW * 1000 <= 6000
    assert headers["webhook.last_error"] == "HTTP 503"


def test_retries_climb_the_tiers_and_keep_the_first_attempt_time(harness: Harness) -> None:
    harness.answers["cases"] = lambda _: httpx.Response(500)
    (first,) = harness.run_alert(harness.alert_record(make_alert("a")))
    harness.now += 6
    (second,) = harness.run_retry(first)
    assert second.topic == "hooks.retry.30s"
    harness.now += 40
    (third,) = harness.run_retry(second)
    assert third.topic == "hooks.retry.30s"  # the last tier repeats
    headers = headers_of(third)
    assert headers["webhook.attempt"] == "4"
    assert headers["webhook.first_attempt_ms"] == str(int(NOW * 1000))
    names = [k for k, _ in third.headers]
    assert len(names) == len(set(names))  # state replaced, not appended
    assert len({r.headers["webhook-id"] for r in harness.requests}) == 1


def test_a_retry_that_succeeds_leaves_nothing_behind(harness: Harness) -> None:
    harness.answers["cases"] = lambda _: httpx.Response(500)
    (retry,) = harness.run_alert(harness.alert_record(make_alert("a")))
    harness.answers["cases"] = lambda _: httpx.Response(200)
    assert harness.run_retry(retry) == []
    assert [r.headers["traceparent"] for r in harness.requests] == [TRACEPARENT] * 2


def test_giving_up_dead_letters_the_alert_with_its_history(harness: Harness) -> None:
    harness.answers["cases"] = lambda _: httpx.Response(502)
    record = harness.alert_record(make_alert("a"))
    (retry,) = harness.run_alert(record)
    harness.now += 3600
    before = attempts("cases", "gave_up")
    (letter,) = harness.run_retry(retry)
    assert letter.topic == "hooks.dlq"
    assert (letter.key, letter.value) == (record.key, record.value)
    headers = headers_of(letter)
    assert headers["dlq.reason"] == "gave_up"
    assert headers["dlq.endpoint"] == "cases"
    assert headers["dlq.attempts"] == "2"
    assert headers["dlq.last_error"] == "HTTP 502"
    assert headers["traceparent"] == TRACEPARENT
    assert not any(k.startswith("webhook.") for k in headers)
    assert attempts("cases", "gave_up") == before + 1


def test_410_disables_the_endpoint_and_stops_retrying(harness: Harness, tmp_path: Path) -> None:
    harness.answers["cases"] = lambda _: httpx.Response(410)
    before = attempts("cases", "gone")
    assert harness.run_alert(harness.alert_record(make_alert("a"))) == []
    assert attempts("cases", "gone") == before + 1
    # Later alerts are not even attempted, and the decision survives a restart.
    assert harness.dispatcher.from_alert(harness.alert_record(make_alert("b"))).jobs == []
    reloaded = DisabledEndpoints(tmp_path / "disabled.json")
    reloaded.load()
    assert reloaded.is_disabled(endpoint("cases"))
    assert not reloaded.is_disabled(endpoint("pager"))
    assert len(harness.requests) == 1


def test_a_pending_retry_of_a_disabled_endpoint_is_dropped(harness: Harness) -> None:
    harness.answers["cases"] = lambda _: httpx.Response(500)
    (retry,) = harness.run_alert(harness.alert_record(make_alert("a")))
    harness.answers["cases"] = lambda _: httpx.Response(410)
    harness.run_alert(harness.alert_record(make_alert("b")))
    requests = len(harness.requests)
    assert harness.run_retry(retry) == []
    assert len(harness.requests) == requests


def test_a_new_url_or_enable_turns_a_disabled_endpoint_back_on(tmp_path: Path) -> None:
    disabled = DisabledEndpoints(tmp_path / "d.json")
    disabled.disable(endpoint("cases"), "HTTP 410")
    moved = Endpoint.model_validate({"name": "cases", "url": "http://new.test/", "secret_env": "S"})
    assert disabled.is_disabled(endpoint("cases"))
    assert not disabled.is_disabled(moved)
    assert disabled.enable("cases")
    assert not disabled.enable("cases")
    assert not disabled.is_disabled(endpoint("cases"))


def test_shadow_alerts_are_never_delivered(harness: Harness) -> None:
    plan = harness.dispatcher.from_alert(
        harness.alert_record(make_alert("s", kind="cluster", shadow=True))
    )
    assert plan.jobs == []
    assert plan.outputs == []


@pytest.mark.parametrize(
    "value",
    [b"not json", b"[1, 2]", orjson.dumps({"alert_id": "x"}), b"\xff\xfe"],
)
def test_an_invalid_alert_is_dead_lettered_once(harness: Harness, value: bytes) -> None:
    record = Incoming("fraud.alerts", 1, 7, b"k", value, ())
    plan = harness.dispatcher.from_alert(record)
    assert plan.jobs == []
    (letter,) = plan.outputs
    assert (letter.topic, letter.key, letter.value) == ("hooks.dlq", b"k", value)
    assert headers_of(letter)["dlq.reason"] == "invalid_alert"


def test_a_tombstone_is_ignored(harness: Harness) -> None:
    plan = harness.dispatcher.from_alert(Incoming("fraud.alerts", 0, 0, b"k", None, ()))
    assert (plan.jobs, plan.outputs) == ([], [])


def test_a_retry_for_a_removed_endpoint_is_dead_lettered(harness: Harness) -> None:
    harness.answers["cases"] = lambda _: httpx.Response(500)
    (retry,) = harness.run_alert(harness.alert_record(make_alert("a")))
    renamed = Output(
        retry.topic,
        retry.key,
        retry.value,
        tuple((k, b"gone-away" if k == "webhook.endpoint" else v) for k, v in retry.headers),
    )
    (letter,) = harness.run_retry(renamed)
    headers = headers_of(letter)
    assert (headers["dlq.reason"], headers["dlq.endpoint"]) == ("endpoint_unknown", "gone-away")
    assert headers["dlq.attempts"] == "1"


def test_unreadable_retry_state_is_refused() -> None:
    with pytest.raises(BadRecord, match=r"webhook\.attempt"):
        parse_retry(
            (
                ("webhook.endpoint", b"x"),
                ("webhook.first_attempt_ms", b"1"),
                ("webhook.due_ms", b"1"),
            )
        )
    bad = (
        ("webhook.endpoint", b"x"),
        ("webhook.attempt", b"two"),
        ("webhook.first_attempt_ms", b"1"),
        ("webhook.due_ms", b"1"),
    )
    with pytest.raises(BadRecord, match="non-integer"):
        parse_retry(bad)
    assert header(bad, "webhook.attempt") == "two"


def test_a_batch_is_delivered_in_parallel(tmp_path: Path) -> None:
    arrived = threading.Barrier(4, timeout=5)

    def answer(_: httpx.Request) -> httpx.Response:
        arrived.wait()  # only returns once 4 requests are in flight together
        return httpx.Response(200)

    harness = Harness(tmp_path, [endpoint("cases")], RetryPolicy())
    harness.answers["cases"] = answer
    jobs = [
        j
        for n in range(8)
        for j in harness.dispatcher.from_alert(harness.alert_record(make_alert(str(n)))).jobs
    ]
    assert harness.dispatcher.deliver(jobs) == []
    harness.dispatcher.close()

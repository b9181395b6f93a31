"""Signed attempts: the headers verify with the Standard Webhooks library; outcomes by status."""

import time
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from fraudgraph.alerts.webhooks.config import Endpoint
from fraudgraph.alerts.webhooks.sender import Sender, classify, signed_headers
from fraudgraph.alerts.webhooks.testing import make_alert, new_secret

SECRET = new_secret()
ENDPOINT = Endpoint.model_validate(
    {
        "name": "cases",
        "url": "http://receiver.test/hook?token=t",
        "secret_env": "S",
        "timeout_seconds": 2,
    }
)
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def body() -> bytes:
    return orjson.dumps(make_alert("a"))


def test_signed_headers_verify_with_the_library() -> None:
    payload = body()
    headers = signed_headers(Webhook(SECRET), "fa-1", payload, datetime.now(UTC))
    assert headers["webhook-id"] == "fa-1"
    assert headers["content-type"] == "application/json"
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 5
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(SECRET).verify(payload, headers) == orjson.loads(payload)


def test_another_secret_or_a_changed_body_does_not_verify() -> None:
    payload = body()
    headers = signed_headers(Webhook(SECRET), "fa-1", payload, datetime.now(UTC))
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(payload, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(payload.replace(b"high", b"low!"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(payload, {**headers, "webhook-id": "fa-2"})


def test_an_old_signature_is_stale() -> None:
    payload = body()
    headers = signed_headers(
        Webhook(SECRET), "fa-1", payload, datetime.now(UTC) - timedelta(minutes=6)
    )
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(SECRET).verify(payload, headers)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(200, "delivered"), (202, "delivered"), (204, "delivered"), (410, "gone")]
    + [(s, "retry") for s in (301, 400, 401, 404, 408, 409, 429, 500, 502, 503)],
)
def test_classify(status: int, outcome: str) -> None:
    assert classify(status) == outcome


def sender_answering(handler: httpx.MockTransport) -> Sender:
    return Sender(httpx.Client(transport=handler), {"cases": Webhook(SECRET)})


def test_a_send_posts_the_body_with_signature_and_trace_context() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    payload = body()
    result = sender_answering(httpx.MockTransport(answer)).send(
        ENDPOINT, "fa-1", payload, {"traceparent": TRACEPARENT}
    )
    assert result.outcome == "delivered"
    assert result.status == 204
    assert result.error is None
    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == "http://receiver.test/hook?token=t"
    assert request.content == payload
    assert request.headers["traceparent"] == TRACEPARENT
    assert request.headers["content-type"] == "application/json"
    Webhook(SECRET).verify(request.content, dict(request.headers))


def test_a_server_error_is_retried() -> None:
    sender = sender_answering(httpx.MockTransport(lambda _: httpx.Response(503)))
    result = sender.send(ENDPOINT, "fa-1", body(), {})
    assert (result.outcome, result.status, result.error) == ("retry", 503, "HTTP 503")


def test_410_is_gone() -> None:
    sender = sender_answering(httpx.MockTransport(lambda _: httpx.Response(410)))
    result = sender.send(ENDPOINT, "fa-1", body(), {})
    assert (result.outcome, result.status) == ("gone", 410)


@pytest.mark.parametrize(
    "error",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("eh")],
)
def test_transport_errors_are_retried(error: httpx.HTTPError) -> None:
    def fail(_: httpx.Request) -> httpx.Response:
        raise error

    result = sender_answering(httpx.MockTransport(fail)).send(ENDPOINT, "fa-1", body(), {})
    assert result.outcome == "retry"
    assert result.status is None
    assert result.error is not None
    assert result.error.startswith(type(error).__name__)


def test_the_endpoint_timeout_is_used() -> None:
    timeouts: list[object] = []

    def answer(request: httpx.Request) -> httpx.Response:
        timeouts.append(request.extensions["timeout"])
        return httpx.Response(200)

    sender_answering(httpx.MockTransport(answer)).send(ENDPOINT, "fa-1", body(), {})
    assert timeouts == [{"connect": 2.0, "read": 2.0, "write": 2.0, "pool": 2.0}]

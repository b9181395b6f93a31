"""The receiver's /alertmanager path, run for real: bearer token, Alertmanager's JSON, dedup."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from standardwebhooks.webhooks import Webhook

from fraudgraph.alerts.webhooks.config import secret_signer
from fraudgraph.alerts.webhooks.receiver import Ledger, bearer_matches, build_server
from fraudgraph.alerts.webhooks.testing import new_secret
from fraudgraph.stack.secrets import load_or_create

TOKEN = "am-token-for-tests"
NOTIFICATION = {
    "version": "4",
    "status": "firing",
    "receiver": "fraudgraph-webhook",
    "groupKey": '{}:{alertname="FraudgraphConsumerLagHigh"}',
    "groupLabels": {"alertname": "FraudgraphConsumerLagHigh"},
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "FraudgraphConsumerLagHigh", "severity": "warning"},
            "fingerprint": "6e0c64e8a3a91336",
        }
    ],
}


class Running:
    def __init__(self, out: Path, token: str | None) -> None:
        self.out = out
        self.ledger = Ledger(out)
        self.ledger.open()
        self.server = build_server("127.0.0.1", 0, Webhook(new_secret()), self.ledger, token)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alertmanager"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.ledger.close()

    def lines(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.out.read_text().splitlines()]


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Running]:
    running = Running(tmp_path / "received.jsonl", TOKEN)
    yield running
    running.stop()


def _post(url: str, body: bytes, token: str | None = TOKEN) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return httpx.post(url, content=body, headers=headers)


def test_a_notification_with_the_token_is_recorded_once(receiver: Running) -> None:
    body = orjson.dumps(NOTIFICATION)
    first, again = _post(receiver.url, body), _post(receiver.url, body)
    assert (first.status_code, first.json()) == (200, {"status": "recorded"})
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    (line,) = receiver.lines()
    assert str(line["webhook_id"]).startswith("alertmanager-")
    assert line["alert"] == NOTIFICATION


@pytest.mark.parametrize("token", [None, "wrong-token", "am-token-for-tests-and-more"])
def test_without_the_right_token_nothing_is_recorded(receiver: Running, token: str | None) -> None:
    response = _post(receiver.url, orjson.dumps(NOTIFICATION), token)
    assert response.status_code == 401
    assert receiver.lines() == []
    assert receiver.ledger.counts.rejected == 1


def test_a_body_that_is_not_alertmanager_json_is_refused(receiver: Running) -> None:
    for body in (b"not json", b"[1, 2]", b'{"status": "firing"}'):
        assert _post(receiver.url, body).status_code == 400
    assert receiver.lines() == []


def test_without_a_configured_token_the_path_does_not_exist(tmp_path: Path) -> None:
    running = Running(tmp_path / "received.jsonl", None)
    try:
        assert _post(running.url, orjson.dumps(NOTIFICATION)).status_code == 404
    finally:
        running.stop()


def test_bearer_check() -> None:
    assert bearer_matches("abc", "Bearer abc")
    assert bearer_matches("abc", "bearer abc")
    assert not bearer_matches("abc", "Basic abc")
    assert not bearer_matches("abc", "Bearer abcd")
    assert not bearer_matches("abc", None)


def test_the_stack_generates_a_token_and_a_valid_webhook_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FRAUDGRAPH_WEBHOOK_SECRET", raising=False)
    monkeypatch.delenv("FRAUDGRAPH_ALERTMANAGER_TOKEN", raising=False)
    secrets = load_or_create(tmp_path)
    assert len(secrets.alertmanager_token) >= 32
    secret_signer(secrets.webhook_secret, "the stack's webhook secret")  # raises if malformed
    assert load_or_create(tmp_path).webhook_secret == secrets.webhook_secret

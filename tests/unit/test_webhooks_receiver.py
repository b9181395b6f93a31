"""The verifying receiver, run for real: signatures, staleness, dedup by webhook-id."""

import base64
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest
from standardwebhooks.webhooks import Webhook

from fraudgraph.alerts.webhooks.receiver import Ledger, build_server
from fraudgraph.alerts.webhooks.sender import signed_headers
from fraudgraph.alerts.webhooks.testing import make_alert, new_secret
from fraudgraph.stack.waiting import wait_for

SECRET = new_secret()


class Running:
    def __init__(self, out: Path) -> None:
        self.ledger = Ledger(out)
        self.ledger.open()
        self.server = build_server("127.0.0.1", 0, Webhook(SECRET), self.ledger)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.ledger.close()


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Running]:
    running = Running(tmp_path / "received.jsonl")
    yield running
    running.stop()


def post(
    url: str, alert: dict[str, object], *, at: datetime | None = None, secret: str = SECRET
) -> httpx.Response:
    body = orjson.dumps(alert)
    headers = signed_headers(Webhook(secret), str(alert["alert_id"]), body, at or datetime.now(UTC))
    return httpx.post(url, content=body, headers=headers)


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_valid_delivery_is_recorded(receiver: Running) -> None:
    alert = make_alert("a")
    response = post(receiver.url, alert)
    assert (response.status_code, response.json()) == (200, {"status": "recorded"})
    (line,) = lines(receiver.ledger.path)
    assert line["webhook_id"] == alert["alert_id"]
    assert line["alert"] == alert
    assert datetime.fromisoformat(str(line["received_at"])) <= datetime.now(UTC)


def test_a_repeated_webhook_id_is_acknowledged_but_not_recorded_again(receiver: Running) -> None:
    alert = make_alert("a")
    assert post(receiver.url, alert).status_code == 200
    again = post(receiver.url, alert)
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    assert len(lines(receiver.ledger.path)) == 1
    health = httpx.get(receiver.url.replace("/hook", "/healthz")).json()
    assert health == {"recorded": 1, "duplicates": 1, "rejected": 0}


def test_a_tampered_body_is_unauthorized(receiver: Running) -> None:
    alert = make_alert("a")
    body = orjson.dumps(alert)
    headers = signed_headers(Webhook(SECRET), str(alert["alert_id"]), body, datetime.now(UTC))
    tampered = body.replace(b'"high"', b'"low"')
    response = httpx.post(receiver.url, content=tampered, headers=headers)
    assert response.status_code == 401
    assert lines(receiver.ledger.path) == []


def test_another_secret_is_unauthorized(receiver: Running) -> None:
    assert post(receiver.url, make_alert("a"), secret=new_secret()).status_code == 401


@pytest.mark.parametrize("shift", [timedelta(minutes=-6), timedelta(minutes=6)])
def test_a_stale_or_future_timestamp_is_rejected(receiver: Running, shift: timedelta) -> None:
    response = post(receiver.url, make_alert("a"), at=datetime.now(UTC) + shift)
    assert response.status_code == 400
    assert lines(receiver.ledger.path) == []


@pytest.mark.parametrize("drop", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_headers_are_rejected(receiver: Running, drop: str) -> None:
    alert = make_alert("a")
    body = orjson.dumps(alert)
    headers = signed_headers(Webhook(SECRET), "fa-x", body, datetime.now(UTC))
    del headers[drop]
    assert httpx.post(receiver.url, content=body, headers=headers).status_code == 400


@pytest.mark.parametrize(
    "signature",
    [
        "garbage",
        "v1,",
        "v1,not*base64",
        "v1,c2hvcnQ=",
        "v2,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    ],
)
def test_a_malformed_signature_header_is_rejected(receiver: Running, signature: str) -> None:
    body = orjson.dumps(make_alert("a"))
    headers = signed_headers(Webhook(SECRET), "fa-x", body, datetime.now(UTC))
    headers["webhook-signature"] = signature
    assert httpx.post(receiver.url, content=body, headers=headers).status_code == 400
    assert lines(receiver.ledger.path) == []


def test_a_well_formed_signature_that_does_not_match_is_unauthorised(receiver: Running) -> None:
    body = orjson.dumps(make_alert("a"))
    headers = signed_headers(Webhook(SECRET), "fa-x", body, datetime.now(UTC))
    headers["webhook-signature"] = "v1," + base64.b64encode(bytes(32)).decode()
    assert httpx.post(receiver.url, content=body, headers=headers).status_code == 401
    assert lines(receiver.ledger.path) == []


def test_deduplication_survives_a_restart(tmp_path: Path) -> None:
    out = tmp_path / "received.jsonl"
    first = Running(out)
    alert = make_alert("a")
    try:
        assert post(first.url, alert).json() == {"status": "recorded"}
    finally:
        first.stop()
    second = Running(out)
    try:
        assert post(second.url, alert).json() == {"status": "duplicate"}
        assert post(second.url, make_alert("b")).json() == {"status": "recorded"}
    finally:
        second.stop()
    assert [line["alert"]["alert_id"] for line in lines(out)] == [  # type: ignore[index]
        alert["alert_id"],
        make_alert("b")["alert_id"],
    ]


def test_the_cli_receiver_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    log = tmp_path / "receiver.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fraudgraph",
                "webhooks",
                "receive",
                "--port",
                "0",
                "--secret-env",
                "TEST_RECEIVER_SECRET",
                "--out",
                str(out),
            ],
            env={**os.environ, "TEST_RECEIVER_SECRET": SECRET},
            stderr=stderr,
        )
    try:

        def port() -> int | None:
            for line in log.read_text().splitlines():
                event = json.loads(line)
                if event["event"] == "receiver_listening":
                    assert event["host"] == "127.0.0.1"
                    return int(event["port"])
            return None

        bound = wait_for(port, what="receiver listening", timeout=30, abort=process.poll)
        alert = make_alert("cli")
        assert post(f"http://127.0.0.1:{bound}/", alert).json() == {"status": "recorded"}
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    stopped = json.loads(log.read_text().splitlines()[-1])
    assert (stopped["event"], stopped["recorded"]) == ("receiver_stopped", 1)
    assert lines(out)[0]["webhook_id"] == alert["alert_id"]


@pytest.mark.parametrize(
    ("env", "message"),
    [({}, "TEST_RECEIVER_SECRET is not set"), ({"TEST_RECEIVER_SECRET": "plain"}, "whsec_")],
)
def test_the_cli_receiver_refuses_a_bad_secret_in_one_line(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    environment = {k: v for k, v in os.environ.items() if k != "TEST_RECEIVER_SECRET"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fraudgraph",
            "webhooks",
            "receive",
            "--port",
            "0",
            "--secret-env",
            "TEST_RECEIVER_SECRET",
            "--out",
            str(tmp_path / "o.jsonl"),
        ],
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1

"""A small verifying receiver: what a well-behaved webhook consumer does, for demos and tests.

It verifies every request with the Standard Webhooks library (signature and
timestamp tolerance), acknowledges a repeated `webhook-id` without recording it
again, and appends each first-seen delivery to a JSON-lines file. Ids already in
the file are loaded at start, so deduplication survives a restart of the receiver.

With an Alertmanager token it also takes Prometheus Alertmanager's webhook JSON on
`POST /alertmanager`, authenticated by `Authorization: Bearer <token>` (Alertmanager
cannot sign), and records each notification once (its id: a hash of the body, so
Alertmanager's retry of a notification is a duplicate).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO

import orjson
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from fraudgraph.errors import ConfigError
from fraudgraph.observability.logs import get_logger

log = get_logger(__name__)
# An HMAC-SHA256, as every v1 signature is.
SIGNATURE_BYTES = 32

MAX_BODY_BYTES = 1 << 20
ALERTMANAGER_PATH = "/alertmanager"


@dataclass
class Counts:
    recorded: int = 0
    duplicates: int = 0
    rejected: int = 0


class Ledger:
    """The --out file and the webhook ids in it; one lock makes check-and-append atomic."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.counts = Counts()
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._file: BinaryIO | None = None

    def open(self) -> None:
        try:
            existing = self.path.read_bytes() if self.path.exists() else b""
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("ab")
        except OSError as error:
            raise ConfigError(f"--out {self.path}: {error.strerror or error}") from error
        for number, line in enumerate(existing.splitlines(), start=1):
            try:
                self._seen.add(orjson.loads(line)["webhook_id"])
            except (orjson.JSONDecodeError, KeyError, TypeError) as error:
                raise ConfigError(f"{self.path}:{number}: not a receiver line") from error

    def record(self, webhook_id: str, alert: Any, traceparent: str | None) -> bool:
        """True if first seen (and now in the file), False for a duplicate."""
        line: dict[str, Any] = {
            "webhook_id": webhook_id,
            "received_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "alert": alert,
        }
        if traceparent:
            line["traceparent"] = traceparent
        with self._lock:
            if webhook_id in self._seen:
                self.counts.duplicates += 1
                return False
            assert self._file is not None
            # Flushed before the 200: a killed receiver never acknowledged a delivery
            # it had not handed to the OS. (No fsync: this is a demo receiver.)
            self._file.write(orjson.dumps(line) + b"\n")
            self._file.flush()
            self._seen.add(webhook_id)
            self.counts.recorded += 1
            return True

    def reject(self) -> None:
        with self._lock:
            self.counts.rejected += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def verify(signer: Webhook, body: bytes, headers: dict[str, str]) -> HTTPStatus | None:
    """None if valid; otherwise the status to answer with.

    The split between 400 and 401 is ours, decided before the library runs: its
    answer to a malformed header changed between releases (1.3.0 calls "garbage" a
    failed verification). A request we cannot parse is malformed (400); a parseable
    one whose signature does not match is unauthenticated (401).
    """
    if not _signature_header_is_well_formed(headers.get("webhook-signature", "")):
        return HTTPStatus.BAD_REQUEST
    try:
        signer.verify(body, headers, json_parse=False)
    except WebhookVerificationError as error:
        # Stale, future or missing headers are a malformed request.
        if str(error) == "No matching signature found":
            return HTTPStatus.UNAUTHORIZED
        return HTTPStatus.BAD_REQUEST
    except (ValueError, UnicodeDecodeError):
        return HTTPStatus.BAD_REQUEST  # a malformed timestamp or body
    return None


def _signature_header_is_well_formed(header: str) -> bool:
    """At least one `v1,<base64 of 32 bytes>` entry (the spec's space-delimited list)."""
    for entry in header.split():
        version, _, value = entry.partition(",")
        if version != "v1":
            continue  # other schemes (v1a) may stand beside v1; we verify only v1
        try:
            if len(base64.b64decode(value, validate=True)) == SIGNATURE_BYTES:
                return True
        except binascii.Error:
            continue
    return False


def bearer_matches(token: str, authorization: str | None) -> bool:
    """Constant-time check of an `Authorization: Bearer <token>` header."""
    scheme, _, presented = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        presented.strip().encode(), token.encode()
    )


def alertmanager_notification(body: bytes) -> dict[str, Any] | None:
    """Alertmanager's webhook JSON (an object with an `alerts` list), or None."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
        return None
    return payload


def build_server(
    host: str,
    port: int,
    signer: Webhook,
    ledger: Ledger,
    alertmanager_token: str | None = None,
) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        server_version = "fraudgraph-receiver/1"
        protocol_version = "HTTP/1.1"  # keep-alive: one connection serves many deliveries
        # Headers and body go out as two writes; Nagle would hold the body for the
        # client's delayed ACK (40 ms per request).
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or -1)
            if not 0 <= length <= MAX_BODY_BYTES:
                self._answer(HTTPStatus.BAD_REQUEST, {"error": "content-length required, ≤ 1 MiB"})
                return
            body = self.rfile.read(length)
            headers = {name.lower(): value for name, value in self.headers.items()}
            if self.path.split("?", 1)[0] == ALERTMANAGER_PATH:
                self._alertmanager(body, headers.get("authorization"))
                return
            problem = verify(signer, body, headers)
            if problem is not None:
                ledger.reject()
                log.info(
                    "webhook_rejected", status=int(problem), webhook_id=headers.get("webhook-id")
                )
                self._answer(problem, {"error": problem.phrase})
                return
            try:
                alert = orjson.loads(body)
            except orjson.JSONDecodeError:
                ledger.reject()
                self._answer(HTTPStatus.BAD_REQUEST, {"error": "body is not JSON"})
                return
            webhook_id = headers["webhook-id"]
            first = ledger.record(webhook_id, alert, headers.get("traceparent"))
            log.debug("webhook_received", webhook_id=webhook_id, duplicate=not first)
            self._answer(HTTPStatus.OK, {"status": "recorded" if first else "duplicate"})

        def _alertmanager(self, body: bytes, authorization: str | None) -> None:
            if alertmanager_token is None:
                self._answer(HTTPStatus.NOT_FOUND, {"error": "no Alertmanager token configured"})
                return
            if not bearer_matches(alertmanager_token, authorization):
                ledger.reject()
                log.info("alertmanager_rejected", status=int(HTTPStatus.UNAUTHORIZED))
                self._answer(HTTPStatus.UNAUTHORIZED, {"error": "bearer token required"})
                return
            notification = alertmanager_notification(body)
            if notification is None:
                ledger.reject()
                self._answer(HTTPStatus.BAD_REQUEST, {"error": "not Alertmanager webhook JSON"})
                return
            notification_id = "alertmanager-" + hashlib.sha256(body).hexdigest()[:32]
            first = ledger.record(notification_id, notification, None)
            # Alert names and status only: labels and annotations stay in the file.
            log.info(
                "alertmanager_notification",
                status=notification.get("status"),
                alerts=len(notification["alerts"]),
                alertname=(notification.get("groupLabels") or {}).get("alertname"),
                duplicate=not first,
            )
            self._answer(HTTPStatus.OK, {"status": "recorded" if first else "duplicate"})

        def do_GET(self) -> None:
            if self.path != "/healthz":
                self._answer(HTTPStatus.NOT_FOUND, {"error": "POST webhooks; GET /healthz"})
                return
            with ledger._lock:  # a consistent snapshot of the counts
                counts = vars(ledger.counts).copy()
            self._answer(HTTPStatus.OK, counts)

        def _answer(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
            body = orjson.dumps(payload)
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one structured line per outcome is logged above instead

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server

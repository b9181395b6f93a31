"""One signed HTTP attempt: Standard Webhooks headers, a POST, and what it meant.

httpx errors are translated here, at the edge, into an `AttemptResult`; nothing
above this module knows about HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import httpx
from standardwebhooks.webhooks import Webhook

from alerts.webhooks.config import Endpoint

Outcome = Literal["delivered", "retry", "gone"]
USER_AGENT = "fraudgraph-webhooks/1"


@dataclass(frozen=True)
class AttemptResult:
    outcome: Outcome
    seconds: float
    status: int | None = None
    error: str | None = None


def signed_headers(signer: Webhook, msg_id: str, body: bytes, at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers for `body`; the library computes the signature."""
    timestamp = at.astimezone(UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signer.sign(msg_id, timestamp, body.decode("utf-8")),
        "content-type": "application/json",
    }


def classify(status: int) -> Outcome:
    """2xx delivered; 410 Gone means the receiver asks us to stop; anything else retries."""
    if 200 <= status < 300:
        return "delivered"
    if status == 410:
        return "gone"
    return "retry"


class Sender:
    """Sends one attempt; thread-safe (httpx.Client is), so deliveries run in parallel."""

    def __init__(self, client: httpx.Client, signers: Mapping[str, Webhook]) -> None:
        self._client = client
        self._signers = signers

    def send(
        self,
        endpoint: Endpoint,
        msg_id: str,
        body: bytes,
        extra_headers: Mapping[str, str],
    ) -> AttemptResult:
        # Signed at send time: every retry carries a fresh timestamp, so it passes
        # the receiver's staleness check however long the outage lasted.
        headers = {
            **extra_headers,
            **signed_headers(self._signers[endpoint.name], msg_id, body, datetime.now(UTC)),
            "user-agent": USER_AGENT,
        }
        started = time.perf_counter()
        try:
            response = self._client.post(
                str(endpoint.url), content=body, headers=headers, timeout=endpoint.timeout_seconds
            )
        except httpx.HTTPError as error:  # timeouts, refused connections, protocol errors
            return AttemptResult("retry", time.perf_counter() - started, error=_describe(error))
        seconds = time.perf_counter() - started
        outcome = classify(response.status_code)
        problem = None if outcome == "delivered" else f"HTTP {response.status_code}"
        return AttemptResult(outcome, seconds, status=response.status_code, error=problem)


def _describe(error: httpx.HTTPError) -> str:
    detail = str(error).replace("\n", " ")[:200]
    return f"{type(error).__name__}: {detail}" if detail else type(error).__name__

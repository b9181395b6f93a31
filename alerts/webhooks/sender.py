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
from opentelemetry.trace import SpanKind, Status, StatusCode
from standardwebhooks.webhooks import Webhook

from fraudgraph.alerts.webhooks.config import Endpoint
from fraudgraph.observability import trace_semconv as sc
from fraudgraph.observability.tracing import mapping_of, tracer

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
        attempt: int = 1,
    ) -> AttemptResult:
        """POST under an HTTP client span, child of the current context; its traceparent is sent."""
        with tracer().start_as_current_span(
            "POST",
            kind=SpanKind.CLIENT,
            attributes=_client_attributes(endpoint, attempt),
            end_on_exit=True,
        ) as span:
            # Tracing off: the alert record's own traceparent is forwarded unchanged.
            traced = {**extra_headers, **mapping_of(span)}
            result = self._post(endpoint, msg_id, body, traced)
            if result.status is not None:
                span.set_attribute(sc.HTTP_STATUS, result.status)
            if result.outcome != "delivered":
                span.set_status(Status(StatusCode.ERROR, result.error))
                span.set_attribute(sc.ERROR_TYPE, str(result.status or "transport"))
            return result

    def _post(
        self, endpoint: Endpoint, msg_id: str, body: bytes, extra_headers: Mapping[str, str]
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


def _client_attributes(endpoint: Endpoint, attempt: int) -> dict[str, str | int]:
    url = endpoint.url
    attributes: dict[str, str | int] = {
        sc.HTTP_METHOD: "POST",
        # Without the query string, which may carry a token.
        sc.URL_FULL: str(url).split("?", 1)[0],
        sc.SERVER_ADDRESS: url.host or "",
        sc.WEBHOOK_ENDPOINT: endpoint.name,
    }
    if url.port is not None:
        attributes[sc.SERVER_PORT] = url.port
    if attempt > 1:
        attributes[sc.HTTP_RESEND_COUNT] = attempt - 1
    return attributes


def _describe(error: httpx.HTTPError) -> str:
    detail = str(error).replace("\n", " ")[:200]
    return f"{type(error).__name__}: {detail}" if detail else type(error).__name__

"""Kafka records of webhook delivery as plain data: what came in, what goes out.

A retry or dead-letter record keeps the alert's key, value and headers unchanged
(the value is the exact body that is signed and POSTed, and `traceparent` keeps
the trace) and adds its delivery state as `webhook.*` or `dlq.*` headers, like the
stream processor's dead letters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

Headers = tuple[tuple[str, bytes], ...]

ENDPOINT = "webhook.endpoint"
ATTEMPT = "webhook.attempt"
FIRST_ATTEMPT_MS = "webhook.first_attempt_ms"
DUE_MS = "webhook.due_ms"
LAST_ERROR = "webhook.last_error"
_OURS = ("webhook.", "dlq.")
# Trace context is forwarded to the endpoint as HTTP headers.
TRACE_HEADERS = ("traceparent", "tracestate")


@dataclass(frozen=True)
class Incoming:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()


@dataclass(frozen=True)
class Output:
    """A record to produce (retry tier or dead-letter topic)."""

    topic: str
    key: bytes
    value: bytes
    headers: Headers


@dataclass(frozen=True)
class RetryState:
    endpoint: str
    attempt: int  # the attempt to make when due (2 = first retry)
    first_attempt_ms: int
    due_ms: int


class BadRecord(ValueError):
    """A record on a retry topic without usable delivery state."""


def normalize_headers(raw: Sequence[tuple[str, bytes | str | None]] | None) -> Headers:
    """confluent-kafka gives None for no headers and may give None values."""
    if not raw:
        return ()
    return tuple(
        (name, value.encode() if isinstance(value, str) else value or b"") for name, value in raw
    )


def header(headers: Headers, name: str) -> str | None:
    """The last value of `name`, decoded leniently (a header never breaks delivery)."""
    for key, value in reversed(headers):
        if key == name:
            return value.decode("utf-8", errors="replace")
    return None


def trace_headers(headers: Headers) -> dict[str, str]:
    return {name: value for name in TRACE_HEADERS if (value := header(headers, name))}


def original_headers(headers: Headers) -> Headers:
    """The alert's own headers, without delivery state added by an earlier attempt."""
    return tuple((k, v) for k, v in headers if not k.startswith(_OURS))


def retry_headers(headers: Headers, state: RetryState, last_error: str) -> Headers:
    fields = {
        ENDPOINT: state.endpoint,
        ATTEMPT: str(state.attempt),
        FIRST_ATTEMPT_MS: str(state.first_attempt_ms),
        DUE_MS: str(state.due_ms),
        LAST_ERROR: last_error[:500],
    }
    return original_headers(headers) + tuple((k, v.encode()) for k, v in fields.items())


def parse_retry(headers: Headers) -> RetryState:
    values = {name: header(headers, name) for name in (ENDPOINT, ATTEMPT, FIRST_ATTEMPT_MS, DUE_MS)}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise BadRecord(f"retry record without {', '.join(missing)}")
    try:
        return RetryState(
            endpoint=str(values[ENDPOINT]),
            attempt=int(str(values[ATTEMPT])),
            first_attempt_ms=int(str(values[FIRST_ATTEMPT_MS])),
            due_ms=int(str(values[DUE_MS])),
        )
    except ValueError as error:
        raise BadRecord(f"retry record with a non-integer field: {error}") from error


def deadletter_headers(
    headers: Headers,
    *,
    reason: str,
    endpoint: str,
    attempts: int,
    last_error: str,
    first_attempt_ms: int | None = None,
    failed_at: datetime | None = None,
) -> Headers:
    fields = {
        "dlq.reason": reason,
        "dlq.endpoint": endpoint,
        "dlq.attempts": str(attempts),
        "dlq.last_error": last_error[:2000],
        "dlq.failed_at": (failed_at or datetime.now(UTC)).isoformat(),
    }
    if first_attempt_ms is not None:
        fields["dlq.first_attempt_ms"] = str(first_attempt_ms)
    return original_headers(headers) + tuple((k, v.encode()) for k, v in fields.items())

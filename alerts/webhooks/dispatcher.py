"""From records to deliveries and back: who gets an alert, and what each attempt leaves behind.

No Kafka here: the worker hands in plain `Incoming` records and produces the
`Output`s returned (retry tiers, dead letters) before it commits any offset.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson
from opentelemetry.trace import SpanKind

from fraudgraph.alerts.model import alert_errors
from fraudgraph.alerts.webhooks import metrics
from fraudgraph.alerts.webhooks.config import Endpoint, WebhookConfig
from fraudgraph.alerts.webhooks.disabled import DisabledEndpoints
from fraudgraph.alerts.webhooks.filters import wants
from fraudgraph.alerts.webhooks.records import (
    Incoming,
    Output,
    RetryState,
    deadletter_headers,
    header,
    retry_headers,
    trace_headers,
)
from fraudgraph.alerts.webhooks.retry import GiveUp, RetryTopics, next_step
from fraudgraph.alerts.webhooks.sender import AttemptResult, Sender
from fraudgraph.observability import trace_semconv as sc
from fraudgraph.observability.logs import get_logger
from fraudgraph.observability.tracing import context_from_headers, tracer

log = get_logger(__name__)


@dataclass(frozen=True)
class Job:
    """One alert to one endpoint, at one attempt."""

    alert_id: str
    endpoint: Endpoint
    attempt: int  # 1 = first try
    first_attempt_ms: int
    record: Incoming  # value is the body; headers carry the trace context

    @property
    def body(self) -> bytes:
        return self.record.value or b""


@dataclass
class Plan:
    jobs: list[Job] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)


def decode_alert(value: bytes) -> tuple[dict[str, Any] | None, str]:
    """The alert, or None and why it cannot be delivered."""
    try:
        alert = orjson.loads(value)
    except orjson.JSONDecodeError as error:
        return None, f"not JSON: {error}"
    if not isinstance(alert, dict):
        return None, "not a JSON object"
    problems = alert_errors(alert)
    if problems:
        return None, f"breaks contracts/alert.schema.json: {'; '.join(problems)[:500]}"
    return alert, ""


class Dispatcher:
    def __init__(
        self,
        config: WebhookConfig,
        sender: Sender,
        disabled: DisabledEndpoints,
        topics: RetryTopics,
        deadletter_topic: str,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self._config = config
        self._sender = sender
        self._disabled = disabled
        self._topics = topics
        self._deadletter_topic = deadletter_topic
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        # Threads start on first use; they only wait on HTTP.
        self._executor = ThreadPoolExecutor(config.concurrency, thread_name_prefix="webhook")

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def from_alert(self, record: Incoming) -> Plan:
        if record.value is None:
            return Plan()  # a tombstone carries no alert
        alert, problem = decode_alert(record.value)
        if alert is None:
            log.warning(
                "invalid_alert",
                offset=record.offset,
                partition=record.partition,
                problem=problem[:200],
            )
            letter = self._dead_letter(record, "invalid_alert", last_error=problem)
            return Plan(outputs=[letter])
        plan = Plan()
        now_ms = self.now_ms()
        for endpoint in self._config.endpoints:
            if self._disabled.is_disabled(endpoint):
                metrics.count(endpoint.name, "gone")
            elif not wants(endpoint, alert):
                metrics.count(endpoint.name, "filtered")
            else:
                plan.jobs.append(Job(alert["alert_id"], endpoint, 1, now_ms, record))
        return plan

    def from_retry(self, record: Incoming, state: RetryState) -> Plan:
        endpoint = self._config.endpoint(state.endpoint)
        last_error = header(record.headers, "webhook.last_error") or ""
        if endpoint is None or record.key is None or record.value is None:
            # Removed from the endpoints file while retries were pending: keep the
            # alert on the dead-letter topic rather than drop it silently.
            reason = "endpoint_unknown" if endpoint is None else "bad_retry_record"
            log.warning("retry_undeliverable", endpoint=state.endpoint, reason=reason)
            letter = self._dead_letter(
                record,
                reason,
                endpoint=state.endpoint,
                attempts=state.attempt - 1,
                last_error=last_error,
                first_attempt_ms=state.first_attempt_ms,
            )
            return Plan(outputs=[letter])
        if self._disabled.is_disabled(endpoint):
            metrics.count(endpoint.name, "gone")
            return Plan()
        alert_id = record.key.decode("utf-8", errors="replace")
        return Plan(jobs=[Job(alert_id, endpoint, state.attempt, state.first_attempt_ms, record)])

    def unreadable_retry(self, record: Incoming, problem: str) -> Output:
        """A retry record whose delivery state cannot be read: dead-letter it whole."""
        log.warning("retry_unreadable", topic=record.topic, offset=record.offset, problem=problem)
        return self._dead_letter(record, "bad_retry_record", last_error=problem)

    def deliver(self, jobs: Sequence[Job]) -> list[Output]:
        """Run the attempts in parallel; return what must be durable before committing."""
        results = list(self._executor.map(self._attempt, jobs))
        outputs: list[Output] = []
        for job, result in zip(jobs, results, strict=True):
            metrics.DELIVERY_SECONDS.labels(endpoint=job.endpoint.name).observe(result.seconds)
            outputs.extend(self._settle(job, result))
        return outputs

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    def _attempt(self, job: Job) -> AttemptResult:
        """One attempt under a consumer span continuing the alert's trace (its traceparent)."""
        record = job.record
        extra: Mapping[str, str] = trace_headers(record.headers)
        with tracer().start_as_current_span(
            f"{sc.PROCESS} {record.topic}",
            context=context_from_headers(record.headers),
            kind=SpanKind.CONSUMER,
            attributes={
                sc.MESSAGING_SYSTEM: "kafka",
                sc.MESSAGING_OPERATION_TYPE: "process",
                sc.MESSAGING_OPERATION_NAME: "process",
                sc.MESSAGING_DESTINATION: record.topic,
                sc.MESSAGING_PARTITION: str(record.partition),
                sc.KAFKA_OFFSET: record.offset,
                sc.KAFKA_KEY: job.alert_id,
                sc.ALERT_ID: job.alert_id,
                sc.WEBHOOK_ENDPOINT: job.endpoint.name,
            },
        ) as span:
            result = self._sender.send(job.endpoint, job.alert_id, job.body, extra, job.attempt)
            span.set_attribute(sc.WEBHOOK_OUTCOME, result.outcome)
            return result

    def _settle(self, job: Job, result: AttemptResult) -> list[Output]:
        name = job.endpoint.name
        context = {"alert_id": job.alert_id, "endpoint": name, "attempt": job.attempt}
        if result.outcome == "delivered":
            metrics.count(name, "delivered")
            log.debug(
                "delivered", status=result.status, seconds=round(result.seconds, 4), **context
            )
            return []
        if result.outcome == "gone":
            metrics.count(name, "gone")
            if not self._disabled.is_disabled(job.endpoint):
                reason = f"HTTP {result.status} at attempt {job.attempt}"
                self._disabled.disable(job.endpoint, reason)
                log.warning("endpoint_disabled", reason=reason, url=_without_query(job), **context)
            return []
        error = result.error or "failed"
        step = next_step(
            self._topics,
            failed_attempt=job.attempt,
            first_attempt_ms=job.first_attempt_ms,
            now_ms=self.now_ms(),
            rng=self._rng,
        )
        if isinstance(step, GiveUp):
            metrics.count(name, "gave_up")
            log.error("delivery_gave_up", error=error, **context)
            letter = self._dead_letter(
                job.record,
                "gave_up",
                endpoint=name,
                attempts=step.attempts,
                last_error=error,
                first_attempt_ms=job.first_attempt_ms,
                alert_id=job.alert_id,
            )
            return [letter]
        metrics.count(name, "retry")
        log.info(
            "delivery_retry",
            error=error,
            tier=step.topic,
            due_in_s=round((step.due_ms - self.now_ms()) / 1000, 1),
            **context,
        )
        state = RetryState(name, step.next_attempt, job.first_attempt_ms, step.due_ms)
        return [
            Output(
                topic=step.topic,
                key=job.alert_id.encode(),
                value=job.body,
                headers=retry_headers(job.record.headers, state, error),
            )
        ]

    def _dead_letter(
        self,
        record: Incoming,
        reason: str,
        *,
        last_error: str,
        endpoint: str = "",
        attempts: int = 0,
        first_attempt_ms: int | None = None,
        alert_id: str | None = None,
    ) -> Output:
        key = alert_id.encode() if alert_id else record.key or b""
        headers = deadletter_headers(
            record.headers,
            reason=reason,
            endpoint=endpoint,
            attempts=attempts,
            last_error=last_error,
            first_attempt_ms=first_attempt_ms,
        )
        return Output(self._deadletter_topic, key, record.value or b"", headers)


def _without_query(job: Job) -> str:
    """The URL without its query string, which may carry a token."""
    return str(job.endpoint.url).split("?", 1)[0]

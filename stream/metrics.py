"""What one finished batch tells Prometheus (the metric objects: observability/metrics.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from fraudgraph.cdc.changes import RowChange
from fraudgraph.detection.engine import DetectionResult
from fraudgraph.evaluation.scoring import parse_time
from fraudgraph.observability import metrics
from fraudgraph.stream.deadletter import DeadLetter


def observe_batch(
    changes: Sequence[RowChange],
    letters: Sequence[DeadLetter],
    write_seconds: float | None,
    detection: DetectionResult | None,
) -> None:
    # One labels() lookup per (topic, table, op), not per event: batches hold thousands.
    counts = Counter((c.position.topic, c.table, c.op) for c in changes)
    for (topic, table, op), count in counts.items():
        metrics.EVENTS.labels(topic, table, op).inc(count)
    for change in changes:
        metrics.observe_commit_latency(metrics.COMMIT_TO_GRAPH_SECONDS, change.committed_at_ms)
    for letter in letters:
        metrics.DEADLETTERS.labels(letter.reason).inc()
    if write_seconds is not None:
        metrics.GRAPH_WRITE_SECONDS.observe(write_seconds)
    metrics.record_batch(len(changes) + len(letters))
    if detection is not None:
        observe_detection(detection)


def observe_detection(detection: DetectionResult) -> None:
    """A batch's judgement, or a shared group's second judgement of earlier batches."""
    for alerts, shadow in ((detection.alerts, "false"), (detection.shadow_alerts, "true")):
        for alert in alerts:
            metrics.ALERTS.labels(
                alert.get("rule", "?"), alert.get("kind", "?"), alert.get("severity", "?"), shadow
            ).inc()
            committed = parse_time(alert.get("source_committed_at"))
            if committed is not None and shadow == "false":
                metrics.observe_commit_latency(
                    metrics.COMMIT_TO_ALERT_SECONDS, committed.timestamp() * 1000
                )
    for rule, reason in detection.suppressed:
        metrics.ALERTS_SUPPRESSED.labels(rule, reason).inc()
    if detection.rejudged:
        metrics.LATE_REJUDGED.inc(detection.rejudged)
    if detection.rechecked:
        metrics.SHARED_RECHECKED.inc(detection.rechecked)
    for index, (reads, keys) in detection.graph_reads.items():
        metrics.DETECTION_GRAPH_READS.labels(index).inc(reads)
        metrics.DETECTION_GRAPH_READ_KEYS.labels(index).inc(keys)
    for detector, seconds in detection.seconds_by_detector.items():
        metrics.DETECTOR_SECONDS.labels(detector).observe(seconds)
    for detector in detection.errors:
        metrics.DETECTOR_ERRORS.labels(detector).inc()

"""Run the detectors over a batch of row changes that are already in the graph.

Detection follows the graph write, so what detectors read includes the batch
itself; each detector judges an event only on what happened up to the event's own
time, so a replay of history raises the same findings, and the findings' alert ids
are stable (`alerts.model.alert_id`). A detector that fails on one event is logged
and counted; it does not hold back the stream.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from alerts.model import Finding, to_alert
from cdc.changes import RowChange
from detection.cache import HistoryCache
from detection.context import Context
from detection.detector import Detector
from detection.events import Event, to_event
from detection.history import HistorySource
from detection.records import RecordBuilder
from detection.settings import DetectionConfig
from observability.logs import get_logger

log = get_logger(__name__)
RECENT_ALERT_IDS = 200_000


@dataclass
class DetectionResult:
    alerts: list[dict[str, Any]] = field(default_factory=list)
    shadow_alerts: list[dict[str, Any]] = field(default_factory=list)
    suppressed: list[tuple[str, str]] = field(default_factory=list)  # (rule, reason)
    repeated: int = 0
    errors: list[str] = field(default_factory=list)  # detector names that raised
    events: int = 0
    seconds_by_detector: dict[str, float] = field(default_factory=dict)
    decided: set[str] = field(default_factory=set)  # alert ids sent or suppressed


class DetectionEngine:
    def __init__(
        self,
        source: HistorySource,
        config: DetectionConfig,
        builder: RecordBuilder,
        detectors: Sequence[tuple[Detector, bool]],
        *,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        cache: HistoryCache | None = None,
    ) -> None:
        self.source = source
        # What detectors read, kept across batches and fed the batches' own changes.
        self.cache = cache or HistoryCache(
            source,
            refresh_seconds=config.cache.refresh_seconds,
            max_records=config.cache.max_records,
        )
        self.config = config
        self.builder = builder
        self.detectors = list(detectors)
        self.clock_ms = clock_ms
        # Findings raised by this process, so a finding that stays true over many
        # events (a ring, a burst) is sent once; after a restart a redelivered batch
        # may send it again under the same alert_id, which consumers deduplicate.
        self._sent: OrderedDict[str, None] = OrderedDict()

    def events(self, changes: Sequence[RowChange]) -> list[Event]:
        found = [e for c in changes if (e := to_event(c, self.builder)) is not None]
        found.sort(key=lambda e: (e.at, e.lsn))
        return found

    def run(self, changes: Sequence[RowChange]) -> DetectionResult:
        result = DetectionResult()
        # Every change, event or not (a reversal, a merchant's new country), keeps
        # what the cache holds true to the graph.
        self.cache.absorb(changes, self.builder)
        events = self.events(changes)
        result.events = len(events)
        if not events or not self.detectors:
            return result
        ctx = Context(self.source, self.config.history, self.cache)
        ctx.prefetch(events)
        for event in events:
            for detector, shadow in self.detectors:
                if event.kind not in detector.handles:
                    continue
                began = time.perf_counter()
                try:
                    findings = list(detector.detect(event, ctx))
                except Exception as error:
                    result.errors.append(detector.rule)
                    log.exception(
                        "detector_failed",
                        detector=detector.rule,
                        error=f"{type(error).__name__}: {str(error)[:300]}",
                        lsn=event.lsn,
                        trace_id=event.trace_id,
                    )
                    continue
                finally:
                    spent = time.perf_counter() - began
                    result.seconds_by_detector[detector.rule] = (
                        result.seconds_by_detector.get(detector.rule, 0.0) + spent
                    )
                for finding in findings:
                    self._emit(finding, event, ctx, shadow, result)
        self.cache.settle(ctx.window_starts(events[0].at))
        return result

    def _emit(
        self, finding: Finding, event: Event, ctx: Context, shadow: bool, result: DetectionResult
    ) -> None:
        if finding.alert_id in self._sent or finding.alert_id in result.decided:
            result.repeated += 1
            return
        result.decided.add(finding.alert_id)
        if self.config.suppress_false_positives and _cleared(finding, event, ctx):
            result.suppressed.append((finding.rule, "false_positive"))
            return
        alert = to_alert(_with_source(finding, event), self.clock_ms(), shadow=shadow)
        (result.shadow_alerts if shadow else result.alerts).append(alert)

    def confirm(self, result: DetectionResult) -> None:
        """The result's alerts are durable: do not send these findings again.

        Called only after the alerts topic acknowledged them, so a failure between
        detection and produce cannot make a finding count as sent when it was not.
        """
        for alert_id in sorted(result.decided):
            self._sent[alert_id] = None
        while len(self._sent) > RECENT_ALERT_IDS:
            self._sent.popitem(last=False)


def _with_source(finding: Finding, event: Event) -> Finding:
    """Fill in the triggering change's coordinates the detector left out."""
    return replace(
        finding,
        event_time_ms=finding.event_time_ms if finding.event_time_ms is not None else event.at,
        source_committed_at_ms=finding.source_committed_at_ms or event.committed_at_ms,
        trace_id=finding.trace_id or event.trace_id,
    )


def _cleared(finding: Finding, event: Event, ctx: Context) -> bool:
    """An analyst already said an implicated customer or account is not fraud."""
    customers = [int(e.id) for e in finding.entities if e.type == "customer"]
    accounts = [int(e.id) for e in finding.entities if e.type == "account"]
    until = finding.event_time_ms if finding.event_time_ms is not None else event.at
    return any(
        r.kind == "false_positive" and r.reported_at <= until
        for r in ctx.reports_for(customers, accounts)
    )

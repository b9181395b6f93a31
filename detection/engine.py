"""Run the detectors over a batch of row changes that are already in the graph.

Detection follows the graph write, so what detectors read includes the batch
itself; each detector judges an event only on what happened up to the event's own
time, so a replay of history raises the same findings, and the findings' alert ids
are stable (`alerts.model.alert_id`). Rows that arrive after later rows they bear
on make those be judged again with them (detection/late.py). A detector that fails
on one event is logged and counted; it does not hold back the stream.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from fraudgraph.alerts.model import Finding, to_alert
from fraudgraph.cdc.changes import RowChange
from fraudgraph.detection.cache import HistoryCache, split_for_overlap
from fraudgraph.detection.context import DAY_MS, Context
from fraudgraph.detection.detector import Detector
from fraudgraph.detection.events import Event, to_event, trace_id_of
from fraudgraph.detection.history import HistorySource
from fraudgraph.detection.late import LateArrivals
from fraudgraph.detection.records import RecordBuilder
from fraudgraph.detection.settings import DetectionConfig
from fraudgraph.observability.logs import get_logger

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
    rejudged: int = 0  # rows judged again for a late one (detection/late.py)
    seconds_by_detector: dict[str, float] = field(default_factory=dict)
    decided: set[str] = field(default_factory=set)  # alert ids sent or suppressed
    rechecked: int = 0  # events judged a second time (see DetectionEngine.recheck)
    # Per cache index: (round trips to the graph, keys asked) for what it did not hold.
    graph_reads: dict[str, tuple[int, int]] = field(default_factory=dict)
    # trace id -> the W3C context of the change it came from, for the alerts' spans
    trace_contexts: dict[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Recheck:
    """A batch judged once while other workers shared the group, to judge again."""

    due: float  # on the cache's clock
    events: list[Event]
    trace_contexts: dict[str, Mapping[str, str]]


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
        # Histories are prefetched and kept as far back as any detector reads them.
        self._kept = config.history.stretched(d.reach() for d, _ in self.detectors)
        # What was judged, to judge again what a late row bears on.
        self._late = LateArrivals(
            config.late,
            [d for d, _ in self.detectors],
            sent_ms=int(config.history.sent_days * DAY_MS),
            received_ms=int(config.history.received_days * DAY_MS),
        )
        self._shared = False
        # Batches judged while the group was shared, oldest first (see recheck).
        self._rechecks: deque[_Recheck] = deque()

    def share_group(self, shared: bool) -> None:
        """Whether other workers write part of what the detectors read (see CacheConfig)."""
        cache = self.config.cache
        self.cache.set_refresh(cache.shared_refresh_seconds if shared else cache.refresh_seconds)
        self._shared = shared
        if not shared:
            # The cache was just emptied, so every read from now on is fresh: the
            # batches waiting for their second judgement may have it at once.
            self._rechecks = deque(replace(r, due=float("-inf")) for r in self._rechecks)

    def truncated(self, tables: Collection[str]) -> None:
        """Source tables were truncated and their rows removed from the graph: what the
        detectors hold of them must not be judged against any more."""
        self.cache.truncated(tables)
        if "transactions" in tables:
            self._late.forget_payments()

    @property
    def pending(self) -> int:
        """Batches judged once that still wait for their second judgement."""
        return len(self._rechecks)

    def events(self, changes: Sequence[RowChange]) -> list[Event]:
        found = [e for c in changes if (e := to_event(c, self.builder)) is not None]
        found.sort(key=lambda e: (e.at, e.lsn))
        return found

    def overlap_split(
        self, changes: Sequence[RowChange]
    ) -> tuple[list[RowChange], list[RowChange]]:
        """(to write before judging, to judge while it is written): see
        cache.split_for_overlap. A worker sharing its group writes everything first
        (its second judgements assume the batch was in the graph when first judged)."""
        if self._shared:
            return list(changes), []
        return split_for_overlap(changes)

    def reread(self, tables: Collection[str]) -> None:
        """Forget what is held of these tables' rows: read it from the graph again (a
        batch judged in flight turned out to hold rows the graph refused)."""
        self.cache.truncated(tables)

    def run(
        self, changes: Sequence[RowChange], *, in_flight: Sequence[RowChange] = ()
    ) -> DetectionResult:
        """Judge a batch: `changes` are in the graph; `in_flight`, the batch's rows the
        graph is writing meanwhile (see `overlap_split`). Call it for every batch, even
        one with no changes: in a shared group the batches' second judgements settle in
        order."""
        result = DetectionResult()
        # Before anything is read: every entry read from here on is at least this fresh.
        written_by = self.cache.clock()
        # Every change, event or not (a reversal, a merchant's new country), keeps
        # what the cache holds true to the graph.
        self.cache.absorb(changes, self.builder)
        if in_flight:
            self.cache.absorb(in_flight, self.builder, in_flight=True)
        events = self.events([*changes, *in_flight])
        result.events = len(events)
        try:
            if events and self.detectors:
                ctx = self._judge_batch(events, result, by_anyone=False)
                self.cache.settle(ctx.window_starts(events[0].at))
        finally:
            # Whether the write has landed or not, nothing reads until the next batch,
            # which the processor starts only once this one is in the graph.
            self.cache.landed()
        if self._shared:
            due = written_by + self.config.cache.shared_refresh_seconds
            self._rechecks.append(_Recheck(due, events, _trace_contexts(changes)))
        return result

    def recheck(self) -> tuple[DetectionResult, int]:
        """Judge again the batches whose second judgement is due; returns what that
        raised and how many batches (oldest first) are now judged for good.

        Why a second judgement: two workers of one group can judge related rows at the
        same moment (a card's burst spread over both workers' partitions; a new
        account on one, its customer's change on the other). Each judges right after
        its own write, and reads the other's through a cache entry up to
        `cache.shared_refresh_seconds` old, so neither may see the whole finding. A
        batch's second judgement waits until every entry the worker holds was read
        after the batch was written. Of two related writes, the later one's worker
        then reads the earlier one, so the finding is raised by at least one of them,
        under the id in-order processing gives it; what the first judgement already
        sent is deduplicated. The same holds for a payment that arrives late on one
        worker after later ones another worker judged (its partitions ran ahead): the
        second judgement judges again every later payment of its accounts the graph
        holds (detection/late.py, `by_anyone`). A lone worker queues nothing: its cache
        is exact and its own record of what it judged is complete.
        """
        now = self.cache.clock()
        due: list[_Recheck] = []
        for waiting in self._rechecks:
            if waiting.due > now:
                break
            due.append(waiting)
        result = DetectionResult()
        for batch in due:
            result.trace_contexts.update(batch.trace_contexts)
            if not batch.events or not self.detectors:
                continue
            self._judge_batch(batch.events, result, by_anyone=True)
        # Only now: a graph outage above leaves every batch queued, to be judged again.
        for _ in due:
            self._rechecks.popleft()
        return result, len(due)

    def _judge_batch(
        self, events: Sequence[Event], result: DetectionResult, *, by_anyone: bool
    ) -> Context:
        """A batch's events and the rows to judge again with them (detection/late.py),
        in event-time order; a second judgement counts as rechecked."""
        reads_before = self.cache.reads_by_index()
        ctx = Context(self.source, self.config.history, self.cache, kept=self._kept)
        ctx.prefetch(events)
        ctx.judging(events)
        again = self._late.due(events, ctx, by_anyone=by_anyone)
        judged = sorted([*events, *again], key=lambda e: (e.at, e.lsn))
        self._late.note(judged)
        self._judge(judged, ctx, result)
        if by_anyone:
            result.rechecked += len(judged)
        else:
            result.rejudged = len(again)
        _add_reads(result.graph_reads, reads_before, self.cache.reads_by_index())
        return ctx

    def _judge(self, events: Sequence[Event], ctx: Context, result: DetectionResult) -> None:
        for detector, _ in self.detectors:
            began = time.perf_counter()
            try:
                detector.prepare(events, ctx)
            except Exception as error:
                # Its events are judged one by one below, as if it had not prepared.
                result.errors.append(detector.rule)
                log.exception(
                    "detector_prepare_failed",
                    detector=detector.rule,
                    error=f"{type(error).__name__}: {str(error)[:300]}",
                )
            finally:
                spent = time.perf_counter() - began
                result.seconds_by_detector[detector.rule] = (
                    result.seconds_by_detector.get(detector.rule, 0.0) + spent
                )
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


def _trace_contexts(changes: Sequence[RowChange]) -> dict[str, Mapping[str, str]]:
    return {
        trace_id: change.trace_context
        for change in changes
        if change.trace_context is not None and (trace_id := trace_id_of(change)) is not None
    }


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


def _add_reads(
    into: dict[str, tuple[int, int]],
    before: Mapping[str, tuple[int, int]],
    now: Mapping[str, tuple[int, int]],
) -> None:
    """Add to `into` the (round trips, keys) each cache index made since `before`."""
    for name, (reads, keys) in now.items():
        if reads > before[name][0]:
            held = into.get(name, (0, 0))
            into[name] = (held[0] + reads - before[name][0], held[1] + keys - before[name][1])

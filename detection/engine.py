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
from detection.context import DAY_MS, HOUR_MS, Context
from detection.detector import Detector
from detection.detectors.behaviour import CARD_CHANNELS
from detection.events import Event, to_event
from detection.history import HistorySource
from detection.records import RecordBuilder
from detection.settings import DetectionConfig
from observability.logs import get_logger

log = get_logger(__name__)
RECENT_ALERT_IDS = 200_000
JUDGED_ACCOUNTS = 2_000_000  # accounts whose latest judged payment time is kept


@dataclass
class DetectionResult:
    alerts: list[dict[str, Any]] = field(default_factory=list)
    shadow_alerts: list[dict[str, Any]] = field(default_factory=list)
    suppressed: list[tuple[str, str]] = field(default_factory=list)  # (rule, reason)
    repeated: int = 0
    errors: list[str] = field(default_factory=list)  # detector names that raised
    events: int = 0
    rejudged: int = 0  # later payments judged again for a late one (see _judged_again)
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
        # Per account, the time of the latest payment judged (see _judged_again).
        self._judged_until: dict[int, int] = {}
        self._sent_ms = int(config.history.sent_days * DAY_MS)
        self._received_ms = int(config.history.received_days * DAY_MS)

    def share_group(self, shared: bool) -> None:
        """Whether other workers write part of what the detectors read (see CacheConfig)."""
        cache = self.config.cache
        self.cache.set_refresh(cache.shared_refresh_seconds if shared else cache.refresh_seconds)

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
        ctx.judging(events)
        again = self._judged_again(events, ctx)
        result.rejudged = len(again)
        judged = sorted([*events, *again], key=lambda e: (e.at, e.lsn))
        self._note_judged(judged)
        for event in judged:
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

    def _judged_again(self, events: Sequence[Event], ctx: Context) -> list[Event]:
        """Payments this worker judged before a payment that precedes them arrived.

        Topics and partitions are read at their own paces (a backlog after a restart
        most of all): a transfer can reach the graph after later payments of the same
        accounts, which were judged without it (a mule chain's next hop, a fan-in's
        cash-out, a structuring run's tail). Those later payments of the payer and the
        payee, and in turn of their payees, within `late.horizon_hours`, are judged
        again as of their own time: what they find carries the ids in-order processing
        gives, and what was already sent is deduplicated.

        "Judged before" is this process's record of the latest payment time it judged
        per account, so in-order processing (live, or an offline replay whose history
        holds the future) judges nothing twice. Card payments are left to the card
        rules, which look ahead on the card themselves.
        """
        late = self.config.late
        if late.horizon_hours <= 0 or late.max_payments <= 0:
            return []
        horizon = int(late.horizon_hours * HOUR_MS)
        payments = [e for e in events if e.kind == "transaction"]
        own = {e.txn.txn_id for e in payments}
        found: dict[int, Event] = {}
        queue = [(e.txn, e) for e in payments if e.txn.channel not in CARD_CHANNELS]
        # Bounded per batch, so a pathological backlog cannot multiply a batch's work.
        budget = max(8 * late.max_payments, 2 * len(payments))
        while queue and len(found) < budget:
            txn, cause = queue.pop(0)
            for account in (txn.account_id, txn.counterparty_account_id):
                judged = self._judged_until.get(account) if account is not None else None
                if account is None or judged is None or judged <= txn.at:
                    continue
                until = min(judged, txn.at + horizon)
                later = [
                    t
                    for t in [
                        *ctx.sent(account, txn.at - self._sent_ms, until),
                        *ctx.received(account, txn.at - self._received_ms, until),
                    ]
                    if (t.at, t.txn_id) > (txn.at, txn.txn_id) and t.channel not in CARD_CHANNELS
                ]
                for other in sorted(later, key=lambda t: (t.at, t.txn_id))[: late.max_payments]:
                    if other.txn_id in own or other.txn_id in found:
                        continue
                    found[other.txn_id] = Event(
                        "transaction",
                        other,
                        other.at,
                        "r",
                        cause.lsn,
                        cause.committed_at_ms,
                        cause.trace_id,
                    )
                    queue.append((other, cause))
        if queue:
            log.warning("late_rejudging_capped", judged_again=len(found), left=len(queue))
        return list(found.values())

    def _note_judged(self, events: Sequence[Event]) -> None:
        for event in events:
            if event.kind != "transaction":
                continue
            txn = event.txn
            for account in (txn.account_id, txn.counterparty_account_id):
                if account is not None and txn.at > self._judged_until.get(account, -1):
                    self._judged_until[account] = txn.at
        if len(self._judged_until) > JUDGED_ACCOUNTS:
            # Forget the accounts judged longest ago (by payment time): a late payment
            # for them is judged alone, as before this record existed.
            newest = sorted(self._judged_until.items(), key=lambda kv: kv[1])
            self._judged_until = dict(newest[len(newest) // 2 :])

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

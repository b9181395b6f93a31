"""Run the detectors over a batch of row changes that are already in the graph.

Detection follows the graph write, so what detectors read includes the batch
itself; each detector judges an event only on what happened up to the event's own
time, so a replay of history raises the same findings, and the findings' alert ids
are stable (`alerts.model.alert_id`). A detector that fails on one event is logged
and counted; it does not hold back the stream.
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
from fraudgraph.detection.context import DAY_MS, HOUR_MS, Context
from fraudgraph.detection.detector import Detector
from fraudgraph.detection.detectors._payments import CARD_CHANNELS
from fraudgraph.detection.events import Event, to_event, trace_id_of
from fraudgraph.detection.history import AccountInfo, HistorySource, Txn
from fraudgraph.detection.records import RecordBuilder
from fraudgraph.detection.settings import DetectionConfig
from fraudgraph.observability.logs import get_logger

log = get_logger(__name__)
RECENT_ALERT_IDS = 200_000
JUDGED_ACCOUNTS = 2_000_000  # accounts whose latest judged payment time is kept
SHARED_WIDELY = 20  # holders of one identifier beyond which a new one re-judges nothing


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
    rechecked: int = 0  # events judged a second time (see DetectionEngine.recheck)
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
        # Per account, the time of the latest payment judged (see _judged_again).
        self._judged_until: dict[int, int] = {}
        # Histories are prefetched and kept as far back as any detector reads them.
        self._kept = config.history.stretched(d.reach() for d, _ in self.detectors)
        self._sent_ms = int(config.history.sent_days * DAY_MS)
        self._received_ms = int(config.history.received_days * DAY_MS)
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
            # The payments judged per account are gone; ones inserted later (a reset
            # bank reusing ids and times) are new payments, not late arrivals.
            self._judged_until.clear()

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
        holds (`_judged_again`, `by_anyone`). A lone worker queues nothing: its cache
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
        """A batch's events and the later payments to judge again with them (see
        `_judged_again`), in event-time order; a second judgement counts as rechecked."""
        ctx = Context(
            self.source,
            self.config.history,
            self.cache,
            kept=self._kept,
            second_judgement=by_anyone,
        )
        ctx.prefetch(events)
        ctx.judging(events)
        again = self._judged_again(events, ctx, by_anyone=by_anyone)
        judged = sorted([*events, *again], key=lambda e: (e.at, e.lsn))
        self._note_judged(judged)
        self._judge(judged, ctx, result)
        if by_anyone:
            result.rechecked += len(judged)
        else:
            result.rejudged = len(again)
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

    def _judged_again(
        self, events: Sequence[Event], ctx: Context, *, by_anyone: bool = False
    ) -> list[Event]:
        """Payments this worker judged before a payment that precedes them arrived,
        and before a customer or account row they read (`_owners_judged_again`).

        Topics and partitions are read at their own paces (a backlog after a restart
        most of all): a transfer can reach the graph after later payments of the same
        accounts, which were judged without it (a mule chain's next hop, a fan-in's
        cash-out, a structuring run's tail). Those later payments of the payer and the
        payee, and in turn of their payees, within `late.horizon_hours`, are judged
        again as of their own time: what they find carries the ids in-order processing
        gives, and what was already sent is deduplicated.

        "Judged before" is this process's record of the latest payment time it judged
        per account, so in-order processing (live, or an offline replay whose history
        holds the future) judges nothing twice. With `by_anyone` (a shared group's
        second judgement) it is every later payment in the graph: another worker may
        have judged those, and its record is not this one's. Card payments are left to
        the card rules, which look ahead on the card themselves.
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
                if account is None:
                    continue
                judged = txn.at + horizon if by_anyone else self._judged_until.get(account)
                if judged is None or judged <= txn.at:
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
                    found[other.txn_id] = _judged_for(other, cause)
                    queue.append((other, cause))
        if queue:
            log.warning("late_rejudging_capped", judged_again=len(found), left=len(queue))
        owners_due: dict[int, Event] = {}
        for other, cause in self._owners_judged_again(events, ctx, by_anyone=by_anyone):
            if other.txn_id not in own and other.txn_id not in found:
                owners_due.setdefault(other.txn_id, _judged_for(other, cause))
        room = max(0, budget - len(found))
        if len(owners_due) > room:
            log.warning(
                "late_rejudging_capped", judged_again=len(found), left=len(owners_due) - room
            )
        found.update(list(owners_due.items())[:room])
        return list(found.values())

    def _owners_judged_again(
        self, events: Sequence[Event], ctx: Context, *, by_anyone: bool
    ) -> list[tuple[Txn, Event]]:
        """Payments judged before a customer or an account they bear on arrived, each
        with the event that makes it due.

        Who owns an account, what else its owner holds, and who shares the owner's
        identifiers are read as of now (the learned scorer's owner features): a
        customer or account row read after payments it bears on (its topic ran behind,
        a restarted worker's backlog) changes what those payments were judged on. A
        customer bears on its own accounts' payments and on those of every customer
        sharing one of its identifiers; an account, on its owner's accounts'. Their
        latest payments within `late.horizon_hours` (of what this worker judged, or
        with `by_anyone` of the row's own time) are judged again, not in turn their
        payees' (an owner's features move nothing downstream). An identifier held by
        more than `SHARED_WIDELY` customers is left out: one more holder barely moves
        what its payments were judged on, and its holders' payments are many.
        """
        late = self.config.late
        horizon = int(late.horizon_hours * HOUR_MS)
        # (event, the customers whose payments it bears on)
        causes = [(e, held) for e in events if (held := _borne_on(e, ctx))]
        if not causes:
            return []
        # One round trip each for the whole batch: the owners' accounts, their windows.
        owned = ctx.accounts_of_many({c for _, holders in causes for c in holders})
        spans: list[tuple[Event, int, int, int]] = []  # (cause, account, since, until)
        for event, holders in causes:
            for customer in holders:
                for account_id in owned.get(customer, []):
                    until = event.at + horizon if by_anyone else self._judged_until.get(account_id)
                    if until is not None:
                        since = (event.at if by_anyone else until) - horizon
                        spans.append((event, account_id, since, until))
        if not spans:
            return []
        lo, hi = min(s[2] for s in spans), max(s[3] for s in spans)
        accounts = {s[1] for s in spans}
        sent, received = ctx.sent_many(accounts, lo, hi), ctx.received_many(accounts, lo, hi)
        due: list[tuple[Txn, Event]] = []
        for event, account, since, until in spans:
            payments = [
                t
                for t in [*sent.get(account, []), *received.get(account, [])]
                if since <= t.at <= until and t.channel not in CARD_CHANNELS
            ]
            latest = sorted(payments, key=lambda t: (t.at, t.txn_id))[-late.max_payments :]
            due += [(t, event) for t in latest]
        return due

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


def _borne_on(event: Event, ctx: Context) -> set[int]:
    """The customers whose payments a customer or account row bears on (see
    `DetectionEngine._owners_judged_again`); empty for other events."""
    if event.kind == "customer":
        holders = {event.customer.customer_id}
        for sharing in ctx.sharing(event.customer.identities).values():
            if len(sharing) <= SHARED_WIDELY:
                holders.update(sharing)
        return holders
    account = event.record
    if event.kind == "account" and isinstance(account, AccountInfo):
        return {account.customer_id} if account.customer_id is not None else set()
    return set()


def _judged_for(txn: Txn, cause: Event) -> Event:
    """A payment judged again because of `cause`: it carries the cause's coordinates
    and trace (what made it due), as a snapshot read of the row."""
    return Event("transaction", txn, txn.at, "r", cause.lsn, cause.committed_at_ms, cause.trace_id)


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

"""Late arrivals: what in-order processing would have judged with a row that arrived
after rows judged without it.

Topics and partitions are read at their own paces (a backlog after a restart, a bulk
load's tables read side by side, two workers of one group): a row can reach the
worker after later rows that, judged in order, would have read it. Those are judged
again, as of their own time, in the same batch as the late row: what they find
carries the ids in-order processing gives, and what was already sent is
deduplicated. One mechanism for every rule, three ways a row can be late:

- a payment before later payments of its accounts (`_payments_judged_again`: a mule
  chain's next hop, a fan-in's cash-out, a structuring run's tail);
- a customer or an account before payments they bear on (`_owners_judged_again`: who
  owns an account and who shares the owner's identifiers, read as of now);
- any row before the earlier judgements a rule says it bears on (`Detector.
  judged_before`: a report judged before payments in its window, a customer judged
  before a sharer who joined earlier arrived).

"Judged before" is this process's record of what it judged, so in-order processing
(live, or an offline replay whose history holds the future) judges nothing twice. In
a shared group's second judgement (`by_anyone`) it is whatever the graph holds:
another worker may have judged it, and its record is not this one's.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace

from fraudgraph.detection.context import HOUR_MS, Context, row_of
from fraudgraph.detection.detector import Detector
from fraudgraph.detection.detectors._payments import CARD_CHANNELS
from fraudgraph.detection.events import Event
from fraudgraph.detection.history import AccountInfo, Txn
from fraudgraph.detection.settings import LateArrivalConfig
from fraudgraph.observability.logs import get_logger

log = get_logger(__name__)
JUDGED_ACCOUNTS = 2_000_000  # accounts whose latest judged payment time is kept
JUDGED_ROWS = 500_000  # other rows (customers, accounts, reports) known to be judged
SHARED_WIDELY = 20  # holders of one identifier beyond which a new one re-judges nothing


class LateArrivals:
    def __init__(
        self,
        config: LateArrivalConfig,
        detectors: Sequence[Detector],
        *,
        sent_ms: int,
        received_ms: int,
    ) -> None:
        self.config = config
        self._horizon = int(config.horizon_hours * HOUR_MS)
        self._sent_ms = sent_ms
        self._received_ms = received_ms
        # Only the rules that name earlier judgements are asked (most name none), and
        # only rows of the kinds they judge are recorded (a rule names its own
        # judgements; payments have `_judged_until`): not every login.
        self._naming = [d for d in detectors if type(d).judged_before is not Detector.judged_before]
        self._named_kinds = {k for d in self._naming for k in d.handles} - {"transaction"}
        # Per account, the time of the latest payment judged.
        self._judged_until: dict[int, int] = {}
        # Other rows judged, (kind, id), the longest ago first.
        self._judged_rows: OrderedDict[tuple[str, int], None] = OrderedDict()

    def forget_payments(self) -> None:
        """The payments judged are gone (their table was truncated); ones inserted later
        (a reset bank reusing ids and times) are new payments, not late arrivals."""
        self._judged_until.clear()

    def due(self, events: Sequence[Event], ctx: Context, *, by_anyone: bool) -> list[Event]:
        """The rows to judge again with `events`, each carrying the coordinates and trace
        of the late row that made it due (the row that completed what it finds)."""
        # Bounded per batch, so a pathological backlog cannot multiply a batch's work.
        budget = max(8 * self.config.max_payments, 2 * len(events))
        owners: list[Event] = []
        found: dict[tuple[str, int], Event] = {}
        if self.config.horizon_hours > 0 and self.config.max_payments > 0:
            found = self._payments_judged_again(events, ctx, by_anyone=by_anyone, budget=budget)
            owners = self._owners_judged_again(events, ctx, by_anyone=by_anyone)
        own = {row_of(e) for e in events}
        for again in [*owners, *self._named_judged_again(events, ctx, by_anyone=by_anyone)]:
            key = row_of(again)
            if key in own or key in found:
                continue
            if len(found) >= budget:
                log.warning("late_rejudging_capped", judged_again=len(found))
                break
            found[key] = again
        return list(found.values())

    def note(self, events: Sequence[Event]) -> None:
        """These events were judged."""
        for event in events:
            if event.kind in self._named_kinds:
                key = row_of(event)
                self._judged_rows[key] = None
                self._judged_rows.move_to_end(key)
                continue
            if event.kind != "transaction":
                continue
            txn = event.txn
            for account in (txn.account_id, txn.counterparty_account_id):
                if account is not None and txn.at > self._judged_until.get(account, -1):
                    self._judged_until[account] = txn.at
        while len(self._judged_rows) > JUDGED_ROWS:
            self._judged_rows.popitem(last=False)
        if len(self._judged_until) > JUDGED_ACCOUNTS:
            # Forget the accounts judged longest ago (by payment time): a late payment
            # for them is judged alone, as before this record existed.
            newest = sorted(self._judged_until.items(), key=lambda kv: kv[1])
            self._judged_until = dict(newest[len(newest) // 2 :])

    def _payments_judged_again(
        self, events: Sequence[Event], ctx: Context, *, by_anyone: bool, budget: int
    ) -> dict[tuple[str, int], Event]:
        """Later payments of a late payment's payer and payee, and in turn of their
        payees, within `late.horizon_hours`. Card payments are left to the card rules,
        which look ahead on the card themselves."""
        late = self.config
        payments = [e for e in events if e.kind == "transaction"]
        own = {e.txn.txn_id for e in payments}
        found: dict[tuple[str, int], Event] = {}
        queue = [(e.txn, e) for e in payments if e.txn.channel not in CARD_CHANNELS]
        while queue and len(found) < budget:
            txn, cause = queue.pop(0)
            for account in (txn.account_id, txn.counterparty_account_id):
                if account is None:
                    continue
                judged = txn.at + self._horizon if by_anyone else self._judged_until.get(account)
                if judged is None or judged <= txn.at:
                    continue
                until = min(judged, txn.at + self._horizon)
                later = [
                    t
                    for t in [
                        *ctx.sent(account, txn.at - self._sent_ms, until),
                        *ctx.received(account, txn.at - self._received_ms, until),
                    ]
                    if (t.at, t.txn_id) > (txn.at, txn.txn_id) and t.channel not in CARD_CHANNELS
                ]
                for other in sorted(later, key=lambda t: (t.at, t.txn_id))[: late.max_payments]:
                    key = ("transaction", other.txn_id)
                    if other.txn_id in own or key in found:
                        continue
                    found[key] = _judged_for(other, cause)
                    queue.append((other, cause))
        if queue:
            log.warning("late_rejudging_capped", judged_again=len(found), left=len(queue))
        return found

    def _owners_judged_again(
        self, events: Sequence[Event], ctx: Context, *, by_anyone: bool
    ) -> list[Event]:
        """Payments judged before a customer or an account they bear on arrived.

        Who owns an account, what else its owner holds, and who shares the owner's
        identifiers are read as of now (the learned scorer's owner features). A
        customer bears on its own accounts' payments and on those of every customer
        sharing one of its identifiers; an account, on its owner's accounts'. Their
        payments since the row's own time, within `late.horizon_hours` of the latest
        this worker judged (with `by_anyone`: of the row's own time), are judged again,
        the latest `late.max_payments` of each account, not in turn their payees' (an
        owner's features move nothing downstream). An identifier held by
        more than `SHARED_WIDELY` customers is left out: one more holder barely moves
        what its payments were judged on, and its holders' payments are many.
        """
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
                    if by_anyone:
                        until: int | None = event.at + self._horizon
                    else:
                        until = self._judged_until.get(account_id)
                    if until is not None:
                        # Payments before the row's own time were judged without it
                        # in order too; older than the horizon, they are left alone.
                        since = max(event.at, until - self._horizon)
                        spans.append((event, account_id, since, until))
        if not spans:
            return []
        lo, hi = min(s[2] for s in spans), max(s[3] for s in spans)
        accounts = {s[1] for s in spans}
        sent, received = ctx.sent_many(accounts, lo, hi), ctx.received_many(accounts, lo, hi)
        due: list[Event] = []
        for event, account, since, until in spans:
            payments = [
                t
                for t in [*sent.get(account, []), *received.get(account, [])]
                if since <= t.at <= until and t.channel not in CARD_CHANNELS
            ]
            latest = sorted(payments, key=lambda t: (t.at, t.txn_id))[-self.config.max_payments :]
            due += [_judged_for(t, event) for t in latest]
        return due

    def _named_judged_again(
        self, events: Sequence[Event], ctx: Context, *, by_anyone: bool
    ) -> list[Event]:
        """The earlier judgements the rules name for each event (`Detector.
        judged_before`) that this process made (or, `by_anyone`, the graph holds)."""
        due: list[Event] = []
        for detector in self._naming:
            for event in events:
                for earlier in detector.judged_before(event, ctx):
                    kind, row_id = key = row_of(earlier)
                    if ctx.in_batch(kind, row_id):
                        continue  # judged as its own event
                    if by_anyone or key in self._judged_rows:
                        due.append(_as_cause(earlier, event))
        return due


def _borne_on(event: Event, ctx: Context) -> set[int]:
    """The customers whose payments a customer or account row bears on (see
    `LateArrivals._owners_judged_again`); empty for other events."""
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
    """A payment judged again because of `cause`, as a snapshot read of the row."""
    return _as_cause(Event("transaction", txn, txn.at, "r", 0, 0), cause)


def _as_cause(earlier: Event, cause: Event) -> Event:
    """An earlier row judged again, carrying the coordinates and trace of `cause`."""
    return replace(
        earlier,
        op="r",
        lsn=cause.lsn,
        committed_at_ms=cause.committed_at_ms,
        trace_id=cause.trace_id,
    )

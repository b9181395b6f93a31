"""Per-account features for the learned scorer: one module for training and for serving.

`account_features(account, at, ctx)` describes an account as of the event time `at`
from the transfers the detectors' `Context` holds: the worker's history cache live,
the simulator's rows in memory offline. Training (detection/learned/training.py) and the
worker's scorer (detection/detectors/learned_risk.py) call this one function, so what
the model was trained on and what it is served cannot drift apart; the model file
records `FEATURES_VERSION` and `FEATURE_NAMES`, and a model built for other features
is refused at start.

The features are about structure and time, not amounts: counts of transfers and of
distinct counterparties per day and per week, how much of what came in went out again
and how fast, how bursty the account is against its own month, what its counterparties
look like (hubs, pass-through accounts, money coming back), and how many customers
share its owner's identifiers. Since version 2 also: counterparties dealt with more than
once, counterparties on the one channel that has the most (a case moves its money one
way, the account's ordinary life uses the others), money in over three weeks (a slow
collection), and this week's amounts against the account's own before it and the
payee's usual receipts. Amounts enter only as ratios to the account's own flows,
because absolute amounts are what one bank's (or one generator's) customers happen to
spend.

Every window ends at `at` inclusive and reaches at most `LONG_RECEIVED_DAYS` back for
money in and `SENT_DAYS` for money out; the scorer declares both as its reach
(`LearnedRisk.reach`), so the worker prefetches and keeps them and serving reads
nothing the batch did not already fetch except the counterparties' own windows.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Callable, Iterable, Sequence

from fraudgraph.detection.context import DAY_MS, HOUR_MS, Context
from fraudgraph.detection.history import REVERSED, STRONG_IDENTITIES, TRANSFER_CHANNELS, Txn

FEATURES_VERSION = 2
RECEIVED_DAYS = 10
# A slow collection spreads its payers over weeks: money in is also read this far back.
LONG_RECEIVED_DAYS = 21
SENT_DAYS = 30
NEIGHBOURS = 12  # counterparties looked at per account, the most recent first

ACCOUNT_FEATURE_NAMES: tuple[str, ...] = (
    "in_count_1d",
    "in_count_7d",
    "in_senders_1d",
    "in_senders_7d",
    "in_senders_10d",
    "in_senders_max_day",
    "out_count_1d",
    "out_count_7d",
    "out_count_30d",
    "out_receivers_1d",
    "out_receivers_7d",
    "out_receivers_30d",
    "out_receivers_max_day",
    "out_external_share_7d",
    "pass_through_7d",
    "out_within_1d_of_in_7d",
    "hold_hours_median_7d",
    "burst_share_1d_of_30d",
    "gap_cv_30d",
    "active_days_30d",
    "owner_accounts",
    "shared_identity_customers",
    "mutual_counterparties_7d",
    "returned_within_2_hops_7d",
    "nb_max_senders_7d",
    "nb_max_receivers_7d",
    "nb_pass_through_count_7d",
    "nb_mean_senders_7d",
    "nb_new_counterparty_share",
    "in_senders_21d",
    "in_repeat_senders_10d",
    "out_repeat_receivers_7d",
    "in_channel_senders_10d",
    "out_channel_receivers_7d",
    "in_amount_vs_usual_7d",
    "out_amount_vs_usual_7d",
)
# The transfer itself, between its two ends.
PAIR_FEATURE_NAMES: tuple[str, ...] = (
    "pair_earlier_transfers_30d",
    "pair_reverse_transfers_10d",
    "pair_hours_since_payer_received",
    "pair_amount_over_received_3d",
    "pair_amount_vs_payer_median",
    "pair_transfers_7d",
    "pair_amount_vs_payee_received",
)
# What the model reads: the payer's features, the payee's, then the pair's.
FEATURE_NAMES: tuple[str, ...] = (
    *(f"{end}_{name}" for end in ("payer", "payee") for name in ACCOUNT_FEATURE_NAMES),
    *PAIR_FEATURE_NAMES,
)
ABSENT = -1.0  # every feature of a payee at another bank


def _moves(txn: Txn) -> bool:
    """`txn.is_transfer and txn.counts`, spelled out: it is asked of every transfer of
    every window the features read, and the two property calls were a tenth of the
    worker's CPU at 1,000 tx/s once a customer's windows held a few hundred payments."""
    return txn.channel in TRANSFER_CHANNELS and txn.status != REVERSED


def _payee(txn: Txn) -> int | str | None:
    return txn.counterparty_account_id or txn.counterparty_hash


def _distinct(keys: Iterable[object]) -> int:
    return len({k for k in keys if k is not None})


def _max_per_day(txns: Sequence[Txn], key_of: Callable[[Txn], object]) -> int:
    by_day: dict[int, set[object]] = {}
    for txn in txns:
        key = key_of(txn)
        if key is not None:
            by_day.setdefault(txn.at // DAY_MS, set()).add(key)
    return max((len(keys) for keys in by_day.values()), default=0)


def _since(txns: Sequence[Txn], since: int) -> list[Txn]:
    return [t for t in txns if t.at >= since]


def _hold_times(received: Sequence[Txn], sent: Sequence[Txn]) -> list[float]:
    """Hours from each receipt to the next transfer out, for receipts followed by one."""
    outs = sorted(t.at for t in sent)
    holds: list[float] = []
    j = 0
    for txn in sorted(received, key=lambda t: t.at):
        while j < len(outs) and outs[j] < txn.at:
            j += 1
        if j < len(outs):
            holds.append((outs[j] - txn.at) / HOUR_MS)
    return holds


def _gap_cv(times: Sequence[int]) -> float:
    """Coefficient of variation of the gaps between transfers: bursts score high."""
    ordered = sorted(times)
    gaps = [b - a for a, b in itertools.pairwise(ordered)]
    if len(gaps) < 2:
        return 0.0
    mean = statistics.fmean(gaps)
    return statistics.pstdev(gaps) / mean if mean > 0 else 0.0


class _Flows:
    """One account's transfers in and out as of `at`, read once per account."""

    def __init__(self, ctx: Context, account_id: int, at: int) -> None:
        self.at = at
        self.sent = [t for t in ctx.sent(account_id, at - SENT_DAYS * DAY_MS, at) if _moves(t)]
        self.received_long = [
            t for t in ctx.received(account_id, at - LONG_RECEIVED_DAYS * DAY_MS, at) if _moves(t)
        ]
        self.received = _since(self.received_long, at - RECEIVED_DAYS * DAY_MS)

    def sent_within(self, days: float) -> list[Txn]:
        return _since(self.sent, self.at - int(days * DAY_MS))

    def received_within(self, days: float) -> list[Txn]:
        return _since(self.received, self.at - int(days * DAY_MS))

    def pass_through(self, days: float) -> float:
        money_in = sum(t.amount for t in self.received_within(days))
        money_out = sum(t.amount for t in self.sent_within(days))
        return min(money_out / money_in, 5.0) if money_in > 0 else 0.0


def scored(txn: Txn) -> bool:
    """Whether the scorer judges this payment: a transfer between accounts that moved."""
    return _moves(txn) and txn.counterparty_account_id != txn.account_id


def prefetch(txns: Sequence[Txn], ctx: Context) -> None:
    """Ask once for all of a batch's transfers what their features read beyond the
    batch's own prefetch (Context.prefetch): the owners' accounts, who else holds the
    owners' identifiers, and the week of every counterparty the ends dealt with. Asked
    transfer by transfer instead, the worker's cache misses would each cost a Neo4j
    round trip. The ends themselves are asked for too: transfers judged again for a
    late row (detection/late.py) arrive here without the batch's prefetch."""
    if not txns:
        return
    lo = min(t.at for t in txns) - 7 * DAY_MS
    hi = max(t.at for t in txns)
    ends = {a for t in txns for a in (t.account_id, t.counterparty_account_id) if a is not None}
    accounts = ctx.accounts(ends)
    owners = {a.customer_id for a in accounts.values() if a.customer_id is not None}
    ctx.accounts_of_many(owners)
    ctx.sharing(
        key
        for customer in ctx.customers(owners).values()
        for key in customer.identities
        if key[0] in STRONG_IDENTITIES
    )
    # Every counterparty of the ends' last week: a superset of the NEIGHBOURS each
    # transfer's features pick.
    neighbours: set[int] = set()
    for received in ctx.received_many(ends, lo, hi).values():
        neighbours.update(t.account_id for t in received)
    for sent in ctx.sent_many(ends, lo, hi).values():
        neighbours.update(
            t.counterparty_account_id for t in sent if t.counterparty_account_id is not None
        )
    neighbours -= ends
    ctx.received_many(neighbours, lo, hi)
    ctx.sent_many(neighbours, lo, hi)


def transfer_features(txn: Txn, ctx: Context) -> tuple[float, ...]:
    """A transfer as the scorer sees it: its payer, its payee (each as of the transfer's
    time; a payee at another bank is all `ABSENT`), then the pair."""
    payer = account_features(txn.account_id, txn.at, ctx)
    payee_id = txn.counterparty_account_id
    payee = (
        account_features(payee_id, txn.at, ctx)
        if payee_id is not None
        else (ABSENT,) * len(ACCOUNT_FEATURE_NAMES)
    )
    return payer + payee + _pair(txn, ctx)


def _pair(txn: Txn, ctx: Context) -> tuple[float, ...]:
    """Whether the two know each other, and whether the payer is passing money on:
    how soon after money came in, and how much of it this transfer is."""
    payee = _payee(txn)
    month = txn.at - SENT_DAYS * DAY_MS
    earlier_out = [
        t
        for t in ctx.sent(txn.account_id, month, txn.at)
        if _moves(t) and (t.at, t.txn_id) < (txn.at, txn.txn_id)
    ]
    earlier = sum(1 for t in earlier_out if _payee(t) == payee)
    came_in = [
        t
        for t in ctx.received(txn.account_id, txn.at - RECEIVED_DAYS * DAY_MS, txn.at)
        if _moves(t)
    ]
    reverse = sum(1 for t in came_in if t.account_id == txn.counterparty_account_id)
    last_in = max((t.at for t in came_in if t.at <= txn.at), default=None)
    since_in = (txn.at - last_in) / HOUR_MS if last_in is not None else ABSENT
    received_3d = sum(t.amount for t in came_in if t.at >= txn.at - 3 * DAY_MS)
    share = min(txn.amount / received_3d, 5.0) if received_3d > 0 else ABSENT
    amounts = [t.amount for t in earlier_out]
    median = statistics.median(amounts) if amounts else 0.0
    versus = _log_ratio(txn.amount, median)
    week = txn.at - 7 * DAY_MS
    this_week = sum(1 for t in earlier_out if t.at >= week and _payee(t) == payee)
    payee_versus = 0.0
    if txn.counterparty_account_id is not None:
        into = [
            t.amount
            for t in ctx.received(
                txn.counterparty_account_id, txn.at - RECEIVED_DAYS * DAY_MS, txn.at
            )
            if _moves(t) and (t.at, t.txn_id) < (txn.at, txn.txn_id)
        ]
        usual = statistics.median(into) if into else 0.0
        payee_versus = _log_ratio(txn.amount, usual)
    return (float(earlier), float(reverse), since_in, share, versus, float(this_week), payee_versus)


def account_features(account_id: int, at: int, ctx: Context) -> tuple[float, ...]:
    """The account as of `at`, in `ACCOUNT_FEATURE_NAMES` order."""
    own = _Flows(ctx, account_id, at)
    in_1d, in_7d = own.received_within(1), own.received_within(7)
    out_1d, out_7d = own.sent_within(1), own.sent_within(7)
    senders_7d = {t.account_id for t in in_7d}
    receivers_7d = {k for t in out_7d if (k := _payee(t)) is not None}
    holds = _hold_times(in_7d, out_7d)
    times_30d = [t.at for t in own.sent] + [t.at for t in own.received]
    n_30d = len(own.sent) + len(own.received)
    features = [
        len(in_1d),
        len(in_7d),
        _distinct(t.account_id for t in in_1d),
        len(senders_7d),
        _distinct(t.account_id for t in own.received),
        _max_per_day(own.received, lambda t: t.account_id),
        len(out_1d),
        len(out_7d),
        len(own.sent),
        _distinct(_payee(t) for t in out_1d),
        len(receivers_7d),
        _distinct(_payee(t) for t in own.sent),
        _max_per_day(own.sent, _payee),
        sum(1 for t in out_7d if t.counterparty_account_id is None) / len(out_7d)
        if out_7d
        else 0.0,
        own.pass_through(7),
        sum(1 for h in holds if h <= 24) / len(in_7d) if in_7d else 0.0,
        statistics.median(holds) if holds else -1.0,
        (len(in_1d) + len(out_1d)) / n_30d if n_30d else 0.0,
        _gap_cv(times_30d),
        len({t // DAY_MS for t in times_30d}),
        *_owner(ctx, account_id),
        *_neighbourhood(
            ctx, account_id, at=at, own=own, senders=senders_7d, receivers=receivers_7d
        ),
        _distinct(t.account_id for t in own.received_long),
        _repeats(t.account_id for t in own.received),
        _repeats(_payee(t) for t in out_7d),
        _most_by_channel(own.received, lambda t: t.account_id),
        _most_by_channel(out_7d, _payee),
        _versus_usual(own.received_long, at - 7 * DAY_MS),
        _versus_usual(own.sent, at - 7 * DAY_MS),
    ]
    return tuple(float(f) for f in features)


def _repeats(keys: Iterable[object]) -> int:
    """Counterparties dealt with more than once."""
    seen: dict[object, int] = {}
    for key in keys:
        if key is not None:
            seen[key] = seen.get(key, 0) + 1
    return sum(1 for n in seen.values() if n > 1)


def _most_by_channel(txns: Sequence[Txn], key_of: Callable[[Txn], object]) -> int:
    """Distinct counterparties on the one channel that has the most: a case moves its
    money one way while the account's ordinary life uses the others."""
    by_channel: dict[str, set[object]] = {}
    for txn in txns:
        key = key_of(txn)
        if key is not None:
            by_channel.setdefault(txn.channel, set()).add(key)
    return max((len(keys) for keys in by_channel.values()), default=0)


def _versus_usual(txns: Sequence[Txn], since: int) -> float:
    """Log of the median amount since `since` over the account's own median before it:
    the account against its own baseline, whatever its bank's amounts are."""
    recent = [t.amount for t in txns if t.at >= since]
    before = [t.amount for t in txns if t.at < since]
    if not recent or not before:
        return 0.0
    return _log_ratio(statistics.median(recent), statistics.median(before))


def _log_ratio(amount: float, usual: float) -> float:
    """How many times `usual` an amount is, on a log scale; 0 when either is none."""
    return math.log(amount / usual) if amount > 0 and usual > 0 else 0.0


def _owner(ctx: Context, account_id: int) -> tuple[float, float]:
    """The owner's accounts, and how many other customers share its strong identifiers."""
    account = ctx.account(account_id)
    if account is None or account.customer_id is None:
        return (0.0, 0.0)
    accounts = float(len(ctx.accounts_of(account.customer_id)))
    owner = ctx.customer(account.customer_id)
    if owner is None:
        return (accounts, 0.0)
    strong = [key for key in owner.identities if key[0] in STRONG_IDENTITIES]
    others = {c for holders in ctx.sharing(strong).values() for c in holders}
    others.discard(owner.customer_id)
    return (accounts, float(len(others)))


def _neighbourhood(
    ctx: Context,
    account_id: int,
    *,
    at: int,
    own: _Flows,
    senders: set[int],
    receivers: set[int | str],
) -> tuple[float, ...]:
    """What the account's internal counterparties of the last week look like."""
    mutual = len(senders & {r for r in receivers if isinstance(r, int)})
    recent = sorted(
        [*own.received_within(7), *own.sent_within(7)], key=lambda t: t.at, reverse=True
    )
    neighbours: list[int] = []
    for txn in recent:
        other = txn.counterparty_account_id if txn.account_id == account_id else txn.account_id
        if other is not None and other != account_id and other not in neighbours:
            neighbours.append(other)
        if len(neighbours) == NEIGHBOURS:
            break
    if not neighbours:
        return (float(mutual), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    week = at - 7 * DAY_MS
    received = ctx.received_many(neighbours, week, at)
    sent = ctx.sent_many(neighbours, week, at)
    n_senders: list[int] = []
    n_receivers: list[int] = []
    pass_through = 0
    returned = 0
    # One pass over each window: these loops ran over every neighbour's week for every
    # transfer scored, most of the scorer's time once windows fill (docs/benchmarks.md).
    for other in neighbours:
        payers: set[int] = set()
        money_in = 0.0
        for t in received.get(other, ()):
            if t.channel in TRANSFER_CHANNELS and t.status != REVERSED:
                payers.add(t.account_id)
                money_in += t.amount
        payees: set[int | str] = set()
        money_out = 0.0
        paid_a_sender = False
        for t in sent.get(other, ()):
            if t.channel in TRANSFER_CHANNELS and t.status != REVERSED:
                payee = t.counterparty_account_id or t.counterparty_hash
                if payee is not None:
                    payees.add(payee)
                money_out += t.amount
                paid_a_sender = paid_a_sender or t.counterparty_account_id in senders
        n_senders.append(len(payers))
        n_receivers.append(len(payees))
        if money_in > 0 and money_out >= 0.5 * money_in:
            pass_through += 1
        # Money this account sent on that reached an account which paid it back.
        if other in receivers and paid_a_sender:
            returned += 1
    # Counterparties this account had never dealt with before the week.
    older_sent = {_payee(t) for t in own.sent if t.at < week}
    older_received = {t.account_id for t in own.received if t.at < week}
    new = sum(1 for n in neighbours if n not in older_sent and n not in older_received)
    return (
        float(mutual),
        float(returned),
        float(max(n_senders)),
        float(max(n_receivers)),
        float(pass_through),
        statistics.fmean(n_senders),
        new / len(neighbours),
    )

"""What the flow-shape rules share: money judged by its structure and timing alone.

The rules `ordered_cycle`, `fan_in_burst`, `fan_out_burst`, `scatter_gather`,
`gather_scatter`, `layered_stack` and `bipartite_flow` look at transfers between
accounts of this bank (and, for money leaving an intermediary, transfers out of the
bank too) that moved money. They never compare an amount with a fixed sum: only
shares of amounts (how much of what an account received it passed on), counts of
distinct counterparties and time windows.

Every question is asked up to the triggering transfer (event-time order, ties by id),
so a shape found on replay is the shape that was visible when that transfer was made.

The central notion is a *relay*: an account that, within a window, received money
from other customers' accounts and sent most of it on to yet other accounts (or out
of the bank) afterwards. An ordinary account rarely does: its transfers in and out are
few (a salary, rent, a handful of friends) and do not balance within days.

Honest friend circles pass small sums on all the time, so a relay is judged against
the account's own life: counterparties it paid and was paid by (friends settling up)
are neither sources nor sinks; only counterparties that moved a material part of the
relayed money count (a friend's 10.00 beside hundreds relayed does not); money goes
out only after money came in (never ahead of it); and the relayed money is a large
share of everything the account paid out meanwhile (cards and bills included).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from pydantic import Field

from fraudgraph.alerts.model import Entity, Finding
from fraudgraph.detection import flows, views
from fraudgraph.detection.context import DAY_MS, Context
from fraudgraph.detection.detector import Detector, Params
from fraudgraph.detection.events import Event, EventKind
from fraudgraph.detection.history import Txn

TRANSACTIONS: frozenset[EventKind] = frozenset({"transaction"})
EXTERNAL = -1  # the sink of money that left the bank


def key(txn: Txn) -> tuple[int, int]:
    """Event-time order, ties broken by id: what happened before what."""
    return (txn.at, txn.txn_id)


def days(ms: int) -> float:
    return round(ms / DAY_MS, 2)


def window_ms(days_: float) -> int:
    return int(days_ * DAY_MS)


def outgoing(txn: Txn) -> bool:
    """A transfer that moved money out of its account (to here or another bank)."""
    return txn.is_transfer and flows.moved(txn)


def sink_of(txn: Txn) -> int:
    return txn.counterparty_account_id if txn.counterparty_account_id is not None else EXTERNAL


def received_before(ctx: Context, account: int, since: int, until: Txn) -> list[Txn]:
    """Transfers into `account` from another account of this bank, in [since, until)."""
    return sorted(
        (
            r
            for r in ctx.received(account, since, until.at)
            if flows.internal_transfer(r)
            and key(r) < key(until)
            and r.account_id != account
            and r.currency == until.currency
        ),
        key=key,
    )


def sent_upto(ctx: Context, account: int, since: int, until: Txn) -> list[Txn]:
    """Transfers out of `account` in [since, until] (`until` itself included)."""
    return sorted(
        (
            s
            for s in ctx.sent(account, since, until.at)
            if outgoing(s)
            and key(s) <= key(until)
            and s.counterparty_account_id != account
            and s.currency == until.currency
        ),
        key=key,
    )


@dataclass(frozen=True)
class Relay:
    """What one account received from others in a window and sent on after."""

    account: int
    inbound: list[Txn]
    outbound: list[Txn]
    # Everything the account paid out (to anyone, by any channel) in the window: the
    # relayed money is most of it for a relay, a sliver of it for someone living.
    spent: float = 0.0

    @property
    def inflow(self) -> float:
        return sum(t.amount for t in self.inbound)

    @property
    def outflow(self) -> float:
        return sum(t.amount for t in self.outbound)

    @property
    def passed_share(self) -> float:
        return self.outflow / self.inflow if self.inflow > 0 else 0.0

    @property
    def sources(self) -> list[int]:
        return list(dict.fromkeys(t.account_id for t in self.inbound))

    @property
    def sinks(self) -> list[int]:
        return list(dict.fromkeys(sink_of(t) for t in self.outbound))

    @property
    def internal_sinks(self) -> list[int]:
        return [s for s in self.sinks if s != EXTERNAL]

    @property
    def turnover_share(self) -> float:
        return self.outflow / self.spent if self.spent > 0 else 0.0

    def passes_on(self, low: float, high: float, share: float = 0.0) -> bool:
        return (
            bool(self.inbound)
            and bool(self.outbound)
            and low <= self.passed_share <= high
            and self.turnover_share >= share
        )

    def forwarded(self, low: float, high: float, hold: int) -> Relay:
        """The transfers in that were each sent on as one transfer out (`low` to `high`
        times the amount, within `hold`), and those transfers out: the relay inside an
        account whose other income (a salary landing meanwhile) hides it in the
        balance of everything received. Each transfer out takes the latest transfer
        in before it that it matches; what matches nothing is left out."""
        inbound: list[Txn] = []
        outbound: list[Txn] = []
        unused = list(self.inbound)
        for sent in self.outbound:
            for paid in reversed(unused):
                if (
                    key(paid) < key(sent)
                    and sent.at - paid.at <= hold
                    and low * paid.amount <= sent.amount <= high * paid.amount
                ):
                    unused.remove(paid)
                    inbound.append(paid)
                    outbound.append(sent)
                    break
        return Relay(self.account, sorted(inbound, key=key), outbound, self.spent)


def passing(relay_: Relay, low: float, high: float, share: float, hold: int) -> Relay | None:
    """The relay if it passes on what it received, else its forwarded transfers if
    they do (money came in that was not passed on), else None."""
    if relay_.passes_on(low, high, share):
        return relay_
    if relay_.inbound and relay_.passed_share < low:
        inner = relay_.forwarded(low, high, hold)
        if inner.passes_on(low, high, share):
            return inner
    return None


@dataclass
class Owners:
    """account -> owning customer, asked once per account and remembered."""

    ctx: Context
    known: dict[int, int] = field(default_factory=dict)
    asked: set[int] = field(default_factory=set)

    def load(self, accounts: Iterable[int]) -> dict[int, int]:
        wanted = [a for a in accounts if a not in self.asked and a != EXTERNAL]
        if wanted:
            self.known.update(flows.owners(self.ctx, wanted))
            self.asked.update(wanted)
        return self.known

    def of(self, account: int) -> int:
        """The owner, or a stand-in unique to the account when unknown."""
        self.load([account])
        return self.known.get(account, -account - 2)

    def same(self, a: int, b: int) -> bool:
        return a == b or self.of(a) == self.of(b)


def relay(
    ctx: Context,
    owners: Owners,
    account: int,
    until: Txn,
    *,
    window: int,
    hold: int,
    mutual: int = 0,
    ordered: float = 0.0,
    material: float = 0.0,
) -> Relay:
    """`account`'s relay as of `until`: transfers from other customers received in the
    `window` before, and transfers to other customers (or out of the bank) sent after
    the first of them and at most `hold` after the last. The customer's own accounts
    on either side are left out (moving money to one's savings is not passing it on)."""
    owners.load([account])
    inbound = received_before(ctx, account, until.at - window, until)
    owners.load(t.account_id for t in inbound)
    inbound = [t for t in inbound if not owners.same(t.account_id, account)]
    if not inbound:
        return Relay(account, [], [])
    sent = sent_upto(ctx, account, inbound[0].at, until)
    owners.load(s.counterparty_account_id for s in sent if s.counterparty_account_id is not None)
    outbound = [
        s for s in sent if s.counterparty_account_id is None or not owners.same(sink_of(s), account)
    ]
    # Money sent back to whoever paid it in is a loan repaid, not money passed on.
    payers = {t.account_id for t in inbound}
    outbound = [s for s in outbound if sink_of(s) not in payers]
    if mutual > 0:
        # Friends pay each other both ways: a counterparty this account paid (in the
        # `mutual` before `until`) is no source, one that paid it is no sink.
        paid = {
            s.counterparty_account_id
            for s in ctx.sent(account, until.at - mutual, until.at)
            if key(s) < key(until) and s.counterparty_account_id is not None
        }
        paid_by = {
            r.account_id
            for r in ctx.received(account, until.at - mutual, until.at)
            if key(r) < key(until)
        }
        inbound = [t for t in inbound if t.account_id not in paid]
        outbound = [s for s in outbound if sink_of(s) not in paid_by]
    if material > 0:
        # A relay's counterparties are those that moved a real part of its flow: a
        # friend's 10.00 beside hundreds relayed is everyday life around it.
        inbound = _material(inbound, lambda t: t.account_id, material)
    if not inbound:
        return Relay(account, [], [])
    first, last = inbound[0], inbound[-1]
    outbound = [s for s in outbound if key(s) > key(first) and s.at - last.at <= hold]
    if ordered > 0:
        outbound = _covered(inbound, outbound, ordered)
    if material > 0:
        outbound = _material(outbound, sink_of, material)
    spent = sum(
        s.amount
        for s in ctx.sent(account, until.at - window, until.at)
        if flows.moved(s) and key(s) <= key(until) and s.currency == until.currency
    )
    return Relay(account, inbound, outbound, spent)


def _material(txns: list[Txn], party: Callable[[Txn], int], share: float) -> list[Txn]:
    """The transfers of the parties that each moved at least `share` times what the
    largest party moved."""
    if not txns:
        return txns
    by_party: dict[int, float] = {}
    for t in txns:
        by_party[party(t)] = by_party.get(party(t), 0.0) + t.amount
    floor = share * max(by_party.values())
    return [t for t in txns if by_party[party(t)] >= floor]


def _covered(inbound: list[Txn], outbound: list[Txn], slack: float) -> list[Txn]:
    """The transfers out up to the first that took the money sent on past `slack` times
    what had come in by then: a relay pays out money it was paid, never ahead of it."""
    kept: list[Txn] = []
    got = 0.0
    out = 0.0
    pending = iter(inbound)
    nxt = next(pending, None)
    for s in outbound:
        while nxt is not None and key(nxt) < key(s):
            got += nxt.amount
            nxt = next(pending, None)
        out += s.amount
        if out > slack * got:
            break
        kept.append(s)
    return kept


def entities(roles: Sequence[tuple[int, str]], owners: Owners) -> list[Entity]:
    """Account and owner entities, each with the role its account plays (the first
    role given to an account wins; money out of the bank names no account)."""
    seen: dict[int, str] = {}
    for account, role in roles:
        if account != EXTERNAL:
            seen.setdefault(account, role)
    owner_of = owners.load(seen)
    return flows.party_entities(list(seen.items()), owner_of)


def distinct_owners(accounts: Iterable[int], owners: Owners) -> int:
    accounts = [a for a in accounts if a != EXTERNAL]
    owners.load(accounts)
    return len({owners.of(a) for a in accounts})


@dataclass(frozen=True)
class Layered:
    """Relays that share a source or a sink with the triggering relay."""

    relays: list[Relay]
    sources: list[int]
    sinks: list[int]

    @property
    def txns(self) -> list[Txn]:
        seen: dict[int, Txn] = {}
        for r in self.relays:
            for t in (*r.inbound, *r.outbound):
                seen[t.txn_id] = t
        return sorted(seen.values(), key=key)


def layered(
    ctx: Context,
    owners: Owners,
    txn: Txn,
    *,
    window: int,
    hold: int,
    low: float,
    high: float,
    max_candidates: int,
    mutual: int = 0,
    ordered: float = 0.0,
    share: float = 0.0,
    material: float = 0.0,
) -> Layered | None:
    """The relays around `txn`'s payer, as of `txn`: the payer passes on money it was
    paid, and other accounts paid by the same sources pay the same sinks and pass on
    what they were paid too. None when the payer is no relay."""
    own = relay(
        ctx,
        owners,
        txn.account_id,
        txn,
        window=window,
        hold=hold,
        mutual=mutual,
        ordered=ordered,
        material=material,
    )
    found = passing(own, low, high, share, hold)
    if found is None or txn not in found.outbound:
        return None
    own = found
    sources = own.sources
    sinks = own.internal_sinks
    if not sinks:
        return Layered([own], sources, own.sinks)
    since = txn.at - window
    paid_by_sources: set[int] = set()
    for source, sent in ctx.sent_many(sources[:max_candidates], since, txn.at).items():
        paid_by_sources |= {
            s.counterparty_account_id
            for s in sent
            if flows.internal_transfer(s)
            and s.counterparty_account_id is not None
            and key(s) < key(txn)
            and s.currency == txn.currency
        } - {source}
    paid_sinks: set[int] = set()
    for sink, received in ctx.received_many(sinks[:max_candidates], since, txn.at).items():
        paid_sinks |= {
            r.account_id
            for r in received
            if flows.internal_transfer(r) and key(r) < key(txn) and r.currency == txn.currency
        } - {sink}
    candidates = sorted((paid_by_sources & paid_sinks) - {txn.account_id, *sources, *sinks})
    relays = [own]
    for other in candidates[:max_candidates]:
        r = relay(
            ctx,
            owners,
            other,
            txn,
            window=window,
            hold=hold,
            mutual=mutual,
            ordered=ordered,
            material=material,
        )
        found = passing(r, low, high, share, hold)
        if (
            found is not None
            and set(found.sources) & set(sources)
            and set(found.internal_sinks) & set(sinks)
        ):
            relays.append(found)
    alone = len(relays) == 1
    shared_sources = sorted({s for r in relays for s in r.sources if alone or s in sources})
    shared_sinks = sorted({s for r in relays for s in r.sinks if alone or s in sinks})
    return Layered(relays, shared_sources, shared_sinks)


class RelayParams(Params):
    """What every relay rule shares (see the module docstring)."""

    # Money received this far back counts towards what a relay passes on.
    window_days: float = Field(default=21, gt=0)
    # A relay sends on within days of being paid (after its last inbound transfer).
    hold_days: float = Field(default=10, gt=0)
    # Share of what it received (from other customers, in the window) that a relay
    # sent on (to other customers or out of the bank) afterwards: intermediaries keep
    # a margin; an account that sends much more than it got is spending its own money.
    pass_min: float = Field(default=0.7, gt=0, le=1)
    pass_max: float = Field(default=1.05, ge=1)
    # Bound on the search: sources, sinks and neighbouring relays looked at.
    max_candidates: int = Field(default=20, ge=1)
    # Counterparties the account paid and was paid by within this many days are
    # friends settling up, neither a source nor a sink of relayed money (0: off).
    mutual_days: float = Field(default=30, ge=0)
    # A relay never pays out more than this times what it had been paid so far: the
    # transfers out from the first that would are not the relayed money (0: off).
    ordered_slack: float = Field(default=1.05, ge=0)
    # Share of all the account paid out in the window (cards, bills, transfers) that
    # the relayed money makes: friends passing a small sum on spend far more on living.
    min_turnover_share: float = Field(default=0.4, ge=0, le=1)
    # A source (sink) counts only if it paid in (was paid) at least this share of what
    # the relay's largest source (sink) did (0: every counterparty counts).
    material_share: float = Field(default=0.25, ge=0, le=1)


class RelayShape(Detector):
    """A rule about the relays around a transfer's payer; subclasses say which shape."""

    kind = "link"
    handles = TRANSACTIONS
    params_model: ClassVar[type[Params]] = RelayParams
    params: RelayParams
    what: ClassVar[str] = ""  # the shape, for the explanation

    def reach(self) -> Mapping[str, float]:
        # A relay's window, and the friends it paid or was paid by (`mutual_days`).
        farthest = max(self.params.window_days, self.params.mutual_days)
        return {"received_days": farthest, "sent_days": farthest}

    def detect(self, event: Event, ctx: Context) -> Iterable[Finding]:
        p = self.params
        txn = event.txn
        if not outgoing(txn):
            return []
        # Every relay rule asks the same question of the same transfer: the first to
        # ask answers it for the others (when their shared settings agree).
        settings = tuple(getattr(p, name) for name in RelayParams.model_fields)
        memo_key = ("layered", txn.txn_id, settings)
        if memo_key not in ctx.memo:
            owners = Owners(ctx)
            found = layered(
                ctx,
                owners,
                txn,
                window=window_ms(p.window_days),
                hold=window_ms(p.hold_days),
                low=p.pass_min,
                high=p.pass_max,
                max_candidates=p.max_candidates,
                mutual=window_ms(p.mutual_days),
                ordered=p.ordered_slack,
                share=p.min_turnover_share,
                material=p.material_share,
            )
            ctx.memo[memo_key] = (found, owners)
        found, owners = ctx.memo[memo_key]
        if found is None:
            return []
        roles = self.roles(found, owners)
        if roles is None:
            return []
        return [self._finding(found, roles, owners, txn)]

    def roles(self, found: Layered, owners: Owners) -> list[tuple[int, str]] | None:
        """The accounts named and their roles, or None when this is not the shape."""
        raise NotImplementedError

    def anchor(self, found: Layered, roles: Sequence[tuple[int, str]]) -> str:
        # The members name the shape, whenever it was seen; more members, a new alert.
        return ":".join(str(a) for a in sorted({a for a, _ in roles if a != EXTERNAL}))

    def _finding(
        self, found: Layered, roles: list[tuple[int, str]], owners: Owners, txn: Txn
    ) -> Finding:
        txns = found.txns
        inflow = sum(r.inflow for r in found.relays)
        outflow = sum(r.outflow for r in found.relays)
        accounts = [a for a, _ in roles if a != EXTERNAL]
        span = txns[-1].at - txns[0].at
        relays = [r.account for r in found.relays]
        return Finding(
            rule=self.rule,
            kind=self.kind,
            anchor=self.anchor(found, roles),
            score=min(0.95, 0.6 + 0.05 * len(relays) + 0.02 * len(accounts)),
            entities=entities(roles, owners),
            explanation=(
                f"{self.what}: {len(found.sources)} paying account(s) sent "
                f"{inflow:.2f} {txn.currency} to {len(relays)} account(s) that passed "
                f"{100 * outflow / inflow:.0f} % of it on to {len(found.sinks)} account(s) "
                f"within {days(span)} days. Hold the intermediaries and review the flow."
            ),
            evidence={
                "sources": found.sources,
                "intermediaries": relays,
                "sinks": found.sinks,
                "inflow": round(inflow, 2),
                "outflow": round(outflow, 2),
                "passed_shares": [round(r.passed_share, 4) for r in found.relays],
                "currency": txn.currency,
                "span_days": days(span),
                "trigger_txn": txn.txn_id,
            },
            cypher=views.money_flow(accounts, [t.txn_id for t in txns]),
            txn_ids=[str(t.txn_id) for t in txns],
        )

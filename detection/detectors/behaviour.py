"""Detectors: behaviour — a customer, card or account acting unlike itself.

* `impossible_travel`: one card paying in person in two places no traveller could
  cover in the time between.
* `card_testing`: a burst of tiny card-not-present payments across many merchants
  on one card (or one device over several cards), typically before a large purchase.
* `account_takeover`: a login from a device the customer never used (after failed
  tries), contact details changed minutes later, then money sent to a new payee.
* `amount_outlier`, `velocity_burst`: generic per-account anomalies (no typology).

Every detector judges an event only on history up to the event's own time, so a
snapshot (all customers first, then logins, then payments) and a live stream raise
the same findings with the same anchors.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from pydantic import Field

from fraudgraph.alerts.model import Entity, Finding
from fraudgraph.detection import views
from fraudgraph.detection.context import DAY_MS, HOUR_MS, Context
from fraudgraph.detection.detector import Detector, Params
from fraudgraph.detection.events import Event, EventKind
from fraudgraph.detection.history import CustomerInfo, Login, Txn
from fraudgraph.detection.stats import LogHistogram, haversine_km, median, robust_z

MINUTE_MS = 60_000
PRESENT_CHANNELS = frozenset({"card_present", "atm"})
CARD_CHANNELS = frozenset({"card_present", "card_not_present", "atm"})
NOT_PRESENT = "card_not_present"
TRANSACTION: frozenset[EventKind] = frozenset({"transaction"})


def _past(txns: Iterable[Txn], trigger: Txn) -> list[Txn]:
    """`txns` (the context answers in time order) up to the trigger, without it."""
    return [t for t in txns if t.at <= trigger.at and t.txn_id != trigger.txn_id]


def _score(value: float) -> float:
    return round(min(0.99, max(0.0, value)), 3)


# --------------------------------------------------------------------------- travel


class ImpossibleTravelParams(Params):
    # Honest trips: the simulator (and life) needs >= distance / 750 km/h plus 1.5-3 h
    # of airports between the last payment at home and the first abroad, so even the
    # fastest honest pair of payments stays well under 750 km/h. A cloned card pays
    # > 1,500 km away 20-90 minutes after a genuine payment: >= 1,000 km/h.
    min_speed_kmh: float = Field(
        default=900.0, gt=0, description="Implied speed above which travel is impossible."
    )
    # Coordinates are the shop's, jittered by a few km: two payments a minute apart
    # in one city can imply absurd speeds over tiny distances. Below 500 km a fast
    # train or a short flight is plausible and a clone gains little anyway.
    min_distance_km: float = Field(default=500.0, gt=0, description="Ignore shorter jumps.")
    lookback_hours: float = Field(
        default=24.0, gt=0, description="Card-present history compared with the payment."
    )
    # Two payments seconds apart: speed is measured over at least this much time.
    min_gap_minutes: float = Field(default=1.0, gt=0)


@dataclass(frozen=True, slots=True)
class _Jump:
    before: Txn
    after: Txn
    km: float
    minutes: float
    kmh: float


def _located(txn: Txn) -> bool:
    return (
        txn.channel in PRESENT_CHANNELS and txn.latitude is not None and txn.longitude is not None
    )


class ImpossibleTravel(Detector):
    rule: ClassVar[str] = "impossible_travel"
    kind = "anomaly"
    handles = TRANSACTION
    params_model = ImpossibleTravelParams
    params: ImpossibleTravelParams

    def _jump(self, before: Txn, after: Txn) -> _Jump | None:
        assert before.latitude is not None and before.longitude is not None
        assert after.latitude is not None and after.longitude is not None
        km = haversine_km(before.latitude, before.longitude, after.latitude, after.longitude)
        minutes = max(after.at - before.at, self.params.min_gap_minutes * MINUTE_MS) / MINUTE_MS
        kmh = km / (minutes / 60)
        if km < self.params.min_distance_km or kmh < self.params.min_speed_kmh:
            return None
        return _Jump(before, after, km, (after.at - before.at) / MINUTE_MS, kmh)

    def _first_jump(self, path: Sequence[Txn]) -> _Jump | None:
        """The earliest impossible pair on the card's path: the anchor of the episode."""
        for j, after in enumerate(path):
            for before in path[:j]:
                jump = self._jump(before, after)
                if jump is not None:
                    return jump
        return None

    def detect(self, event: Event, ctx: Context) -> Iterable[Finding]:
        """The payment judged as the later of a pair, and as the earlier one.

        Payments reach the worker out of time order (three partitions, batches): the
        later payment of an impossible pair may be in the graph before the earlier
        one arrives. Its judgement then happens when the earlier one arrives, on the
        same history it would have seen, so the same anchor and alert id result.
        """
        txn = event.txn
        if txn.card_id is None or not _located(txn):
            return
        lookback = int(self.params.lookback_hours * HOUR_MS)
        anchors = set()
        if (finding := self._judge(txn, ctx)) is not None:
            anchors.add(finding.anchor)
            yield finding
        later = ctx.card_txns(txn.card_id, txn.at, txn.at + lookback)
        for after in later:
            if after.txn_id == txn.txn_id or after.at < txn.at or not _located(after):
                continue
            if self._jump(txn, after) is None:
                continue
            found = self._judge(after, ctx)
            if found is not None and found.anchor not in anchors:  # one episode, once
                anchors.add(found.anchor)
                yield replace(found, event_time_ms=after.at)

    def _judge(self, txn: Txn, ctx: Context) -> Finding | None:
        """The finding for `txn` as the later payment, on its card's history up to it."""
        assert txn.card_id is not None
        since = txn.at - int(self.params.lookback_hours * HOUR_MS)
        path = [t for t in _past(ctx.card_txns(txn.card_id, since, txn.at), txn) if _located(t)]
        jumps = [j for before in path if (j := self._jump(before, txn)) is not None]
        if not jumps:
            return None
        first = self._first_jump([*path, txn])
        assert first is not None  # the trigger itself makes one
        worst = max(jumps, key=lambda j: j.kmh)
        owner = ctx.owner(txn.account_id)
        entities = [Entity("account", str(txn.account_id), "card_account")]
        if owner is not None:
            entities.insert(0, Entity("customer", str(owner), "cardholder"))
        entities.append(Entity("card", str(txn.card_id), "card"))
        ratio = worst.kmh / self.params.min_speed_kmh
        return Finding(
            rule=self.rule,
            kind=self.kind,
            anchor=f"card:{txn.card_id}:{first.before.txn_id}:{first.after.txn_id}",
            score=_score(0.75 + 0.1 * math.log2(ratio)),
            entities=entities,
            explanation=(
                f"Card {txn.card_id} paid in person {worst.km:,.0f} km from its payment "
                f"{worst.minutes:.0f} min earlier ({worst.kmh:,.0f} km/h, faster than any "
                f"traveller): likely a cloned card; block the card and call the cardholder."
            ),
            evidence={
                "distance_km": round(worst.km, 1),
                "minutes": round(worst.minutes, 1),
                "speed_kmh": round(worst.kmh),
                "min_speed_kmh": self.params.min_speed_kmh,
                "from_txn_id": worst.before.txn_id,
                "to_txn_id": txn.txn_id,
            },
            cypher=views.card_activity(txn.card_id, first.before.at, txn.at),
            txn_ids=[str(worst.before.txn_id), str(txn.txn_id)],
            severity="high",
        )


# --------------------------------------------------------------------------- card testing


class CardTestingParams(Params):
    # Testers pay 0.50-2.00; honest digital goods (apps, songs) cost 0.99-4.00 and
    # come one or two a day, so "tiny" alone is normal and only a burst is not.
    tiny_max: float = Field(default=2.0, gt=0, description="A test payment is at most this.")
    # Tests come every 8-90 s; a gap longer than this ends the burst.
    max_gap_minutes: float = Field(default=30.0, gt=0)
    # Honest cards make at most two sub-2.00 online payments within half-hour gaps
    # (simulated bank: 2 of 4,400 cards); testers make 8-16 per card at 5-8 merchants.
    min_tiny: int = Field(default=4, ge=2, description="Tiny payments in the burst.")
    min_merchants: int = Field(default=3, ge=1, description="Distinct merchants in it.")
    lookback_hours: float = Field(default=6.0, gt=0)
    # One device testing several cards: asked only when the card has already made
    # this many tiny payments in a row (a round trip for a rare candidate).
    device_gate: int = Field(default=2, ge=1)
    device_min_cards: int = Field(default=2, ge=2)


@dataclass(frozen=True, slots=True)
class _Burst:
    txns: list[Txn]

    @property
    def first(self) -> Txn:
        return self.txns[0]

    @property
    def merchants(self) -> int:
        return len({t.merchant_id for t in self.txns})

    @property
    def declined(self) -> int:
        return sum(1 for t in self.txns if t.status == "declined")

    @property
    def cards(self) -> list[int]:
        return sorted({t.card_id for t in self.txns if t.card_id is not None})


class CardTesting(Detector):
    rule: ClassVar[str] = "card_testing"
    kind = "anomaly"
    handles = TRANSACTION
    params_model = CardTestingParams
    params: CardTestingParams

    def _tiny(self, txn: Txn) -> bool:
        return txn.channel == NOT_PRESENT and txn.amount <= self.params.tiny_max

    def _burst(self, txns: Iterable[Txn], trigger: Txn) -> _Burst:
        """The run of tiny payments ending at the trigger, no gap above the limit."""
        tiny = [t for t in _past(txns, trigger) if self._tiny(t)]
        run = [trigger]
        gap = int(self.params.max_gap_minutes * MINUTE_MS)
        for txn in reversed(tiny):
            if run[0].at - txn.at > gap:
                break
            run.insert(0, txn)
        return _Burst(run)

    def _testing(self, burst: _Burst) -> bool:
        return (
            len(burst.txns) >= self.params.min_tiny and burst.merchants >= self.params.min_merchants
        )

    def detect(self, event: Event, ctx: Context) -> Iterable[Finding]:
        txn = event.txn
        if txn.card_id is None or not self._tiny(txn):
            return
        since = txn.at - int(self.params.lookback_hours * HOUR_MS)
        burst = self._burst(ctx.card_txns(txn.card_id, since, txn.at), txn)
        if self._testing(burst):
            yield self._finding(burst, f"card:{txn.card_id}:{burst.first.txn_id}", ctx)
            return
        if txn.device_id is None or len(burst.txns) < self.params.device_gate:
            return
        on_device = self._burst(ctx.device_txns(txn.device_id, since, txn.at), txn)
        if self._testing(on_device) and len(on_device.cards) >= self.params.device_min_cards:
            # Each further card tried is news: the anchor grows with the card count.
            anchor = f"device:{txn.device_id}:{on_device.first.txn_id}:{len(on_device.cards)}"
            yield self._finding(on_device, anchor, ctx)

    def _finding(self, burst: _Burst, anchor: str, ctx: Context) -> Finding:
        accounts = sorted({t.account_id for t in burst.txns})
        entities: list[Entity] = []
        for account in accounts:
            owner = ctx.owner(account)
            if owner is not None:
                entities.append(Entity("customer", str(owner), "cardholder"))
            entities.append(Entity("account", str(account), "card_account"))
        entities += [Entity("card", str(card), "tested_card") for card in burst.cards]
        devices = sorted({t.device_id for t in burst.txns if t.device_id is not None})
        entities += [Entity("device", str(d), "tester_device") for d in devices]
        last = burst.txns[-1]
        count, declined = len(burst.txns), burst.declined
        cards = ", ".join(str(c) for c in burst.cards)
        who = f"Card {cards}" if len(burst.cards) == 1 else f"Device {devices[0]}, cards {cards}"
        return Finding(
            rule=self.rule,
            kind=self.kind,
            anchor=anchor,
            score=_score(0.6 + 0.03 * (count - self.params.min_tiny) + 0.3 * declined / count),
            entities=entities,
            explanation=(
                f"{who}: {count} card-not-present payments of at most "
                f"{self.params.tiny_max:.2f} at {burst.merchants} merchants in "
                f"{(last.at - burst.first.at) / MINUTE_MS:.0f} min, {declined} declined: "
                f"stolen card details being tested; block before a large purchase."
            ),
            evidence={
                "tiny_payments": count,
                "merchants": burst.merchants,
                "declined": declined,
                "cards": len(burst.cards),
                "minutes": round((last.at - burst.first.at) / MINUTE_MS, 1),
                "first_txn_id": burst.first.txn_id,
            },
            cypher=views.transactions([t.txn_id for t in burst.txns]),
            txn_ids=[str(t.txn_id) for t in burst.txns],
            severity="high",
        )


# --------------------------------------------------------------------------- takeover


class AccountTakeoverParams(Params):
    # The attacker's device first appears (failed tries) minutes before the login;
    # "new" = the customer's history has no login from it before this margin.
    new_device_minutes: float = Field(default=60.0, gt=0)
    failed_minutes: float = Field(default=30.0, gt=0, description="Failed tries before it.")
    # Attackers change e-mail/phone 3-25 min after logging in; honest customers
    # change theirs 1-5 min into a session from a device they have used before.
    change_minutes: float = Field(default=60.0, gt=0)
    # The payout follows the change within 5-90 min; a transfer this long after a
    # takeover session is still attributed to it.
    session_hours: float = Field(default=6.0, gt=0)
    # A "change" on a customer created less than this before is onboarding.
    min_customer_age_days: float = Field(default=1.0, ge=0)
    # A new IP counts as a sign (without failed tries) only with this much history.
    min_known_logins: int = Field(default=3, ge=0)
    # Without a contact change in view, a payout must be this many times the
    # account's median payment: takeover payouts are 1,500-9,000, honest payments
    # after a first login are p2p of tens.
    min_times_usual: float = Field(default=10.0, ge=1)


@dataclass(frozen=True, slots=True)
class _Session:
    """A successful login from a device new to the customer, and what came with it."""

    login: Login
    failed: int
    new_ip: bool
    known_logins: int  # logins of the customer before the device first appeared
    changed_at: int | None  # contact change after the login, if any


@dataclass(frozen=True, slots=True)
class _Payout:
    new_payee: bool  # no payment to this payee in the account's history
    times_usual: float  # amount / the account's median payment (0: no history)


class AccountTakeover(Detector):
    rule: ClassVar[str] = "account_takeover"
    kind = "anomaly"
    handles: ClassVar[frozenset[EventKind]] = frozenset({"transaction", "customer", "login"})
    params_model = AccountTakeoverParams
    params: AccountTakeoverParams

    # -- the session ----------------------------------------------------------------
    def _change_times(self, info: CustomerInfo | None, until: int) -> list[int]:
        """When the customer's details changed by `until`, oldest first, onboarding aside.

        The graph keeps every change time (`change_times`); a snapshot row carries
        only the last change (`updated_at`), a live update event this one.
        """
        if info is None or info.created_at is None:
            return []
        times = info.change_times or ((info.updated_at,) if info.updated_at is not None else ())
        onboarded = info.created_at + self.params.min_customer_age_days * DAY_MS
        return [t for t in times if onboarded <= t <= until]

    def _changed_at(self, info: CustomerInfo | None, until: int) -> int | None:
        """When the customer's details last changed by `until`, if not at onboarding."""
        times = self._change_times(info, until)
        return times[-1] if times else None

    def _sessions(
        self, ctx: Context, customer_id: int, until: int, changed: int | None
    ) -> list[_Session]:
        """New-device logins within `session_hours` before `until`, oldest first."""
        since = until - int(ctx.windows.login_days * DAY_MS)
        logins = ctx.logins(customer_id, since, until)
        first_seen_device: dict[int, int] = {}
        first_seen_ip: dict[str, int] = {}
        for login in logins:
            if login.device_id is not None:
                first_seen_device.setdefault(login.device_id, login.at)
            if login.ip is not None:
                first_seen_ip.setdefault(login.ip, login.at)
        margin = int(self.params.new_device_minutes * MINUTE_MS)
        recent = until - int(self.params.session_hours * HOUR_MS)
        found = []
        for login in logins:
            if not login.success or login.device_id is None or login.at < recent:
                continue
            appeared = first_seen_device[login.device_id]
            if appeared < login.at - margin:
                continue
            failed_since = login.at - int(self.params.failed_minutes * MINUTE_MS)
            failed = sum(
                1
                for other in logins
                if not other.success
                and failed_since <= other.at <= login.at
                and (other.device_id == login.device_id or other.ip == login.ip)
            )
            new_ip = login.ip is not None and first_seen_ip[login.ip] >= login.at - margin
            known = sum(1 for other in logins if other.at < appeared)
            change_by = login.at + int(self.params.change_minutes * MINUTE_MS)
            in_session = changed is not None and login.at <= changed <= change_by
            found.append(_Session(login, failed, new_ip, known, changed if in_session else None))
        return found

    def _after_change(self, session: _Session) -> bool:
        """New device, contact change right after, and a second sign of an intruder.

        Failed tries from the new device, or an IP the customer never used when the
        customer has enough history for "never" to mean something: early in the
        history every device and IP looks new, and honest customers change their
        contact details right after logging in too.
        """
        if session.changed_at is None:
            return False
        if session.known_logins == 0:
            # No history: "never used before" proves nothing, so ask for more tries.
            return session.failed >= 2
        known = session.known_logins >= self.params.min_known_logins
        return session.failed > 0 or (session.new_ip and known)

    def _paying_out(self, session: _Session, txn: Txn, payout: _Payout) -> bool:
        """No change seen (a later honest change hides it in a snapshot): the payout
        itself comes from the new device and IP, after failed tries, to a new payee,
        and is large for this account (honest first logins are followed by small p2p)."""
        return (
            txn.device_id == session.login.device_id
            and session.known_logins >= self.params.min_known_logins
            and session.failed > 0
            and session.new_ip
            and payout.new_payee
            and payout.times_usual >= self.params.min_times_usual
        )

    # -- triggers ---------------------------------------------------------------------
    def detect(self, event: Event, ctx: Context) -> Iterable[Finding]:
        if event.kind == "customer":
            yield from self._on_change(event, ctx)
        elif event.kind == "login":
            yield from self._on_late_login(event, ctx)
        else:
            yield from self._on_payout(event, ctx)

    def _on_change(self, event: Event, ctx: Context) -> Iterable[Finding]:
        """The contact change itself: alert before any money leaves."""
        customer = event.customer
        changed = self._changed_at(customer, event.at)
        if changed is None:
            return
        sessions = self._sessions(ctx, customer.customer_id, changed, changed)
        hits = [s for s in sessions if self._after_change(s)]
        if hits:
            accounts = self._current_accounts(ctx, customer.customer_id)
            yield self._session_finding(hits[-1], customer.customer_id, accounts, event.at)
            yield from self._payouts_after_change(customer.customer_id, changed, ctx)

    def _payouts_after_change(
        self, customer_id: int, changed: int, ctx: Context
    ) -> Iterable[Finding]:
        """Payouts already in the graph that followed this change.

        The payout can reach the worker before what makes it a takeover's: the change
        (customers and transactions are separate topics) or a failed try (logins are
        keyed by login id, so a session's logins are spread over partitions). Called
        whenever a change is judged a takeover, so honest changes cost nothing.
        """
        yield from self._payouts_in_session(customer_id, changed, ctx)

    def _payouts_in_session(self, customer_id: int, start: int, ctx: Context) -> Iterable[Finding]:
        """Judge again the customer's payouts in the graph from `start` to the end of a
        session; the batch's own are left to their events."""
        until = start + int(self.params.session_hours * HOUR_MS)
        # The account's usual payment window (as the payout's own judgement reads it),
        # so the read is served from what the cache holds.
        since = start - int(ctx.windows.sent_days * DAY_MS)
        for account in ctx.accounts_of(customer_id):
            for txn in ctx.sent(account, since, until):
                if txn.at >= start and not ctx.in_batch("transaction", txn.txn_id):
                    yield from self._judge_payout(txn, txn.at, ctx)

    def _on_late_login(self, event: Event, ctx: Context) -> Iterable[Finding]:
        """A login reaching the graph after the contact change it preceded.

        Logins and customers are separate topics, so the change can be judged before
        the session's logins arrive and find no session. Each login near a change
        judges the change again, as it would have been judged with every login in
        view: same session, same anchor, same alert id, whichever came first.
        """
        login = event.login
        yield from self._payouts_after(login, ctx)
        customer = ctx.customer(login.customer_id)
        if customer is None:
            return
        # Only changes this login could belong to the session of: it is a failed try,
        # the new device's first login or the session itself. Every change counts, not
        # only the latest: a second change minutes later must not hide the first.
        reach = int((self.params.change_minutes + self.params.failed_minutes) * MINUTE_MS)
        for changed in self._change_times(customer, login.at + reach):
            if changed < login.at:
                continue
            if ctx.in_batch("customer", customer.customer_id, changed):
                continue  # the change is judged as its own event, after this login
            sessions = self._sessions(ctx, customer.customer_id, changed, changed)
            hits = [s for s in sessions if self._after_change(s)]
            if hits:
                accounts = self._current_accounts(ctx, customer.customer_id)
                yield self._session_finding(hits[-1], customer.customer_id, accounts, changed)
                yield from self._payouts_after_change(customer.customer_id, changed, ctx)

    def _payouts_after(self, login: Login, ctx: Context) -> Iterable[Finding]:
        """Payouts already in the graph that followed this login from a new device.

        Two workers can take a session's login and its payout at the same moment (or a
        backlog the payout first): the payout was judged without the session. A
        successful login from a device the customer had not used judges them again.
        """
        if not login.success or login.device_id is None:
            return
        margin = int(self.params.new_device_minutes * MINUTE_MS)
        since = login.at - int(ctx.windows.login_days * DAY_MS)
        earlier = ctx.logins(login.customer_id, since, login.at - margin)
        if any(other.device_id == login.device_id for other in earlier):
            return  # a device the customer has used: no session to find
        yield from self._payouts_in_session(login.customer_id, login.at, ctx)

    def _on_payout(self, event: Event, ctx: Context) -> Iterable[Finding]:
        yield from self._judge_payout(event.txn, event.at, ctx)

    def _judge_payout(self, txn: Txn, at: int, ctx: Context) -> Iterable[Finding]:
        if not txn.is_transfer or txn.status == "declined":
            return
        if txn.counterparty_account_id is None and txn.counterparty_hash is None:
            return
        owner = ctx.owner(txn.account_id)
        if owner is None:
            return
        payee_owner = (
            ctx.owner(txn.counterparty_account_id)
            if txn.counterparty_account_id is not None
            else None
        )
        if payee_owner == owner:
            return  # between the customer's own accounts
        changed = self._changed_at(ctx.customer(owner), txn.at)
        sessions = self._sessions(ctx, owner, txn.at, changed)
        if not sessions:
            return
        payout = self._payout(ctx, txn)
        hits = [s for s in sessions if self._after_change(s)] or [
            s for s in sessions if self._paying_out(s, txn, payout)
        ]
        if not hits:
            return
        session = hits[-1]
        yield self._session_finding(session, owner, [txn.account_id], at)
        # The payout is the intruder's when made from the session's device or IP; the
        # real customer paying a friend from their own phone meanwhile is not, and
        # naming that friend would accuse an honest payee.
        login = session.login
        if (txn.device_id is not None and txn.device_id == login.device_id) or (
            txn.ip is not None and txn.ip == login.ip
        ):
            yield self._payout_finding(session, owner, txn, payee_owner, payout)

    # -- findings ---------------------------------------------------------------------
    def _current_accounts(self, ctx: Context, customer_id: int) -> list[int]:
        """The customer's (first) checking account: where a payout is sent from."""
        accounts = ctx.accounts_of(customer_id)
        checking = [a for a in accounts if (info := ctx.account(a)) and info.kind == "checking"]
        return sorted(checking or accounts)[:1]

    def _session_score(self, session: _Session) -> float:
        score = 0.6 + (0.15 if session.failed else 0) + (0.1 if session.new_ip else 0)
        return _score(score + (0.1 if session.known_logins else 0))

    def _session_finding(
        self, session: _Session, customer_id: int, accounts: Sequence[int], at: int
    ) -> Finding:
        login = session.login
        entities = [Entity("customer", str(customer_id), "victim")]
        entities += [Entity("account", str(a), "victim_account") for a in accounts]
        if login.device_id is not None:
            entities.append(Entity("device", str(login.device_id), "new_device"))
        if login.ip:
            entities.append(Entity("ip", login.ip, "new_ip"))
        evidence: dict[str, object] = {
            "login_id": login.login_id,
            "failed_logins": session.failed,
            "new_ip": session.new_ip,
            "earlier_logins": session.known_logins,
        }
        if session.changed_at is not None:
            minutes = (session.changed_at - login.at) / MINUTE_MS
            evidence["minutes_to_contact_change"] = round(minutes, 1)
            then = f"contact details changed {minutes:.0f} min later"
        else:
            then = "a payout to a new payee followed from that device"
        return Finding(
            rule=self.rule,
            kind=self.kind,
            # The contact change is the episode: which of several new-device sessions
            # before it is in view depends on the order logins arrive in, so it is
            # evidence, not identity. Without a change, the session is the episode.
            anchor=(
                f"customer:{customer_id}:change:{session.changed_at}"
                if session.changed_at is not None
                else f"customer:{customer_id}:login:{login.login_id}"
            ),
            score=self._session_score(session),
            entities=entities,
            explanation=(
                f"Customer {customer_id} logged in from device {login.device_id}, never used "
                f"before ({session.failed} failed tries first), and {then}: likely takeover; "
                f"hold payouts and call the customer on the previous contact details."
            ),
            evidence=evidence,
            cypher=views.account_takeover(customer_id, login.at - HOUR_MS, at),
            event_time_ms=at,
            severity="high",
        )

    def _payout_finding(
        self,
        session: _Session,
        customer_id: int,
        txn: Txn,
        payee_owner: int | None,
        payout: _Payout,
    ) -> Finding:
        entities = [
            Entity("customer", str(customer_id), "victim"),
            Entity("account", str(txn.account_id), "victim_account"),
        ]
        # A payee here is named: it is where the money can still be frozen.
        if txn.counterparty_account_id is not None:
            entities.append(Entity("account", str(txn.counterparty_account_id), "payee_account"))
        if payee_owner is not None:
            entities.append(Entity("customer", str(payee_owner), "payee"))
        where = (
            f"account {txn.counterparty_account_id}"
            if txn.counterparty_account_id is not None
            else "another bank"
        )
        minutes = (txn.at - session.login.at) / MINUTE_MS
        after = "a login from a new device" + (
            " and a contact change" if session.changed_at is not None else ""
        )
        return Finding(
            rule=self.rule,
            kind=self.kind,
            anchor=f"customer:{customer_id}:payout:{txn.txn_id}",
            score=_score(self._session_score(session) + 0.1 + (0.1 if payout.new_payee else 0)),
            entities=entities,
            explanation=(
                f"Payout {txn.txn_id} of {txn.amount:,.2f} {txn.currency} to "
                f"{'a new payee at ' if payout.new_payee else ''}{where}, {minutes:.0f} min "
                f"after {after} on customer {customer_id}: recall the payment."
            ),
            evidence={
                "login_id": session.login.login_id,
                "payout_txn_id": txn.txn_id,
                "amount": txn.amount,
                "new_payee": payout.new_payee,
                "times_usual_payment": round(payout.times_usual, 1),
                "same_device": txn.device_id == session.login.device_id,
                "contact_change": session.changed_at is not None,
                "minutes_after_login": round(minutes, 1),
            },
            # The payout with the session it followed: the new device's logins and the
            # contact change the explanation names.
            cypher=views.account_takeover(
                customer_id, session.login.at - HOUR_MS, txn.at, [txn.txn_id]
            ),
            txn_ids=[str(txn.txn_id)],
            severity="critical",
        )

    def _payout(self, ctx: Context, txn: Txn) -> _Payout:
        since = txn.at - int(ctx.windows.sent_days * DAY_MS)
        past = _past(ctx.sent(txn.account_id, since, txn.at), txn)
        if txn.counterparty_account_id is not None:
            paid_before = any(
                p.counterparty_account_id == txn.counterparty_account_id for p in past
            )
        else:
            paid_before = any(p.counterparty_hash == txn.counterparty_hash for p in past)
        amounts = [p.amount for p in past if p.counts and p.status != "declined"]
        usual = median(amounts) if amounts else None
        times = txn.amount / usual if usual else 0.0
        return _Payout(new_payee=not paid_before, times_usual=times)


# --------------------------------------------------------------------------- generic


class AmountOutlierParams(Params):
    history_days: float = Field(default=30.0, gt=0)
    # Fewer payments than this and "usual" is not known yet.
    min_history: int = Field(default=20, ge=3)
    # Robust z on log10(amount): 6 sigmas of the account's own spread.
    min_z: float = Field(default=6.0, gt=0)
    # Also far above the account's own maximum: an account that sometimes pays
    # rent or buys flights has a wide range, and anything inside it is ordinary.
    min_times_max: float = Field(default=3.0, ge=1)
    # And above this quantile of everyone's payments on the same channel and
    # currency (the peers), once that many payments have been seen.
    peer_quantile: float = Field(default=0.999, gt=0.5, lt=1)
    min_peer_payments: int = Field(default=5000, ge=100)


class AmountOutlier(Detector):
    rule: ClassVar[str] = "amount_outlier"
    kind = "anomaly"
    handles = TRANSACTION
    params_model = AmountOutlierParams
    params: AmountOutlierParams

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        super().__init__(params)
        # Peers' amounts per (channel, currency), as this process has seen them, and
        # the limit last read from each (re-read when the count grew by 1 %).
        self._peers: dict[tuple[str, str], LogHistogram] = {}
        self._limits: dict[tuple[str, str], tuple[int, float]] = {}

    def _peer_limit(self, txn: Txn) -> float | None:
        key = (txn.channel, txn.currency)
        peers = self._peers.setdefault(key, LogHistogram())
        if txn.amount > 0:
            peers.add(txn.amount)
        if peers.total < self.params.min_peer_payments:
            return None
        read_at, limit = self._limits.get(key, (0, 0.0))
        if peers.total > read_at * 1.01:
            limit = peers.quantile(self.params.peer_quantile) or 0.0
            self._limits[key] = (peers.total, limit)
        return limit

    def detect(self, event: Event, ctx: Context) -> Iterable[Finding]:
        txn = event.txn
        if not txn.counts or txn.status == "declined" or txn.amount <= 0:
            return
        peer_limit = self._peer_limit(txn)
        if peer_limit is None or txn.amount <= peer_limit:
            return
        since = txn.at - int(self.params.history_days * DAY_MS)
        history = [
            t.amount
            for t in _past(ctx.sent(txn.account_id, since, txn.at), txn)
            if t.counts and t.amount > 0
        ]
        if len(history) < self.params.min_history:
            return
        if txn.amount < self.params.min_times_max * max(history):
            return
        logs = [math.log10(a) for a in history]
        z = robust_z(math.log10(txn.amount), logs, min_sigma=0.1)
        if z < self.params.min_z:
            return
        owner = ctx.owner(txn.account_id)
        entities = [Entity("account", str(txn.account_id), "payer")]
        if owner is not None:
            entities.insert(0, Entity("customer", str(owner), "owner"))
        usual = median(history)
        yield Finding(
            rule=self.rule,
            kind=self.kind,
            anchor=f"txn:{txn.txn_id}",
            score=_score(0.4 + 0.02 * (z - self.params.min_z)),
            entities=entities,
            explanation=(
                f"Payment {txn.txn_id} of {txn.amount:,.2f} {txn.currency} from account "
                f"{txn.account_id} is {txn.amount / usual:,.0f}x its usual payment and above "
                f"{self.params.peer_quantile:.1%} of peers' {txn.channel} payments: confirm "
                f"with the customer."
            ),
            evidence={
                "amount": txn.amount,
                "median_30d": round(usual, 2),
                "max_30d": max(history),
                "robust_z": round(z, 1),
                "peer_limit": round(peer_limit, 2),
                "history_payments": len(history),
            },
            cypher=views.transactions([txn.txn_id]),
            txn_ids=[str(txn.txn_id)],
        )


class VelocityBurstParams(Params):
    # Card payments only: transfer bursts are payroll runs (honest) or money
    # movement the money detectors judge with the counterparties in view.
    max_gap_minutes: float = Field(default=10.0, gt=0, description="Gaps inside a burst.")
    lookback_hours: float = Field(default=6.0, gt=0, le=48)
    history_days: float = Field(default=30.0, gt=0)
    # Honest accounts make at most a handful of card payments in a row minutes
    # apart (a shopping street); ten is a tester, a bust-out or a stolen card.
    min_payments: int = Field(default=10, ge=2, description="Payments in the burst.")
    # ... and this many times the account's own 30-day rate over the burst's span.
    min_ratio: float = Field(default=20.0, gt=1)


class VelocityBurst(Detector):
    rule: ClassVar[str] = "velocity_burst"
    kind = "anomaly"
    handles = TRANSACTION
    params_model = VelocityBurstParams
    params: VelocityBurstParams

    def _run(self, txns: Sequence[Txn], trigger: Txn) -> list[Txn]:
        """The card's payments ending at the trigger with no long gap between them."""
        gap = int(self.params.max_gap_minutes * MINUTE_MS)
        run = [trigger]
        for txn in reversed(_past(txns, trigger)):
            if run[0].at - txn.at > gap:
                break
            run.insert(0, txn)
        return run

    def detect(self, event: Event, ctx: Context) -> Iterable[Finding]:
        txn = event.txn
        if txn.channel not in CARD_CHANNELS or txn.card_id is None:
            return
        # Partitions deliver a card's payments out of time order: the later ones of a
        # burst may be in the graph already, each judged without this one. In-order
        # processing would have judged them with it, so they are judged again, in
        # time order; a burst has one anchor (its first payment), so the first hit
        # is the alert. Live, nothing is later and only the trigger is judged.
        gap = int(self.params.max_gap_minutes * MINUTE_MS)
        ends = [txn]
        ahead = ctx.card_txns(
            txn.card_id, txn.at, txn.at + int(self.params.lookback_hours * HOUR_MS)
        )
        for later in ahead:
            if (later.at, later.txn_id) <= (txn.at, txn.txn_id):
                continue
            if later.at - ends[-1].at > gap:
                break
            ends.append(later)
        for end in ends:
            if end is not txn and ctx.in_batch("transaction", end.txn_id):
                continue  # judged as its own event, after this one
            finding = self._judge(end, ctx)
            if finding is not None:
                yield finding
                return

    def _judge(self, txn: Txn, ctx: Context) -> Finding | None:
        """The burst ending at `txn`, if it is one."""
        assert txn.card_id is not None
        # The burst is looked for on the card (its recent history is short and
        # prefetched); the account's 30-day history is read only for candidates.
        since = txn.at - int(self.params.lookback_hours * HOUR_MS)
        run = self._run(ctx.card_txns(txn.card_id, since, txn.at), txn)
        if len(run) < self.params.min_payments:
            return None
        first = run[0]
        since = first.at - int(self.params.history_days * DAY_MS)
        before = [
            t for t in ctx.sent(txn.account_id, since, first.at - 1) if t.channel in CARD_CHANNELS
        ]
        # The rate over the history actually seen (at least a day): a young history
        # gives a higher rate and a lower ratio, never an alert for lack of data.
        span = max(first.at - before[0].at, DAY_MS) if before else DAY_MS
        duration = max(txn.at - first.at, int(self.params.max_gap_minutes * MINUTE_MS))
        expected = max(len(before), 1) * duration / span
        ratio = len(run) / expected
        if ratio < self.params.min_ratio:
            return None
        owner = ctx.owner(txn.account_id)
        entities = [Entity("account", str(txn.account_id), "payer")]
        if owner is not None:
            entities.insert(0, Entity("customer", str(owner), "owner"))
        minutes = (txn.at - first.at) / MINUTE_MS
        return Finding(
            rule=self.rule,
            kind=self.kind,
            anchor=f"card:{txn.card_id}:{first.txn_id}",
            score=_score(0.4 + 0.05 * math.log2(ratio / self.params.min_ratio)),
            entities=[*entities, Entity("card", str(txn.card_id), "card")],
            explanation=(
                f"Card {txn.card_id} of account {txn.account_id} made {len(run)} payments in "
                f"{minutes:.0f} min, {ratio:,.0f}x the account's own rate: check the card is "
                f"in the customer's hands."
            ),
            evidence={
                "payments_in_burst": len(run),
                "minutes": round(minutes, 1),
                "expected_in_span": round(expected, 3),
                "ratio": round(ratio, 1),
                "first_txn_id": first.txn_id,
            },
            cypher=views.transactions([t.txn_id for t in run]),
            txn_ids=[str(t.txn_id) for t in run],
        )


DETECTORS: list[type[Detector]] = [
    ImpossibleTravel,
    CardTesting,
    AccountTakeover,
    AmountOutlier,
    VelocityBurst,
]

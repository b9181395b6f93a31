"""Detector `card_testing`: a burst of tiny card-not-present payments across many
merchants on one card (or one device over several cards), typically before a large
purchase.

Judged only on history up to the event's own time (see `_payments`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from pydantic import Field

from fraudgraph.alerts.model import Entity, Finding
from fraudgraph.detection import views
from fraudgraph.detection.context import HOUR_MS, Context
from fraudgraph.detection.detector import Detector, Params
from fraudgraph.detection.detectors._payments import (
    MINUTE_MS,
    NOT_PRESENT,
    TRANSACTION,
    _past,
    _score,
)
from fraudgraph.detection.events import Event
from fraudgraph.detection.history import Txn


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


DETECTOR = CardTesting

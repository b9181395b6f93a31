"""Detector `velocity_burst`: a generic per-account anomaly (no typology): a burst of
card payments far above the account's own rate.

Judged only on history up to the event's own time (see `_payments`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import ClassVar

from pydantic import Field

from fraudgraph.alerts.model import Entity, Finding
from fraudgraph.detection import views
from fraudgraph.detection.context import DAY_MS, HOUR_MS, Context
from fraudgraph.detection.detector import Detector, Params
from fraudgraph.detection.detectors._payments import (
    CARD_CHANNELS,
    MINUTE_MS,
    TRANSACTION,
    _past,
    _score,
)
from fraudgraph.detection.events import Event
from fraudgraph.detection.history import Txn


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
        past = _past(txns, trigger)
        # Walk back from the trigger to the first long gap, then slice once: a card
        # paying every few seconds for hours made inserting at the front quadratic.
        start, earliest = len(past), trigger.at
        while start > 0 and earliest - past[start - 1].at <= gap:
            start -= 1
            earliest = past[start].at
        return [*past[start:], trigger]

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


DETECTOR = VelocityBurst

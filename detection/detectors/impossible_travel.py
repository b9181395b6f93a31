"""Detector `impossible_travel`: one card paying in person in two places no traveller
could cover in the time between.

Judged only on history up to the event's own time (see `_payments`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

from pydantic import Field

from fraudgraph.alerts.model import Entity, Finding
from fraudgraph.detection import views
from fraudgraph.detection.context import HOUR_MS, Context
from fraudgraph.detection.detector import Detector, Params
from fraudgraph.detection.detectors._payments import (
    MINUTE_MS,
    PRESENT_CHANNELS,
    TRANSACTION,
    _score,
)
from fraudgraph.detection.events import Event
from fraudgraph.detection.history import Txn
from fraudgraph.detection.stats import EARTH_RADIUS_KM, haversine_km

# Kilometres per degree along a meridian (and at most along a parallel).
KM_PER_DEGREE = math.pi * EARTH_RADIUS_KM / 180


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


def _at_most_km(before: Txn, after: Txn) -> float:
    """An upper bound of the distance between two located payments, without trigonometry.

    Along the meridian, then along a parallel (never longer than at the equator): a path
    on the sphere, so never shorter than the great circle. A payment is compared with
    every located payment of its card's last day; the bound spares the haversine for
    the pairs in one region, which was most of this rule's time once a card's day held
    hundreds of payments. One kilometre of margin covers floating-point rounding.
    """
    assert before.latitude is not None and before.longitude is not None
    assert after.latitude is not None and after.longitude is not None
    east = abs(after.longitude - before.longitude) % 360
    degrees = abs(after.latitude - before.latitude) + min(east, 360 - east)
    return degrees * KM_PER_DEGREE + 1.0


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
        if _at_most_km(before, after) < self.params.min_distance_km:
            return None  # nearly every pair: a card's payments in one region
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
        path: list[Txn] = []
        jumps: list[_Jump] = []
        # One pass (`_past`, spelled out): this runs over the card's whole day for every
        # located payment; `_jump` bounds the distance before computing it.
        for before in ctx.card_txns(txn.card_id, since, txn.at):
            if before.at > txn.at or before.txn_id == txn.txn_id or not _located(before):
                continue
            path.append(before)
            if (jump := self._jump(before, txn)) is not None:
                jumps.append(jump)
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


DETECTOR = ImpossibleTravel

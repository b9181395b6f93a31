"""The learned scorer: a gradient-boosted model over the features of a transfer's ends.

Every transfer between accounts is scored as of its own time from the features
detection/learned/features.py computes for its payer and its payee (the same
function training used). A transfer at or above the model's threshold raises an
alert naming both accounts, their owners and the transfer, whose explanation is the
model's own per-feature contributions (LightGBM's TreeSHAP, `pred_contrib=True`).

One alert per (payer, payee) pair: a mule paying its collector every day is one
situation, and the pair is what the anchor names, so repeats share the alert id.

A flagged transfer into a collector also names the accounts that fed it, and one out
of a spreader the accounts it paid (detection/detectors/_counterparts.py): the model
judges each transfer as of its own time, and the first members of a fan-in or a
fan-out look ordinary when they take part. The later members are followed: a transfer
scoring under the threshold still raises an alert when it is one more payment, by the
same channel and within the members' window, of a spreader (or into a collector) one
of whose earlier such transfers scored over it (`_flagged_hub`).

The model file (detection/learned/model_file.py) is read when the detector is built: a
missing, corrupt or mismatched file stops the worker with one line. To run the
rules alone, say so in the detectors file: `learned_risk: {enabled: false}`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import lightgbm
import numpy as np
from pydantic import Field

from fraudgraph.alerts.model import Entity, Finding
from fraudgraph.detection import views
from fraudgraph.detection.context import DAY_MS, Context
from fraudgraph.detection.detector import Detector, Params
from fraudgraph.detection.detectors._counterparts import (
    FEEDER,
    RECIPIENT,
    Member,
    counterparts,
    payee_of,
    payer_of,
    pays_a_set_price,
    same_rail,
    set_price,
)
from fraudgraph.detection.events import Event, EventKind
from fraudgraph.detection.history import Txn
from fraudgraph.detection.learned.features import (
    FEATURE_NAMES,
    LONG_RECEIVED_DAYS,
    RECEIVED_DAYS,
    SENT_DAYS,
    prefetch,
    scored,
    transfer_features,
)
from fraudgraph.detection.learned.model_file import ModelFile, ModelFileError, load_model_file

REASONS = 5  # contributions an alert carries, strongest first
# Earlier transfers of a hub looked at for one that scored over the threshold, the
# most recent first: a hub's flagged transfer is among its last few of the window.
FOLLOW_LOOKBACK = 16
# Scores kept for following hubs; past it the older half is forgotten (and scored
# again if asked: a score is a function of the history as of its transfer).
SCORES_KEPT = 200_000


@dataclass(frozen=True, slots=True)
class FlaggedHub:
    """A spreader or collector one of whose earlier transfers scored over the threshold."""

    account_id: int
    role: str  # RECIPIENT: the hub paid this transfer's payee; FEEDER: it was paid
    txn: Txn
    score: float
    counterparts: int  # accounts it paid (or was paid by) that way, this one included


class LearnedRiskParams(Params):
    # None: the model packaged with this build (detection/models/account_risk.json).
    model_file: str | None = None
    # None: the threshold chosen on the validation banks, stored in the model file.
    threshold: float | None = Field(default=None, gt=0, lt=1)
    # A flagged payee that collected from at least `min_feeders` distinct accounts by
    # the flagged transfer's channel within `members_days` names them as feeders; a
    # payer that paid at least `min_recipients` accounts that way names them as
    # recipients (0: name none). See detection/detectors/_counterparts.py.
    min_feeders: int = Field(default=5, ge=0)
    min_recipients: int = Field(default=5, ge=0)
    members_days: float = Field(default=10, gt=0, le=RECEIVED_DAYS)
    # A flagged transfer paying the one amount most of a collector's payers paid it
    # (rent, dues) raises nothing: detection/detectors/_counterparts.py, set_price.
    quiet_set_price: bool = True
    # Follow a flagged hub: its later payments (or receipts) by the flagged channel
    # within `members_days` raise alerts too, while it still pays (or is paid by)
    # `min_recipients` (`min_feeders`) accounts that way.
    follow_hubs: bool = True
    # ... when the followed transfer's own score reaches this much. On the tuning seeds
    # (out of fold) the other ends of followed transfers scoring under 0.1 were mostly
    # honest (13 of 21), a member's friend or its employer; over it, 3 of 47.
    follow_min_score: float = Field(default=0.1, ge=0, lt=1)


class LearnedRisk(Detector):
    rule = "learned_risk"
    kind = "anomaly"
    handles: ClassVar[frozenset[EventKind]] = frozenset({"transaction"})
    params_model = LearnedRiskParams

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        super().__init__(params)
        p = self.params
        assert isinstance(p, LearnedRiskParams)
        path = Path(p.model_file) if p.model_file else None
        self.model: ModelFile = load_model_file(path)
        self.threshold = p.threshold if p.threshold is not None else self.model.threshold
        self.min_feeders = p.min_feeders
        self.quiet_set_price = p.quiet_set_price
        self.follow_hubs = p.follow_hubs
        self.follow_min_score = p.follow_min_score
        self.min_recipients = p.min_recipients
        self.members_window_ms = int(p.members_days * DAY_MS)
        self._booster = _booster(self.model, path)
        # What scoring costs, split so a benchmark can say which half to make cheaper.
        self.scored = 0
        self.seconds_features = 0.0
        self.seconds_model = 0.0
        self._prepared: dict[int, tuple[float, tuple[float, ...]]] = {}
        self._scores: dict[int, float] = {}  # txn id -> score, for following hubs

    def score(self, features: tuple[float, ...]) -> float:
        return self.scores([features])[0]

    def scores(self, rows: Sequence[tuple[float, ...]]) -> list[float]:
        # One thread: OpenMP's start-up costs milliseconds a call, a row a few µs.
        predicted = self._booster.predict(np.array(rows, dtype=np.float64), num_threads=1)
        return [float(p) for p in np.asarray(predicted)]

    def reach(self) -> Mapping[str, float]:
        return {"received_days": LONG_RECEIVED_DAYS, "sent_days": SENT_DAYS}

    def prepare(self, events: Sequence[Event], ctx: Context) -> None:
        """Every scored transfer of the batch at once: one prediction call, not one a
        transfer (about 10 µs a row instead of 200)."""
        began = time.perf_counter()
        txns = [e.txn for e in events if e.kind == "transaction" and scored(e.txn)]
        prefetch(txns, ctx)
        rows = [transfer_features(txn, ctx) for txn in txns]
        featured = time.perf_counter()
        predicted = self.scores(rows) if rows else []
        self.seconds_features += featured - began
        self.seconds_model += time.perf_counter() - featured
        self.scored += len(rows)
        self._prepared = {
            txn.txn_id: (score, row) for txn, score, row in zip(txns, predicted, rows, strict=True)
        }
        self._remember({txn.txn_id: score for txn, score in zip(txns, predicted, strict=True)})

    def _remember(self, scores: dict[int, float]) -> None:
        self._scores.update(scores)
        if len(self._scores) > SCORES_KEPT:
            keep = list(self._scores.items())[len(self._scores) // 2 :]
            self._scores = dict(keep)

    def _score_of(self, txn: Txn, ctx: Context) -> float:
        """A transfer's score as of its own time: remembered, else scored again."""
        known = self._scores.get(txn.txn_id)
        if known is None:
            known = self.score(transfer_features(txn, ctx))
            self._remember({txn.txn_id: known})
        return known

    def contributions(self, features: tuple[float, ...]) -> list[tuple[str, float, float]]:
        """(feature, value, contribution to the log-odds), the strongest push up first."""
        row = np.array([features], dtype=np.float64)
        contributions = self._booster.predict(row, pred_contrib=True, num_threads=1)
        pushes = np.asarray(contributions)[0][:-1]  # the last column is the bias
        ranked = sorted(
            zip(FEATURE_NAMES, features, pushes, strict=True), key=lambda item: -item[2]
        )
        return [(name, value, float(push)) for name, value, push in ranked[:REASONS]]

    def detect(self, event: Event, ctx: Context) -> Iterable[Finding]:
        txn = event.txn
        if not scored(txn):
            return
        prepared = self._prepared.get(txn.txn_id)
        if prepared is None:  # judged without its batch (a caller that did not prepare)
            features = transfer_features(txn, ctx)
            prepared = (self.score(features), features)
            self._remember({txn.txn_id: prepared[0]})
        score, features = prepared
        hub = None
        if score < self.threshold:
            follows = self.follow_hubs and score >= self.follow_min_score
            hub = self._flagged_hub(txn, ctx) if follows else None
            if hub is None:
                return
        payee = txn.counterparty_account_id
        # What the payee received in the window, read once for both questions.
        received = (
            ctx.received(payee, txn.at - self.members_window_ms, txn.at)
            if payee is not None
            else []
        )
        if self.quiet_set_price and received and pays_a_set_price(txn, received):
            return  # rent or dues
        yield self._finding(txn, score, features, received, ctx, hub=hub)

    def _flagged_hub(self, txn: Txn, ctx: Context) -> FlaggedHub | None:
        """The spreader paying, or the collector paid, by this transfer's channel, when
        one of its earlier transfers that way within the members' window scored over
        the threshold: this transfer is then one more member's part in its pattern."""
        payee = txn.counterparty_account_id
        if payee is None:
            return None
        since = txn.at - self.members_window_ms
        sides = (
            (RECIPIENT, txn.account_id, self.min_recipients, ctx.sent, payee_of),
            (FEEDER, payee, self.min_feeders, ctx.received, payer_of),
        )
        for role, hub, minimum, window_of, far_end in sides:
            if not minimum:
                continue
            rail = same_rail(txn, window_of(hub, since, txn.at))
            others = {far_end(t) for t in rail} | {far_end(txn)}
            others.discard(None)
            if len(others) < minimum or not rail or set_price(rail):
                continue
            earlier = [t for t in rail if t.txn_id != txn.txn_id][-FOLLOW_LOOKBACK:]
            for before in reversed(earlier):
                flagged_score = self._score_of(before, ctx)
                if flagged_score >= self.threshold:
                    return FlaggedHub(hub, role, before, flagged_score, len(others))
        return None

    def _finding(
        self,
        txn: Txn,
        score: float,
        features: tuple[float, ...],
        received: Sequence[Txn],
        ctx: Context,
        *,
        hub: FlaggedHub | None = None,
    ) -> Finding:
        payee = txn.counterparty_account_id  # None: money leaving the bank
        ends = [(txn.account_id, "payer")] + ([(payee, "payee")] if payee is not None else [])
        reasons = self.contributions(features)
        entities = [Entity("account", str(account), role) for account, role in ends]
        for account, role in ends:
            owner = ctx.owner(account)
            if owner is not None:
                entities.append(Entity("customer", str(owner), role))
        # A followed transfer speaks for its hub only: the other end's own
        # counterparts are its ordinary life (a member's friends, its employer).
        members = self._members(txn, received, ctx, only=hub.role if hub else None)
        for member in members:
            entities.append(Entity("account", str(member.account_id), member.role))
            owner = ctx.owner(member.account_id)
            if owner is not None:
                entities.append(Entity("customer", str(owner), member.role))
        to = f"account {payee}" if payee is not None else "another bank"
        shown = "".join(
            f" Account {hub} {verb} {count} accounts by {txn.channel} in "
            f"{self.members_window_ms // DAY_MS} days; the others are named as {role}s."
            for hub, verb, count, role in self._summaries(txn, members)
        )
        # The pair names the situation; an IBAN elsewhere is known by its keyed hash.
        other = str(payee) if payee is not None else f"iban:{txn.counterparty_hash or 'cash'}"
        because = ", ".join(f"{name} {value:g} ({push:+.2f})" for name, value, push in reasons)
        if hub is not None:
            verb = "paid" if hub.role == RECIPIENT else "was paid by"
            shown = (
                f" Under the threshold itself, it is one more of account {hub.account_id}'s "
                f"{hub.counterparts} counterparts by {txn.channel} in "
                f"{self.members_window_ms // DAY_MS} days ({verb} them), whose transfer "
                f"{hub.txn.txn_id} scored {hub.score:.2f}.{shown}"
            )
        return Finding(
            rule=self.rule,
            kind=self.kind,
            anchor=f"accounts:{txn.account_id}>{other}",
            score=max(score, hub.score) if hub is not None else score,
            entities=entities,
            explanation=(
                f"Model {self.model.version} scored transfer {txn.txn_id} from account "
                f"{txn.account_id} to {to} {score:.2f} (threshold "
                f"{self.threshold:.2f}); strongest reasons: {because}.{shown}"
            ),
            evidence={
                "score": round(score, 4),
                "threshold": self.threshold,
                "model_version": self.model.version,
                "features_version": self.model.features_version,
                "feeders": sum(1 for m in members if m.role == FEEDER),
                "recipients": sum(1 for m in members if m.role == RECIPIENT),
                **(
                    {
                        "followed": {
                            "account": str(hub.account_id),
                            "txn_id": str(hub.txn.txn_id),
                            "score": round(hub.score, 4),
                        }
                    }
                    if hub is not None
                    else {}
                ),
                "contributions": [
                    {"feature": name, "value": value, "contribution": round(push, 4)}
                    for name, value, push in reasons
                ],
            },
            cypher=views.money_flow(
                [a for a, _ in ends] + [m.account_id for m in members],
                [txn.txn_id] + [m.txn_id for m in members],
            ),
            txn_ids=[str(txn.txn_id)] + [str(m.txn_id) for m in members],
            event_time_ms=txn.at,
        )

    def _members(
        self, txn: Txn, received: Sequence[Txn], ctx: Context, only: str | None = None
    ) -> list[Member]:
        """The payee's feeders and the payer's other recipients (`_counterparts`), or
        the one role `only` says."""
        members: list[Member] = []
        payee = txn.counterparty_account_id
        if payee is not None and self.min_feeders and only in (None, FEEDER):
            members += counterparts(txn, received, FEEDER, self.min_feeders)
        if payee is not None and self.min_recipients and only in (None, RECIPIENT):
            paid = ctx.sent(txn.account_id, txn.at - self.members_window_ms, txn.at)
            members += counterparts(txn, paid, RECIPIENT, self.min_recipients)
        return members

    def _summaries(
        self, txn: Txn, members: Sequence[Member]
    ) -> Iterator[tuple[int | None, str, int, str]]:
        for role, hub, verb in (
            (FEEDER, txn.counterparty_account_id, "collected from"),
            (RECIPIENT, txn.account_id, "paid"),
        ):
            count = sum(1 for m in members if m.role == role)
            if count:
                yield hub, verb, count + 1, role


def _booster(model: ModelFile, path: Path | None) -> Any:
    try:
        booster = lightgbm.Booster(model_str=model.booster)
    except lightgbm.basic.LightGBMError as error:
        where = path or "the packaged model"
        raise ModelFileError(
            f"model file {where}: LightGBM cannot read the booster ({error})"
        ) from None
    if booster.num_feature() != len(FEATURE_NAMES):
        raise ModelFileError(
            f"model file {path or 'packaged'}: the booster reads {booster.num_feature()} "
            f"features, this build computes {len(FEATURE_NAMES)}"
        )
    return booster


DETECTOR = LearnedRisk

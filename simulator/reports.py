"""fraud_reports: investigators' verdicts. A share of the fraud cases is revealed
(confirmed fraud or chargeback — the seeds of link analysis), and some legitimate
customers get a `false_positive` verdict. Notes are generic: a verdict never names
a typology or a case, so the ground truth cannot leak into the database."""

from __future__ import annotations

import random

from fraudgraph.simulator.rows import FraudReport
from fraudgraph.simulator.typologies.base import Case
from fraudgraph.simulator.world import DAY, HOUR, Person, World, to_dt

NOTES = {
    "confirmed_fraud": (
        "Confirmed by investigation.",
        "Customer reported unauthorised activity.",
        "Confirmed after review of account activity.",
    ),
    "chargeback": ("Chargeback received from card scheme.", "Disputed by cardholder."),
    "false_positive": (
        "Reviewed: legitimate activity.",
        "Closed as false positive after customer contact.",
    ),
}


def reveal_cases(
    w: World,
    rng: random.Random,
    cases: list[Case],
    share: float,
    *,
    latest: float,
    delay: tuple[float, float] = (2 * HOUR, 3 * DAY),
) -> int:
    """Write a report for about `share` of the cases, after the case's last event."""
    written = 0
    for case in cases:
        if not case.reveals or not case.entities or rng.random() >= share:
            continue
        reveal = case.reveals[0]
        at = min(case.last + rng.uniform(*delay), latest - 60)
        if at <= case.last:
            continue
        w.sink.insert(
            FraudReport(
                w.ids.next("fraud_reports"),
                reveal.kind,
                reveal.customer_id,
                reveal.account_id,
                reveal.txn_id,
                rng.choice(NOTES[reveal.kind]),
                to_dt(at),
            )
        )
        written += 1
    return written


def false_positives(w: World, rng: random.Random, count: int, t0: float, t1: float) -> list[Person]:
    """Verdicts on legitimate individuals (never on anyone in a fraud case)."""
    chosen: list[Person] = []
    honest = [p for p in w.individuals if not p.fraud and p.created < t0]
    for person in rng.sample(honest, min(count, len(honest))):
        at = rng.uniform(t0, t1)
        on_account = rng.random() < 0.4
        w.sink.insert(
            FraudReport(
                w.ids.next("fraud_reports"),
                "false_positive",
                None if on_account else person.customer_id,
                person.checking if on_account else None,
                None,
                rng.choice(NOTES["false_positive"]),
                to_dt(at),
            )
        )
        chosen.append(person)
    return chosen

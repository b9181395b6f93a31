"""Each typology has the structure it claims, checked on the generated rows."""

from __future__ import annotations

import itertools
from collections import defaultdict
from decimal import Decimal

import pytest

from fraudgraph.simulator.generator import SimulatedBank, generate
from fraudgraph.simulator.geo import haversine_km
from fraudgraph.simulator.labels import Label
from fraudgraph.simulator.options import make_options
from fraudgraph.simulator.rows import Customer, Login, Transaction


@pytest.fixture(scope="module")
def bank() -> SimulatedBank:
    fraud = [
        "synthetic_identity=3:6",
        "mule_chain=4:4",
        "fan_in_out=4:6",
        "cycle=3:4",
        "account_takeover=4:2",
        "card_testing=4:10",
        "impossible_travel=4:2",
        "structuring=3:5",
    ]
    return generate(make_options(seed=11, customers=600, days=14, fraud=fraud))


def cases(bank: SimulatedBank, typology: str) -> dict[str, list[Label]]:
    found: dict[str, list[Label]] = defaultdict(list)
    for label in bank.labels:
        if label.typology == typology:
            found[label.case_id].append(label)
    assert found, f"no {typology} case"
    return found


def txns(bank: SimulatedBank) -> dict[str, Transaction]:
    return {str(t.txn_id): t for t in bank.tables["transactions"] if isinstance(t, Transaction)}


def with_role(labels: list[Label], entity_type: str, role: str | None = None) -> list[str]:
    return [
        lab.entity_id
        for lab in labels
        if lab.entity_type == entity_type and (role is None or lab.role == role)
    ]


def test_synthetic_ring_members_share_identifiers(bank: SimulatedBank) -> None:
    customers = {str(c.customer_id): c for c in bank.tables["customers"] if isinstance(c, Customer)}
    devices: dict[str, set[object]] = defaultdict(set)
    for login in bank.tables["logins"]:
        assert isinstance(login, Login)
        devices[str(login.customer_id)].add(login.device_id)
    for labels in cases(bank, "synthetic_identity").values():
        members = with_role(labels, "customer", "member")
        assert len(members) >= 3
        parent = {m: m for m in members}

        def find(x: str, parent: dict[str, str] = parent) -> str:
            while parent[x] != x:
                x = parent[x]
            return x

        def identifiers(m: str) -> set[tuple[str, object]]:
            c = customers[m]
            shared: set[tuple[str, object]] = {
                ("phone", c.phone),
                ("email", c.email),
                ("nid", c.national_id),
                ("address", (c.address_line, c.postal_code)),
            }
            return shared | {("device", d) for d in devices[m]}

        for a in members:
            for b in members:
                if a < b and identifiers(a) & identifiers(b):
                    parent[find(a)] = find(b)
        assert len({find(m) for m in members}) == 1, "one ring bound by shared identifiers"
        nids = [customers[m].national_id for m in members]
        assert len(nids) > len(set(nids)), "a national id is re-used"


def test_mule_chain_hops_are_ordered_and_shrinking(bank: SimulatedBank) -> None:
    by_id = txns(bank)
    for labels in cases(bank, "mule_chain").values():
        hops = sorted(
            (by_id[t] for t in with_role(labels, "transaction", "hop")), key=lambda t: t.created_at
        )
        cash_out = [by_id[t] for t in with_role(labels, "transaction", "cash_out")]
        assert len(hops) >= 2 and len(cash_out) == 1
        chain = [*hops, cash_out[0]]
        for earlier, later in itertools.pairwise(chain):
            assert earlier.created_at < later.created_at
            assert later.amount < earlier.amount, "each mule keeps a cut"
            assert earlier.counterparty_account_id == later.account_id, "money is passed on"
        assert (chain[-1].created_at - chain[0].created_at).total_seconds() < 2 * 86_400
        assert cash_out[0].counterparty_iban is not None


def test_cycle_returns_to_its_origin(bank: SimulatedBank) -> None:
    by_id = txns(bank)
    for labels in cases(bank, "cycle").values():
        hops = sorted(
            (by_id[t] for t in with_role(labels, "transaction", "hop")), key=lambda t: t.created_at
        )
        assert len(hops) >= 3
        for earlier, later in itertools.pairwise(hops):
            assert earlier.counterparty_account_id == later.account_id
            assert later.amount < earlier.amount
        assert hops[-1].counterparty_account_id == hops[0].account_id
        assert len({h.account_id for h in hops}) == len(hops)


def test_fan_in_and_fan_out_center_on_one_hub(bank: SimulatedBank) -> None:
    by_id = txns(bank)
    shapes = set()
    for labels in cases(bank, "fan_in_out").values():
        deposits = [by_id[t] for t in with_role(labels, "transaction", "deposit")]
        payouts = [by_id[t] for t in with_role(labels, "transaction", "payout")]
        if deposits:
            shapes.add("in")
            assert len({t.counterparty_account_id for t in deposits}) == 1
            assert len({t.account_id for t in deposits}) == len(deposits) >= 3
        else:
            shapes.add("out")
            assert len({t.account_id for t in payouts}) == 1
            assert len({t.counterparty_account_id for t in payouts}) == len(payouts) >= 3
    assert shapes == {"in", "out"}


def test_account_takeover_sequence(bank: SimulatedBank) -> None:
    by_id = txns(bank)
    customers = {str(c.customer_id): c for c in bank.tables["customers"] if isinstance(c, Customer)}
    logins = [lab for lab in bank.tables["logins"] if isinstance(lab, Login)]
    for labels in cases(bank, "account_takeover").values():
        device = int(with_role(labels, "device", "attacker_device")[0])
        ip = with_role(labels, "ip", "attacker_ip")[0]
        for victim in with_role(labels, "customer", "victim"):
            attacker = [
                lab for lab in logins if str(lab.customer_id) == victim and lab.device_id == device
            ]
            intrusion = [lab for lab in attacker if lab.success]
            assert intrusion and intrusion[0].ip_address == ip
            first_try = min(lab.occurred_at for lab in attacker)
            history = [
                lab
                for lab in logins
                if str(lab.customer_id) == victim and lab.occurred_at < first_try
            ]
            assert all(lab.device_id != device for lab in history), (
                "the device is new to the victim"
            )
            changed = customers[victim].updated_at
            assert changed > intrusion[0].occurred_at, "contact details changed after the login"
            payouts = [
                by_id[t]
                for t in with_role(labels, "transaction", "payout")
                if by_id[t].created_at > changed and by_id[t].device_id == device
            ]
            assert payouts
            payout = payouts[0]
            earlier = [
                t
                for t in by_id.values()
                if t.account_id == payout.account_id and t.created_at < intrusion[0].occurred_at
            ]
            payees = {(t.counterparty_account_id, t.counterparty_iban) for t in earlier}
            assert (payout.counterparty_account_id, payout.counterparty_iban) not in payees, (
                "a new payee"
            )


def test_card_testing_tiny_then_large(bank: SimulatedBank) -> None:
    by_id = txns(bank)
    for labels in cases(bank, "card_testing").values():
        tests = [by_id[t] for t in with_role(labels, "transaction", "test")]
        large = [by_id[t] for t in with_role(labels, "transaction", "cash_out")]
        assert tests and large
        for card in {t.card_id for t in tests}:
            burst = [t for t in tests if t.card_id == card]
            assert all(
                t.amount <= Decimal("2.00") and t.channel == "card_not_present" for t in burst
            )
            assert len({t.merchant_id for t in burst}) >= 3
            after = [t for t in large if t.card_id == card]
            assert after and after[0].amount > Decimal("50")
            assert after[0].created_at > max(t.created_at for t in burst)


def test_impossible_travel_is_impossible(bank: SimulatedBank) -> None:
    by_id = txns(bank)
    for labels in cases(bank, "impossible_travel").values():
        anchor = by_id[with_role(labels, "transaction", "anchor")[0]]
        far = by_id[sorted(with_role(labels, "transaction", "far_payment"), key=int)[0]]
        assert anchor.channel == far.channel == "card_present" and anchor.card_id == far.card_id
        assert None not in (anchor.latitude, anchor.longitude, far.latitude, far.longitude)
        km = haversine_km(anchor.latitude, anchor.longitude, far.latitude, far.longitude)  # type: ignore[arg-type]
        hours = (far.created_at - anchor.created_at).total_seconds() / 3600
        assert km > 1000 and 0 < hours < 2 and km / hours > 900


def test_structuring_stays_just_under_the_threshold(bank: SimulatedBank) -> None:
    by_id = txns(bank)
    for labels in cases(bank, "structuring").values():
        amounts = [by_id[t].amount for t in with_role(labels, "transaction", "sub_threshold")]
        assert len(amounts) >= 3
        assert all(Decimal("9000") <= a < Decimal("10000") for a in amounts)


def test_legit_travellers_are_possible(bank: SimulatedBank) -> None:
    """Card-present payments of honest cards never imply a speed above 1,000 km/h."""
    fraud_cards = {lab.entity_id for lab in bank.labels if lab.entity_type == "card"}
    by_card: dict[int, list[Transaction]] = defaultdict(list)
    for t in bank.tables["transactions"]:
        assert isinstance(t, Transaction)
        if t.channel in ("card_present", "atm") and t.card_id and str(t.card_id) not in fraud_cards:
            by_card[t.card_id].append(t)
    far_trips = 0
    for payments in by_card.values():
        payments.sort(key=lambda t: t.created_at)
        for a, b in itertools.pairwise(payments):
            km = haversine_km(a.latitude, a.longitude, b.latitude, b.longitude)  # type: ignore[arg-type]
            hours = max((b.created_at - a.created_at).total_seconds() / 3600, 1e-6)
            assert km < 50 or km / hours < 1000, (a, b)
            far_trips += km > 1000
    assert far_trips > 0, "some honest customers do travel far"

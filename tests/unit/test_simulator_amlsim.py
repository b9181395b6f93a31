"""The amlsim generator family: each typology and look-alike has the shape its public
description gives, on the generated rows; generation is deterministic; labels stay
out of the rows; `simulate --generator amlsim --dry-run` writes them."""

from __future__ import annotations

import itertools
import random
import re
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fraudgraph.cli import app
from fraudgraph.simulator.constraints import violations
from fraudgraph.simulator.errors import OptionError
from fraudgraph.simulator.families import FAMILIES
from fraudgraph.simulator.families.amlsim import TYPOLOGIES
from fraudgraph.simulator.families.amlsim.identity import (
    near_email,
    near_national_id,
    reformat_phone,
)
from fraudgraph.simulator.generator import SimulatedBank, generate
from fraudgraph.simulator.labels import FRAUD, LOOKALIKE, Label, read_labels, write_labels
from fraudgraph.simulator.options import make_options
from fraudgraph.simulator.rows import TABLE_ORDER, Customer, FraudReport, Login, Transaction

FLOWS = ("fan_in", "fan_out", "cycle", "bipartite", "stack", "scatter_gather", "gather_scatter")
LOOKALIKES = tuple(name for name in TYPOLOGIES if name.startswith("lookalike_"))
SPECS = [
    *(f"{name}=3" for name in FLOWS),
    "synthetic_identity=4",
    "account_takeover=8:1",
    *(f"{name}=3" for name in LOOKALIKES),
]


@pytest.fixture(scope="module")
def bank() -> SimulatedBank:
    return generate(make_options(seed=5, customers=700, days=40, fraud=SPECS, generator="amlsim"))


def cases(bank: SimulatedBank, typology: str) -> dict[str, list[Label]]:
    found: dict[str, list[Label]] = defaultdict(list)
    for label in bank.labels:
        if label.typology == typology:
            found[label.case_id].append(label)
    assert found, f"no {typology} case"
    return found


def case_txns(
    bank: SimulatedBank, labels: list[Label], role: str | None = None
) -> list[Transaction]:
    wanted = {
        lab.entity_id
        for lab in labels
        if lab.entity_type == "transaction" and (role is None or lab.role == role)
    }
    rows = [t for t in bank.tables["transactions"] if isinstance(t, Transaction)]
    return sorted((t for t in rows if str(t.txn_id) in wanted), key=lambda t: t.created_at)


def accounts(labels: list[Label], role: str) -> set[int]:
    return {
        int(lab.entity_id) for lab in labels if lab.entity_type == "account" and lab.role == role
    }


def customers_of(labels: list[Label], role: str | None = None) -> list[str]:
    return [
        lab.entity_id
        for lab in labels
        if lab.entity_type == "customer" and (role is None or lab.role == role)
    ]


def is_round(amount: Decimal) -> bool:
    return amount % 10 == 0


# -- the family as a whole ------------------------------------------------------------


def test_every_typology_and_look_alike_is_labelled_with_its_kind(bank: SimulatedBank) -> None:
    assert {label.typology for label in bank.labels} == set(TYPOLOGIES)
    for label in bank.labels:
        expected = LOOKALIKE if label.typology.startswith("lookalike_") else FRAUD
        assert label.kind == expected, label
        assert label.case_id.startswith("amlsim-")


def test_rows_satisfy_the_contract(bank: SimulatedBank) -> None:
    assert violations(bank.tables) == []


def test_same_seed_same_rows_and_labels(bank: SimulatedBank, tmp_path: Path) -> None:
    again = generate(make_options(seed=5, customers=700, days=40, fraud=SPECS, generator="amlsim"))
    assert again.tables == bank.tables
    assert again.labels == bank.labels
    write_labels(tmp_path / "a.jsonl", bank.labels)
    write_labels(tmp_path / "b.jsonl", again.labels)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert read_labels(tmp_path / "a.jsonl") == bank.labels  # kind survives the round trip


def test_other_seed_other_cases(bank: SimulatedBank) -> None:
    other = generate(make_options(seed=6, customers=700, days=40, fraud=SPECS, generator="amlsim"))
    assert other.labels != bank.labels


def test_no_label_text_in_rows(bank: SimulatedBank) -> None:
    markers = {label.case_id for label in bank.labels} | {"amlsim", "lookalike", "look-alike"}
    for table in TABLE_ORDER:
        for row in bank.tables[table]:
            for value in row:
                if isinstance(value, str):
                    assert not any(marker in value for marker in markers), (table, row)


def test_classic_stays_the_default_and_unknown_generators_are_refused() -> None:
    assert make_options(customers=100).generator == "classic"
    assert set(FAMILIES) >= {"classic", "amlsim"}
    with pytest.raises(OptionError, match="unknown"):
        make_options(customers=100, generator="nope")
    with pytest.raises(OptionError, match="mule_chain"):  # a classic name, not an amlsim one
        make_options(customers=100, generator="amlsim", fraud=["mule_chain=1"])


# -- money flows ----------------------------------------------------------------------


@pytest.mark.parametrize("typology", FLOWS)
def test_money_flows_sizes_durations_and_ordinary_amounts(
    bank: SimulatedBank, typology: str
) -> None:
    for labels in cases(bank, typology).values():
        people = customers_of(labels)
        assert 3 <= len(people) <= 15, (typology, len(people))
        txns = case_txns(bank, labels)
        assert len(txns) >= 2
        assert txns[-1].created_at - txns[0].created_at <= timedelta(days=30, hours=1)
        assert all(t.channel in ("transfer", "p2p") for t in txns)
        internal = [t for t in txns if t.counterparty_account_id is not None]
        assert not any(is_round(t.amount) for t in internal), typology
        assert all(Decimal(1) <= t.amount for t in internal)


def test_fan_in_many_payers_one_beneficiary(bank: SimulatedBank) -> None:
    for labels in cases(bank, "fan_in").values():
        deposits = case_txns(bank, labels, "deposit")
        assert len({t.counterparty_account_id for t in deposits}) == 1
        assert len({t.account_id for t in deposits}) == len(customers_of(labels)) - 1 >= 2


def test_fan_out_one_payer_many_beneficiaries(bank: SimulatedBank) -> None:
    for labels in cases(bank, "fan_out").values():
        payouts = case_txns(bank, labels, "payout")
        assert len({t.account_id for t in payouts}) == 1
        assert len({t.counterparty_account_id for t in payouts}) == len(customers_of(labels)) - 1


def test_cycle_returns_to_its_origin_in_time_order(bank: SimulatedBank) -> None:
    for labels in cases(bank, "cycle").values():
        hops = case_txns(bank, labels, "hop")
        members = len(customers_of(labels))
        assert len(hops) % members == 0
        for before, after in itertools.pairwise(hops):
            assert before.counterparty_account_id == after.account_id
            assert before.created_at < after.created_at
            assert after.amount <= before.amount  # a margin is kept, nothing added
        assert hops[members - 1].counterparty_account_id == hops[0].account_id


def test_bipartite_two_disjoint_sides(bank: SimulatedBank) -> None:
    for labels in cases(bank, "bipartite").values():
        txns = case_txns(bank, labels)
        payers = {t.account_id for t in txns}
        payees = {t.counterparty_account_id for t in txns}
        assert len(payers) >= 2 and len(payees) >= 2
        assert not payers & payees


@pytest.mark.parametrize(
    ("typology", "firsts", "middles", "lasts"),
    [
        ("stack", None, None, None),
        ("scatter_gather", 1, None, 1),
        ("gather_scatter", None, 1, None),
    ],
)
def test_layers_move_money_in_order(
    bank: SimulatedBank, typology: str, firsts: int | None, middles: int | None, lasts: int | None
) -> None:
    for labels in cases(bank, typology).values():
        first = accounts(labels, "originator_account")
        middle = accounts(labels, "intermediary_account")
        last = accounts(labels, "beneficiary_account")
        assert first and middle and last
        assert not (first & middle or middle & last or first & last)
        for want, got in ((firsts, first), (middles, middle), (lasts, last)):
            assert want is None or len(got) == want
        txns = case_txns(bank, labels)
        inbound = [t for t in txns if t.account_id in first]
        outbound = [t for t in txns if t.account_id in middle]
        assert all(t.counterparty_account_id in middle for t in inbound)
        assert all(t.counterparty_account_id in last for t in outbound)
        assert max(t.created_at for t in inbound) <= min(t.created_at for t in outbound)
        assert {t.account_id for t in outbound} == middle  # every intermediary passes it on


# -- look-alikes ----------------------------------------------------------------------


def test_look_alikes_are_honest_patterns_of_the_same_shapes(bank: SimulatedBank) -> None:
    revealed = {
        (r.customer_id, r.account_id)
        for r in bank.tables["fraud_reports"]
        if isinstance(r, FraudReport) and r.kind != "false_positive"
    }
    honest_ids = {
        int(lab.entity_id)
        for lab in bank.labels
        if lab.kind == LOOKALIKE and lab.entity_type in ("customer", "account")
    }
    assert not any(c in honest_ids or a in honest_ids for c, a in revealed)
    for labels in cases(bank, "lookalike_fan_out").values():
        txns = case_txns(bank, labels)
        assert len({t.account_id for t in txns}) == 1
        assert len({t.counterparty_account_id for t in txns}) >= 2
    for labels in cases(bank, "lookalike_fan_in").values():
        txns = case_txns(bank, labels)
        assert len({t.counterparty_account_id for t in txns}) == 1
        assert len({t.account_id for t in txns}) >= 2
        assert len({t.amount for t in txns}) == 1  # rent or dues: everyone pays the same


def test_forward_mutual_and_periodic_look_alikes(bank: SimulatedBank) -> None:
    for labels in cases(bank, "lookalike_forward").values():
        received, forwarded = (
            case_txns(bank, labels, "received"),
            case_txns(bank, labels, "forwarded"),
        )
        assert len(received) == len(forwarded) == 1
        assert received[0].counterparty_account_id == forwarded[0].account_id
        assert received[0].created_at <= forwarded[0].created_at
    for labels in cases(bank, "lookalike_mutual").values():
        loan, repaid = case_txns(bank, labels, "loan"), case_txns(bank, labels, "repayment")
        assert len(loan) == 1 and repaid
        assert all(t.account_id == loan[0].counterparty_account_id for t in repaid)
        assert sum(t.amount for t in repaid) == loan[0].amount
    for labels in cases(bank, "lookalike_periodic").values():
        txns = case_txns(bank, labels)
        assert len(txns) >= 2 and len({t.amount for t in txns}) == 1
        gaps = [b.created_at - a.created_at for a, b in itertools.pairwise(txns)]
        assert max(gaps) - min(gaps) <= timedelta(hours=2)


# -- identity rings -------------------------------------------------------------------


def digits(text: str) -> str:
    return re.sub(r"\D", "", text.replace("+", "00", 1) if text.startswith("+") else text)


def near(kind: str, a: str | None, b: str | None) -> bool:
    """a and b are the same identifier, exactly or as a near-duplicate."""
    if a is None or b is None:
        return False
    if kind == "phone":
        return digits(a).lstrip("0") == digits(b).lstrip("0")
    if kind == "national_id":
        return len(a) == len(b) and sum(x != y for x, y in zip(a, b, strict=True)) <= 1
    if kind == "email":
        strip = lambda e: re.sub(r"\+\d+@", "@", e).replace(".", "", 1)  # noqa: E731
        return strip(a) == strip(b) or a.replace(".", "", 1) == b.replace(".", "", 1)
    return a.lower().startswith(b.lower()) or b.lower().startswith(a.lower())


def test_near_duplicates_are_near_but_not_equal() -> None:
    rng = random.Random(1)
    for nid in ("85012345678", "AB123456C", "12345678Z"):
        twisted = near_national_id(rng, nid)
        assert twisted != nid and near("national_id", nid, twisted)
    for phone in ("+44 20 7946 0958", "030 1234567", "+48 601 234 567"):
        twisted = reformat_phone(rng, phone)
        assert twisted != phone and digits(twisted).lstrip("0") == digits(phone).lstrip("0")
    assert near_email(rng, "jan.kowalski@example.com") != "jan.kowalski@example.com"


def test_rings_share_a_device_and_some_identifiers_and_feed_a_stranger(bank: SimulatedBank) -> None:
    rows = {str(c.customer_id): c for c in bank.tables["customers"] if isinstance(c, Customer)}
    devices: dict[str, set[int | None]] = defaultdict(set)
    for login in bank.tables["logins"]:
        assert isinstance(login, Login)
        devices[str(login.customer_id)].add(login.device_id)
    fields = {"phone": 3, "email": 2, "national_id": 4, "address": 6}
    saw_near_only = False
    for labels in cases(bank, "synthetic_identity").values():
        members = [rows[c] for c in customers_of(labels, "member")]
        assert len(members) >= 3
        shared_devices = [
            int(d) for d in (lab.entity_id for lab in labels if lab.role == "shared_device")
        ]
        assert all(devices[str(m.customer_id)] & set(shared_devices) for m in members)
        assert len(shared_devices) <= 2
        shared = [
            name
            for name, column in fields.items()
            if all(near(name, m[column], members[0][column]) for m in members)
        ]
        assert 1 <= len(shared) <= 3, shared
        saw_near_only |= any(m[fields[n]] != members[0][fields[n]] for n in shared for m in members)
        (collector_id,) = customers_of(labels, "collector")
        collector = rows[collector_id]
        for name, column in fields.items():
            assert not any(near(name, collector[column], m[column]) for m in members), name
        assert not devices[collector_id] & set(shared_devices)
        deposits = case_txns(bank, labels, "deposit")
        assert {t.account_id for t in deposits} <= accounts(labels, "member_account")
        assert len({t.counterparty_account_id for t in deposits}) == 1
    assert saw_near_only, "some ring should share an identifier only as a near-duplicate"


# -- account takeover -----------------------------------------------------------------


def test_takeover_new_device_foreign_ip_contact_change_then_payout(bank: SimulatedBank) -> None:
    rows = {str(c.customer_id): c for c in bank.tables["customers"] if isinstance(c, Customer)}
    logins = [row for row in bank.tables["logins"] if isinstance(row, Login)]
    without_failures = 0
    for labels in cases(bank, "account_takeover").values():
        (device,) = [int(lab.entity_id) for lab in labels if lab.entity_type == "device"]
        (ip,) = [lab.entity_id for lab in labels if lab.entity_type == "ip"]
        for victim in customers_of(labels, "victim"):
            mine = [r for r in logins if str(r.customer_id) == victim]
            attack = [r for r in mine if r.device_id == device]
            ok = [r for r in attack if r.success]
            assert len(ok) == 1 and all(r.ip_address == ip for r in attack)
            without_failures += len(attack) == 1
            assert all(r.device_id != device for r in mine if r.occurred_at < attack[0].occurred_at)
            changed = rows[victim].updated_at
            assert ok[0].occurred_at < changed
            victim_accounts = accounts(labels, "victim_account")
            payouts = [
                t for t in case_txns(bank, labels, "payout") if t.account_id in victim_accounts
            ]
            assert payouts and all(
                changed <= t.created_at and t.device_id == device for t in payouts
            )
            for t in payouts:
                assert (t.counterparty_iban is None) != (t.counterparty_account_id is None)
                if t.counterparty_iban:
                    assert t.counterparty_iban[:2] != rows[victim].country
    assert without_failures, "some takeovers should succeed without a failed try"


# -- CLI ------------------------------------------------------------------------------


def test_cli_dry_run_with_the_amlsim_generator_writes_labels(tmp_path: Path) -> None:
    out = tmp_path / "labels.jsonl"
    args = ["simulate", "--generator", "amlsim", "--customers", "120", "--days", "12"]
    result = CliRunner().invoke(app, [*args, "--dry-run", "--labels", str(out)])
    assert result.exit_code == 0, result.output
    labels = read_labels(out)
    assert {label.kind for label in labels} == {FRAUD, LOOKALIKE}
    assert {label.typology for label in labels} <= set(TYPOLOGIES)
    assert "lookalike_fan_in" in result.output

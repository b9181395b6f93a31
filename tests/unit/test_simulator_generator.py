"""The generator without a database: determinism, contract constraints, labels."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from fraudgraph.simulator.constraints import violations
from fraudgraph.simulator.errors import OptionError
from fraudgraph.simulator.generator import SimulatedBank, generate
from fraudgraph.simulator.labels import read_labels, write_labels
from fraudgraph.simulator.options import make_options
from fraudgraph.simulator.rows import TABLE_ORDER, Customer, Login, Transaction
from fraudgraph.simulator.typologies import TYPOLOGIES


@pytest.fixture(scope="module")
def bank() -> SimulatedBank:
    return generate(make_options(seed=7, customers=400, days=10))


def test_same_seed_same_rows_and_labels(bank: SimulatedBank) -> None:
    again = generate(make_options(seed=7, customers=400, days=10))
    assert again.tables == bank.tables
    assert again.labels == bank.labels


def test_other_seed_other_bank(bank: SimulatedBank) -> None:
    other = generate(make_options(seed=8, customers=400, days=10))
    assert other.tables["customers"] != bank.tables["customers"]
    assert other.tables["transactions"] != bank.tables["transactions"]
    assert other.labels != bank.labels


def test_every_row_satisfies_the_contract(bank: SimulatedBank) -> None:
    assert violations(bank.tables) == []
    assert all(bank.tables[table] for table in TABLE_ORDER)


def test_every_typology_is_labelled_and_labels_point_at_rows(bank: SimulatedBank) -> None:
    assert {label.typology for label in bank.labels} == set(TYPOLOGIES)
    keys = {
        "customer": {str(r[0]) for r in bank.tables["customers"]},
        "account": {str(r[0]) for r in bank.tables["accounts"]},
        "card": {str(r[0]) for r in bank.tables["cards"]},
        "device": {str(r[0]) for r in bank.tables["devices"]},
        "transaction": {str(r[0]) for r in bank.tables["transactions"]},
        "ip": {str(r.ip_address) for r in bank.tables["logins"] if isinstance(r, Login)}
        | {str(r.ip_address) for r in bank.tables["transactions"] if isinstance(r, Transaction)},
    }
    for label in bank.labels:
        assert label.entity_id in keys[label.entity_type], label
        assert label.first_event_at <= label.last_event_at


def test_events_lie_in_the_window(bank: SimulatedBank) -> None:
    start = bank.options.start
    end = datetime.fromtimestamp(start.timestamp() + bank.options.days * 86_400, start.tzinfo)
    for row in bank.tables["transactions"]:
        assert isinstance(row, Transaction)
        assert start <= row.created_at <= row.updated_at < end
    for label in bank.labels:
        assert start <= label.first_event_at and label.last_event_at < end


def test_transaction_ids_follow_event_time(bank: SimulatedBank) -> None:
    txns = [r for r in bank.tables["transactions"] if isinstance(r, Transaction)]
    assert [t.created_at for t in txns] == sorted(t.created_at for t in txns)


def test_no_label_text_in_rows(bank: SimulatedBank) -> None:
    markers = {label.case_id for label in bank.labels} | set(TYPOLOGIES)
    for table in TABLE_ORDER:
        for row in bank.tables[table]:
            for value in row:
                if isinstance(value, str):
                    assert not any(marker in value for marker in markers), (table, row)


def test_legitimate_look_alikes_exist(bank: SimulatedBank) -> None:
    fraud_customers = {lab.entity_id for lab in bank.labels if lab.entity_type == "customer"}
    honest = [
        c
        for c in bank.tables["customers"]
        if isinstance(c, Customer) and str(c.customer_id) not in fraud_customers
    ]
    addresses = [(c.address_line, c.postal_code) for c in honest if c.date_of_birth is not None]
    assert len(addresses) > len(set(addresses)), "households share an address"
    devices_by_customer: dict[int, set[int | None]] = {}
    for login in bank.tables["logins"]:
        assert isinstance(login, Login)
        if str(login.customer_id) not in fraud_customers:
            devices_by_customer.setdefault(login.customer_id, set()).add(login.device_id)
    owners: dict[int | None, int] = {}
    for devices in devices_by_customer.values():
        for device in devices:
            owners[device] = owners.get(device, 0) + 1
    assert any(count > 1 for count in owners.values()), "a family shares a device"


def test_reports_reveal_fraud_and_clear_honest_customers(bank: SimulatedBank) -> None:
    labelled = {(lab.entity_type, lab.entity_id) for lab in bank.labels}
    kinds = {r.kind for r in bank.tables["fraud_reports"]}  # type: ignore[union-attr]
    assert "false_positive" in kinds
    for report in bank.tables["fraud_reports"]:
        named = {
            ("customer", str(report.customer_id)),
            ("account", str(report.account_id)),  # type: ignore[union-attr]
            ("transaction", str(report.txn_id)),
        } & labelled  # type: ignore[union-attr]
        if report.kind == "false_positive":  # type: ignore[union-attr]
            assert not named
        else:
            assert named


def test_labels_round_trip(bank: SimulatedBank, tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    assert write_labels(path, bank.labels) == len(bank.labels)
    assert read_labels(path) == bank.labels


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"customers": 5}, "--customers"),
        ({"days": 0}, "--days"),
        ({"fraud": ["nonsense=3"]}, "unknown typology"),
        ({"fraud": ["mule_chain"]}, "NAME=COUNT"),
        ({"fraud": ["mule_chain=x"]}, "whole numbers"),
        ({"fraud": ["cycle=2:1"]}, "size must be"),
        ({"reveal_share": 2.0}, "--reveal-share"),
        ({"start": "yesterday"}, "--start"),
    ],
)
def test_invalid_options_are_one_line_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(OptionError, match=message) as caught:
        make_options(**kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)


def test_fraud_counts_and_sizes_are_configurable() -> None:
    options = make_options(customers=300, days=3, fraud=["all=0", "mule_chain=3:5"])
    assert options.fraud["mule_chain"] == dataclasses.replace(
        options.fraud["mule_chain"], count=3, size=5
    )
    bank = generate(options)
    assert {lab.typology for lab in bank.labels} == {"mule_chain"}
    assert len({lab.case_id for lab in bank.labels}) == 3


def test_determinism_does_not_depend_on_hash_randomisation() -> None:
    """Same seed in another process (another PYTHONHASHSEED) -> the very same bank."""
    code = (
        "import hashlib;from simulator.options import make_options;"
        "from simulator.generator import generate;"
        "b=generate(make_options(seed=5,customers=150,days=3));"
        "print(hashlib.sha256(repr((b.tables,b.labels)).encode()).hexdigest())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    here = generate(make_options(seed=5, customers=150, days=3))
    assert (
        other.stdout.strip()
        == hashlib.sha256(repr((here.tables, here.labels)).encode()).hexdigest()
    )


def test_entities_exist_before_they_are_used(bank: SimulatedBank) -> None:
    t = bank.tables
    created = {r[0]: r.created_at for r in t["customers"] if isinstance(r, Customer)}
    opened = {r[0]: r[6] for r in t["accounts"]}
    issued = {r[0]: r[5] for r in t["cards"]}
    seen = {r[0]: r[4] for r in t["devices"]}
    for row in t["accounts"]:
        assert row[6] >= created[row[1]]  # type: ignore[operator]
    for row in t["cards"]:
        assert row[5] >= opened[row[1]]  # type: ignore[operator]
    for login in t["logins"]:
        assert isinstance(login, Login)
        assert login.occurred_at >= created[login.customer_id]
        assert login.device_id is None or login.occurred_at >= seen[login.device_id]  # type: ignore[operator]
    for txn in t["transactions"]:
        assert isinstance(txn, Transaction)
        assert txn.created_at >= opened[txn.account_id]  # type: ignore[operator]
        assert (
            txn.counterparty_account_id is None
            or txn.created_at >= opened[txn.counterparty_account_id]
        )  # type: ignore[operator]
        assert txn.card_id is None or txn.created_at >= issued[txn.card_id]  # type: ignore[operator]
        assert txn.device_id is None or txn.created_at >= seen[txn.device_id]  # type: ignore[operator]

"""Detector `fan_in_collection`: more payers by one channel, in differing amounts, than
an honest account has in days; rent and dues at a set price stay quiet."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from fraudgraph.cdc.changes import RowChange
from fraudgraph.detection.detectors.fan_in_collection import FanInCollection
from fraudgraph.evaluation.cli import DEFAULT_RULE_MAP, load_rule_map
from tests.unit.detect_support import run_delivered
from tests.unit.test_detect_money import (
    Bank,
    named,
    payments_backwards,
    payments_in_two_halves,
    run,
)

COLLECTOR = 101


def collection(payers: int, *, hours_apart: float = 3.0, amount: float | None = None) -> Bank:
    """Customers 2.. pay account 101 one after another; amounts differ unless given."""
    bank = Bank()
    bank.person(1)
    for n in range(payers):
        paid = amount if amount is not None else 310.0 + 47 * n
        bank.pay(bank.person(2 + n), hours_apart * n, paid, to=COLLECTOR)
    return bank


def test_six_payers_in_three_days_name_the_collector_and_every_sender() -> None:
    alerts = run(collection(6), FanInCollection())
    assert len(alerts) == 1  # the sixth payment; no money had to leave
    assert named(alerts[0]) == {
        str(COLLECTOR): "collector",
        **{str(100 + c): "sender" for c in range(2, 8)},
    }
    assert alerts[0]["evidence"]["senders"] == 6
    assert alerts[0]["evidence"]["channel"] == "transfer"


def test_fewer_payers_than_honest_accounts_have_raise_nothing() -> None:
    assert run(collection(5), FanInCollection()) == []  # five in 12 hours
    assert run(collection(6, hours_apart=26), FanInCollection()) == []  # six in a week
    assert len(run(collection(7, hours_apart=26), FanInCollection())) == 1  # seven


def test_rent_or_dues_at_one_set_price_raise_nothing() -> None:
    assert run(collection(10, amount=450.0), FanInCollection()) == []


def test_payers_count_per_channel_and_per_person() -> None:
    bank = collection(4)
    bank.pay(bank.person(20), 13, 95.5, to=COLLECTOR, channel="p2p")
    bank.pay(bank.person(21), 14, 88.1, to=COLLECTOR, channel="p2p")
    bank.pay(102, 15, 120.0, to=COLLECTOR)  # the first payer again: one person
    savings = bank.account(1, 901)
    bank.pay(savings, 16, 700.0, to=COLLECTOR)  # the collector's own savings
    assert run(bank, FanInCollection()) == []
    bank.pay(bank.person(22), 17, 99.0, to=COLLECTOR)  # a fifth person by transfer
    bank.pay(bank.person(23), 18, 650.0, to=COLLECTOR)  # and a sixth
    (alert,) = run(bank, FanInCollection())
    assert alert["evidence"]["senders"] == 6


@pytest.mark.parametrize("deliver", [payments_backwards, payments_in_two_halves])
def test_found_whatever_order_the_payments_arrive_in(
    deliver: Callable[[list[RowChange]], list[RowChange]],
) -> None:
    in_order = run(collection(8), FanInCollection())
    delivered = run_delivered(collection(8).tables(), FanInCollection(), deliver)
    assert in_order
    assert {a["alert_id"] for a in in_order} <= {a["alert_id"] for a in delivered}


def test_the_rule_claims_the_fan_in_typologies() -> None:
    rules = load_rule_map(DEFAULT_RULE_MAP)
    claimed = rules.typologies({"rule": "fan_in_collection", "kind": "link"})
    assert claimed == ("fan_in_out", "fan_in")

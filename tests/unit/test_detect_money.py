"""Money-flow detectors on small hand-made banks: each fraud shape and its honest
look-alike, the entities named, and alert ids that stay put across triggers and replays."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

import pytest

from fraudgraph.cdc.changes import RowChange
from fraudgraph.detection.detector import Detector
from fraudgraph.detection.detectors.cycle import Cycle
from fraudgraph.detection.detectors.fan_in import FanIn
from fraudgraph.detection.detectors.fan_out import FanOut
from fraudgraph.detection.detectors.mule_chain import MuleChain
from fraudgraph.detection.detectors.structuring import Structuring
from fraudgraph.detection.offline import Order
from fraudgraph.evaluation.cli import DEFAULT_RULE_MAP, load_rule_map
from fraudgraph.simulator.rows import Account, Customer, Transaction
from tests.unit.detect_support import run as run_tables
from tests.unit.detect_support import run_delivered

# The family's detectors (one module each).
DETECTORS: list[type[Detector]] = [MuleChain, FanIn, FanOut, Cycle, Structuring]

T0 = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)
LONG_AGO = T0 - timedelta(days=400)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


@dataclass
class Bank:
    """Customers with one account each (account id = 100 + customer id) and transfers."""

    customers: list[Customer] = field(default_factory=list)
    accounts: list[Account] = field(default_factory=list)
    transactions: list[Transaction] = field(default_factory=list)

    def person(self, customer_id: int, currency: str = "EUR") -> int:
        self.customers.append(
            Customer(
                customer_id,
                f"Person {customer_id}",
                f"p{customer_id}@example.com",
                f"+4400000{customer_id:04d}",
                f"NID{customer_id}",
                None,
                f"{customer_id} Street",
                "Berlin",
                "10115",
                "DE",
                LONG_AGO,
                LONG_AGO,
            )
        )
        return self.account(customer_id, 100 + customer_id, currency)

    def account(
        self, customer_id: int, account_id: int, currency: str = "EUR", kind: str = "checking"
    ) -> int:
        self.accounts.append(
            Account(
                account_id,
                customer_id,
                f"DE00{account_id:018d}",
                kind,
                "active",
                currency,
                LONG_AGO,
                LONG_AGO,
            )
        )
        return account_id

    def _currency(self, account_id: int) -> str:
        return next(a.currency for a in self.accounts if a.account_id == account_id)

    def pay(
        self,
        payer: int,
        hours: float,
        amount: float,
        *,
        to: int | None = None,
        channel: str = "transfer",
        status: str = "posted",
    ) -> int:
        """A payment by account `payer`: to account `to`, else out of the bank (or cash)."""
        txn_id = len(self.transactions) + 1
        self.transactions.append(
            Transaction(
                txn_id,
                payer,
                to,
                None if to is not None or channel == "atm" else f"GB00EXT{txn_id:012d}",
                None,
                None,
                None,
                None,
                channel,
                Decimal(f"{amount:.2f}"),
                self._currency(payer),
                None,
                None,
                status,
                at(hours),
                at(hours),
            )
        )
        return txn_id

    def tables(self) -> dict[str, Sequence[Any]]:
        ordered = sorted(self.transactions, key=lambda t: (t.created_at, t.txn_id))
        return {
            "customers": self.customers,
            "accounts": self.accounts,
            "transactions": ordered,
        }


def run(
    bank: Bank, detector: Detector, order: Order = "time", batch: int = 1000
) -> list[dict[str, Any]]:
    return run_tables(bank.tables(), detector, order, batch)


def named(alert: dict[str, Any], kind: str = "account") -> dict[str, str]:
    return {e["id"]: e.get("role", "") for e in alert["entities"] if e["type"] == kind}


def test_rules_map_to_their_typologies() -> None:
    rules = load_rule_map(DEFAULT_RULE_MAP)
    expected = {
        "mule_chain": ("mule_chain",),
        # classic's fan_in_out, and amlsim's fan_in / fan_out (same shapes, split in two)
        "fan_in": ("fan_in_out", "fan_in"),
        "fan_out": ("fan_in_out", "fan_out"),
        "cycle": ("cycle",),
        "structuring": ("structuring",),
    }
    assert {d.rule: rules.typologies({"rule": d.rule, "kind": d.kind}) for d in DETECTORS} == (
        expected
    )


# -- mule chain ----------------------------------------------------------------------


def mule_bank(cut: float = 0.06, gap_hours: float = 1.5, mules: int = 3) -> Bank:
    """Placement (customer 1) -> mules 2.. each keeping `cut` -> another bank."""
    bank = Bank()
    accounts = [bank.person(c) for c in range(1, mules + 2)]
    bank.person(50)  # a bystander who pays a mule an ordinary sum meanwhile
    bank.pay(150, 0.2, 40, to=accounts[1], channel="p2p")
    amount = 10_000.0
    for hop, (payer, payee) in enumerate(pairwise(accounts)):
        bank.pay(payer, hop * gap_hours, amount, to=payee)
        amount = float(int(amount * (1 - cut)))
    bank.pay(accounts[-1], mules * gap_hours, amount)
    return bank


def test_mule_chain_names_every_account_of_the_chain_and_grows() -> None:
    alerts = run(mule_bank(), MuleChain())
    # Hops 1-2 are not yet a chain; the 3rd hop and the cash-out each grow it.
    assert [a["evidence"]["hops"] for a in alerts] == [3, 4]
    last = alerts[-1]
    assert named(last) == {"101": "placement", "102": "mule", "103": "mule", "104": "exit"}
    assert set(named(last, "customer")) == {"1", "2", "3", "4"}
    assert last["evidence"]["exits_bank"] is True
    assert "150" not in named(last)
    assert alerts[0]["alert_id"] != alerts[1]["alert_id"]
    assert alerts[0]["txn_ids"][0] == alerts[1]["txn_ids"][0] == "2"


def test_mule_chain_same_ids_on_replay_in_either_order() -> None:
    first = run(mule_bank(), MuleChain(), order="time")
    again = run(mule_bank(), MuleChain(), order="snapshot", batch=2)
    assert [a["alert_id"] for a in first] == [a["alert_id"] for a in again]


@pytest.mark.parametrize(
    ("cut", "gap_hours", "mules"),
    [
        (0.06, 1.5, 1),  # one pass-on: what every fan-out receiver does
        (0.01, 1.5, 3),  # a 1 % fee: round-tripping's shape, not a mule's cut
        (0.30, 1.5, 3),  # most of it kept: not passing the money on
        (0.06, 9.0, 3),  # held for many hours at every hop
    ],
)
def test_mule_chain_ignores_look_alikes(cut: float, gap_hours: float, mules: int) -> None:
    assert run(mule_bank(cut, gap_hours, mules), MuleChain()) == []


def test_mule_chain_ignores_declined_hops() -> None:
    bank = mule_bank()
    bank.transactions[2] = bank.transactions[2]._replace(status="declined")  # hop 1 -> 2
    assert run(bank, MuleChain()) == []


# -- fan-in ----------------------------------------------------------------------------


def fan_in_bank(senders: int = 6, cash_out_share: float = 0.95, parts: int = 1) -> Bank:
    """Customers 2.. pay collector 1 over a day; the collector then sends the pool on."""
    bank = Bank()
    collector = bank.person(1)
    total = 0.0
    for n in range(senders):
        sender = bank.person(2 + n)
        amount = 800.0 + 100 * n
        bank.pay(sender, 3.0 * n, amount, to=collector)
        total += amount
    for part in range(parts):
        bank.pay(collector, 3.0 * senders + 2 + part, total * cash_out_share / parts)
    return bank


def test_fan_in_names_collector_and_senders() -> None:
    alerts = run(fan_in_bank(), FanIn())
    assert len(alerts) == 1
    assert named(alerts[0]) == {
        "101": "collector",
        **{str(100 + c): "sender" for c in range(2, 8)},
    }
    assert alerts[0]["evidence"]["senders"] == 6


def test_fan_in_cash_out_in_parts_is_one_alert() -> None:
    bank = fan_in_bank(cash_out_share=0.9, parts=3)  # 30 % each: crosses half at part 2
    alerts = run(bank, FanIn())
    assert len(alerts) == 1
    assert alerts[0]["evidence"]["cash_out_txn"] == 8


@pytest.mark.parametrize(
    ("senders", "share"),
    [
        (6, 0.2),  # a popular payee keeps (most of) what friends sent
        (4, 0.95),  # too few senders
    ],
)
def test_fan_in_ignores_look_alikes(senders: int, share: float) -> None:
    assert run(fan_in_bank(senders, share), FanIn()) == []


def test_fan_in_counts_people_not_payments() -> None:
    """Four friends (one paying twice) and the collector's own savings: four people."""
    bank = Bank()
    collector = bank.person(1)
    own_savings = bank.account(1, 901)
    friends = [bank.person(c) for c in (2, 3, 4, 5)]
    for n, payer in enumerate([*friends, friends[0], own_savings]):
        bank.pay(payer, 2.0 * n, 500, to=collector)
    bank.pay(collector, 20, 2_900)
    assert run(bank, FanIn()) == []
    bank.pay(bank.person(6), 21, 500, to=collector)  # a fifth person
    bank.pay(collector, 22, 500)
    assert len(run(bank, FanIn())) == 1


# -- fan-out ---------------------------------------------------------------------------


def fan_out_bank(receivers: int = 6, moving_on: int = 6, spacing: float = 0.5) -> Bank:
    """Account 101 pays customers 2.., one every `spacing` hours; `moving_on` of them
    withdraw cash or forward most of it within the day, the others keep it."""
    bank = Bank()
    distributor = bank.person(1)
    for n in range(receivers):
        receiver = bank.person(2 + n)
        bank.pay(distributor, spacing * n, 1_000, to=receiver)
        if n < moving_on:
            if n % 2:
                bank.pay(receiver, spacing * n + 2, 900)
            else:
                bank.pay(receiver, spacing * n + 3, 200, channel="atm")
        else:
            bank.pay(receiver, spacing * n + 4, 30, to=100 + 2, channel="p2p")
    return bank


def test_fan_out_names_distributor_and_receivers() -> None:
    alerts = run(fan_out_bank(), FanOut())
    assert alerts
    last = alerts[-1]
    assert named(last) == {"101": "distributor", **{str(100 + c): "receiver" for c in range(2, 8)}}
    assert set(named(last, "customer")) == {str(c) for c in range(1, 8)}


def test_fan_out_later_withdrawals_repeat_the_alert() -> None:
    bank = fan_out_bank()
    alerts = run(bank, FanOut())
    # Three of six moved on -> alert; the other three repeat it (same receivers).
    assert len(alerts) == 1
    assert alerts[0]["evidence"]["moved_on"] == 3
    assert [a["alert_id"] for a in run(bank, FanOut(), order="snapshot", batch=3)] == [
        alerts[0]["alert_id"]
    ]


def test_fan_out_ignores_payroll() -> None:
    """A business pays its staff within the hour; a few take cash out the same day."""
    assert run(fan_out_bank(receivers=12, moving_on=4, spacing=0.08), FanOut()) == []


def test_fan_out_names_the_account_the_cash_came_from() -> None:
    bank = fan_out_bank(receivers=5, moving_on=4)
    credit = bank.account(6, 906, kind="credit")  # receiver 6: cash taken on a credit card
    bank.pay(credit, 6, 300, channel="atm")
    alerts = run(bank, FanOut())
    assert named(alerts[-1])["906"] == "receiver_cash_out"


# -- cycle -----------------------------------------------------------------------------


def cycle_bank(members: int = 4, fee: float = 0.01, closes: bool = True) -> Bank:
    bank = Bank()
    accounts = [bank.person(c) for c in range(1, members + 1)]
    amount = 12_000.0
    hops = members if closes else members - 1
    for hop in range(hops):
        payer, payee = accounts[hop], accounts[(hop + 1) % members]
        bank.pay(payer, 8.0 * hop, amount, to=payee)
        amount = round(amount * (1 - fee), 2)
    return bank


def test_cycle_names_origin_and_members_once() -> None:
    alerts = run(cycle_bank(), Cycle())
    assert len(alerts) == 1
    assert named(alerts[0]) == {"101": "origin", "102": "member", "103": "member", "104": "member"}
    assert alerts[0]["txn_ids"] == ["1", "2", "3", "4"]
    again = run(cycle_bank(), Cycle(), order="snapshot", batch=1)
    assert [a["alert_id"] for a in again] == [alerts[0]["alert_id"]]


@pytest.mark.parametrize(
    ("members", "fee", "closes"),
    [
        (4, 0.01, False),  # never comes back
        (2, 0.0, True),  # a friend paying a loan back: two parties
        (4, 0.08, True),  # a real cut per hop: mules, not a round trip
    ],
)
def test_cycle_ignores_look_alikes(members: int, fee: float, closes: bool) -> None:
    assert run(cycle_bank(members, fee, closes), Cycle()) == []


def test_cycle_found_behind_a_direct_payment_back() -> None:
    """The last member was also paid directly by the origin; the loop is still found."""
    bank = Bank()
    x, a, b, p = (bank.person(n) for n in (1, 2, 3, 4))
    bank.pay(x, 0, 5_000, to=a)
    bank.pay(a, 2, 4_990, to=b)
    bank.pay(b, 4, 4_980, to=p)
    bank.pay(x, 5, 5_000, to=p)  # closer in time and amount than b's payment
    bank.pay(p, 6, 4_970, to=x)
    alerts = run(bank, Cycle())
    assert [named(a) for a in alerts] == [
        {"101": "origin", "102": "member", "103": "member", "104": "member"}
    ]


def test_cycle_needs_the_money_to_come_back_within_days() -> None:
    bank = Bank()
    a, b, c = (bank.person(n) for n in (1, 2, 3))
    bank.pay(a, 0, 5_000, to=b)
    bank.pay(b, 5, 4_990, to=c)
    bank.pay(c, 5 + 24 * 6, 4_980, to=a)  # six days later
    assert run(bank, Cycle()) == []


# -- structuring -----------------------------------------------------------------------


def test_structuring_alerts_once_per_run() -> None:
    bank = Bank()
    account = bank.person(1)
    for day, amount in enumerate((9_500, 9_720, 9_610, 9_880)):
        bank.pay(account, 24.0 * day, amount)
    alerts = run(bank, Structuring())
    assert len(alerts) == 1
    assert alerts[0]["evidence"]["transfers"] == 3
    assert named(alerts[0]) == {"101": "structurer"}
    assert named(alerts[0], "customer") == {"1": "structurer"}
    assert (
        run(bank, Structuring(), order="snapshot", batch=1)[0]["alert_id"]
        == (alerts[0]["alert_id"])
    )


@pytest.mark.parametrize(
    ("currency", "amounts", "days_apart"),
    [
        ("EUR", (9_800, 250, 1_200), 1),  # one honest payment just under 10,000
        ("EUR", (9_500, 9_600, 10_400), 1),  # the third is over the threshold
        ("EUR", (9_500, 9_600, 9_700), 5),  # three in ten days, not within a week
        ("PLN", (9_500, 9_600, 9_700), 1),  # ordinary PLN salaries, far below PLN's threshold
    ],
)
def test_structuring_ignores_look_alikes(
    currency: str, amounts: tuple[float, ...], days_apart: float
) -> None:
    bank = Bank()
    account = bank.person(1, currency)
    for n, amount in enumerate(amounts):
        bank.pay(account, 24.0 * days_apart * n, amount)
    assert run(bank, Structuring()) == []


# -- late arrivals ---------------------------------------------------------------------------


def structuring_bank() -> Bank:
    bank = Bank()
    account = bank.person(1)
    for day, amount in enumerate((9_500, 9_720, 9_610, 9_880)):
        bank.pay(account, 24.0 * day, amount)
    return bank


def payments_backwards(changes: list[RowChange]) -> list[RowChange]:
    """People and accounts first, then every payment latest first: each judged
    before the earlier payments it follows."""
    payments = [c for c in changes if c.table == "transactions"]
    return [c for c in changes if c.table != "transactions"] + payments[::-1]


def payments_in_two_halves(changes: list[RowChange]) -> list[RowChange]:
    """The later half of the payments first (another partition read ahead)."""
    payments = [c for c in changes if c.table == "transactions"]
    half = len(payments) // 2
    others = [c for c in changes if c.table != "transactions"]
    return others + payments[half:] + payments[:half]


SHAPES = [
    (mule_bank, MuleChain),
    (fan_in_bank, FanIn),
    (fan_out_bank, FanOut),
    (cycle_bank, Cycle),
    (structuring_bank, Structuring),
]


@pytest.mark.parametrize(("bank", "detector"), SHAPES, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("deliver", [payments_backwards, payments_in_two_halves])
def test_money_shapes_found_whatever_order_their_payments_arrive_in(
    bank: Callable[[], Bank],
    detector: type[Detector],
    deliver: Callable[[list[RowChange]], list[RowChange]],
) -> None:
    """A late payment makes the later payments of its accounts be judged again, so
    every alert in-order processing raises is raised (a shape judged before its
    first payments arrived may also be alerted as the part then in view)."""
    in_order = run(bank(), detector())
    assert in_order
    delivered = run_delivered(bank().tables(), detector(), deliver)
    assert {a["alert_id"] for a in in_order} <= {a["alert_id"] for a in delivered}


# -- what an alert's cypher draws (run on a real graph: tests/integration/test_alert_cypher.py)


def drawn_payments(alert: dict[str, Any]) -> set[int]:
    """The payments the alert's cypher draws: its `t.txn_id IN [...]` list."""
    found = re.search(r"t\.txn_id IN \[([\d, ]+)\]", alert["cypher"])
    assert found, alert["cypher"]
    return {int(n) for n in found.group(1).split(", ")}


def test_mule_chain_cypher_draws_the_payment_that_left_the_bank() -> None:
    last = run(mule_bank(), MuleChain())[-1]
    assert "left the bank" in last["explanation"]
    exit_payment = len(mule_bank().transactions)  # the last mule's payment abroad
    assert exit_payment in drawn_payments(last)
    assert "NOT EXISTS { (t)-[:TO_ACCOUNT]->() }" in last["cypher"]


def test_fan_in_cypher_draws_what_the_collector_sent_on() -> None:
    bank = fan_in_bank(cash_out_share=0.9, parts=3)
    (alert,) = run(bank, FanIn())
    assert "has sent" in alert["explanation"]
    sent_on = {
        t.txn_id for t in bank.transactions if t.account_id == 101 and t.txn_id <= 8
    }  # the parts up to the one that crossed half
    assert sent_on == {7, 8}
    assert sent_on <= drawn_payments(alert)


def test_fan_out_cypher_draws_the_withdrawals_and_forwards_it_names() -> None:
    bank = fan_out_bank()
    (alert,) = run(bank, FanOut())
    assert "withdrew cash or sent it on" in alert["explanation"]
    receivers = {int(a) for a, role in named(alert).items() if role == "receiver"}
    onward = {
        t.txn_id
        for t in bank.transactions
        if t.account_id in receivers and t.channel in ("atm", "transfer")
    }
    moved = drawn_payments(alert) & onward
    assert (
        len({t.account_id for t in bank.transactions if t.txn_id in moved})
        >= (alert["evidence"]["moved_on"])
    )


def test_fan_out_cypher_draws_the_cash_taken_elsewhere() -> None:
    bank = fan_out_bank(receivers=5, moving_on=4)
    credit = bank.account(6, 906, kind="credit")
    cash = bank.pay(credit, 6, 300, channel="atm")
    alert = run(bank, FanOut())[-1]
    assert cash in drawn_payments(alert)

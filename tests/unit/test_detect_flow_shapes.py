"""Flow-shape detectors on small hand-made banks: each shape fires, its honest
look-alikes (payroll, a landlord's rent, a loan repaid, a loop out of time order)
stay quiet, and alert ids stay put across replays."""

from __future__ import annotations

from typing import Any

import pytest

from fraudgraph.detection.detector import Detector
from fraudgraph.detection.detectors import _flow_shapes
from fraudgraph.detection.detectors.bipartite_flow import BipartiteFlow
from fraudgraph.detection.detectors.fan_in_burst import FanInBurst
from fraudgraph.detection.detectors.fan_out_burst import FanOutBurst
from fraudgraph.detection.detectors.gather_scatter import GatherScatter
from fraudgraph.detection.detectors.layered_stack import LayeredStack
from fraudgraph.detection.detectors.ordered_cycle import OrderedCycle
from fraudgraph.detection.detectors.scatter_gather import ScatterGather
from fraudgraph.detection.engine import DetectionEngine
from fraudgraph.detection.memory_history import MemoryHistory
from fraudgraph.detection.offline import changes_of
from fraudgraph.detection.records import RecordBuilder
from fraudgraph.detection.settings import DetectionConfig
from fraudgraph.evaluation.cli import DEFAULT_RULE_MAP, load_rule_map
from fraudgraph.graph.mapping import default_mapping
from tests.unit.detect_support import TEST_HASHER
from tests.unit.test_detect_money import Bank, named, run

DAY = 24.0
RELAYS: list[Detector] = [
    FanInBurst(),
    FanOutBurst(),
    GatherScatter(),
    ScatterGather(),
    LayeredStack(),
]
SHAPES: list[Detector] = [OrderedCycle(), *RELAYS, BipartiteFlow()]


def run_all(bank: Bank, detectors: list[Detector]) -> list[dict[str, Any]]:
    return [alert for detector in detectors for alert in run(bank, detector)]


def test_rules_map_to_their_typologies() -> None:
    rules = load_rule_map(DEFAULT_RULE_MAP)
    expected = {
        "ordered_cycle": ("cycle",),
        "fan_in_burst": ("fan_in_out", "fan_in"),
        "fan_out_burst": ("fan_in_out", "fan_out"),
        "bipartite_flow": ("bipartite",),
        "scatter_gather": ("scatter_gather",),
        "gather_scatter": ("gather_scatter",),
        "layered_stack": ("stack",),
    }
    found = {d.rule: rules.typologies({"rule": d.rule, "kind": d.kind}) for d in SHAPES}
    assert found == expected


# -- ordered cycle -------------------------------------------------------------------


def cycle_bank(members: int = 5, hop_days: float = 2.0, in_order: bool = True) -> Bank:
    """Accounts 101.. pass 900, keeping 3 % each, round the loop and back to 101."""
    bank = Bank()
    accounts = [bank.person(c) for c in range(1, members + 1)]
    amount = 900.0
    hops = list(zip(accounts, [*accounts[1:], accounts[0]], strict=True))
    for n, (payer, payee) in enumerate(hops):
        # Out of order: every hop is paid before the one that funded it.
        when = n * hop_days * DAY if in_order else (len(hops) - n) * hop_days * DAY
        bank.pay(payer, when, amount, to=payee)
        amount = round(amount * 0.97, 2)
    return bank


def test_ordered_cycle_names_every_member_once() -> None:
    alerts = run(cycle_bank(), OrderedCycle())
    assert len(alerts) == 1
    assert named(alerts[0]) == {
        "101": "origin",
        "102": "member",
        "103": "member",
        "104": "member",
        "105": "member",
    }
    assert set(named(alerts[0], "customer")) == {"1", "2", "3", "4", "5"}
    assert alerts[0]["evidence"]["hops"] == 5


def test_ordered_cycle_same_id_on_replay() -> None:
    first = run(cycle_bank(), OrderedCycle(), order="time")
    again = run(cycle_bank(), OrderedCycle(), order="snapshot", batch=2)
    assert [a["alert_id"] for a in first] == [a["alert_id"] for a in again]


def test_ordered_cycle_ignores_a_loop_out_of_time_order() -> None:
    assert run(cycle_bank(in_order=False), OrderedCycle()) == []


def test_ordered_cycle_ignores_slow_hops_and_triangles() -> None:
    assert run(cycle_bank(hop_days=12), OrderedCycle()) == []
    assert run(cycle_bank(members=3), OrderedCycle()) == []


def test_ordered_cycle_ignores_a_loan_repaid() -> None:
    bank = Bank()
    lender, borrower = bank.person(1), bank.person(2)
    bank.pay(lender, 0, 1000, to=borrower)
    bank.pay(borrower, 5 * DAY, 990, to=lender)
    assert run_all(bank, [OrderedCycle(), *RELAYS]) == []


# -- relays ----------------------------------------------------------------------------


# What scatter_gather_bank's alert names.
SCATTER_GATHER_ROLES = {
    "101": "originator",
    "102": "intermediary",
    "103": "intermediary",
    "104": "intermediary",
    "109": "beneficiary",
}


def scatter_gather_bank() -> Bank:
    """Account 101 pays 102-104, which pass it on to 109 two days later, keeping 4 %."""
    bank = Bank()
    source = bank.person(1)
    middles = [bank.person(c) for c in (2, 3, 4)]
    sink = bank.person(9)
    for n, middle in enumerate(middles):
        bank.pay(source, n * 3, 700 + 50 * n, to=middle)
    for n, middle in enumerate(middles):
        bank.pay(middle, 2 * DAY + n * 5, (700 + 50 * n) * 0.96, to=sink)
    return bank


def test_scatter_gather_names_source_intermediaries_and_sink() -> None:
    bank = scatter_gather_bank()
    alerts = run(bank, ScatterGather())
    assert alerts
    last = alerts[-1]
    assert named(last) == SCATTER_GATHER_ROLES
    assert run(bank, ScatterGather(), order="snapshot", batch=3)[-1]["alert_id"] == last["alert_id"]


def salaried_scatter_gather_bank(forward_share: float = 0.96) -> Bank:
    """scatter_gather_bank, but each intermediary's employer (201) pays it a salary
    twice what it relays, between the money coming in and going on."""
    bank = Bank()
    source = bank.person(1)
    middles = [bank.person(c) for c in (2, 3, 4)]
    sink = bank.person(9)
    employer = bank.person(20)
    for n, middle in enumerate(middles):
        bank.pay(source, n * 3, 700 + 50 * n, to=middle)
        bank.pay(employer, DAY + n * 3, 1500 + 90 * n, to=middle)
    for n, middle in enumerate(middles):
        bank.pay(middle, 2 * DAY + n * 5, (700 + 50 * n) * forward_share, to=sink)
    return bank


def test_scatter_gather_found_when_a_salary_lands_between_in_and_out() -> None:
    # Of all it was paid, each intermediary sent on about a third; of what the
    # source paid it, 96 %.
    alerts = run(salaried_scatter_gather_bank(), ScatterGather())
    assert alerts
    assert named(alerts[-1]) == SCATTER_GATHER_ROLES


def test_a_payment_on_unlike_what_came_in_is_no_forward() -> None:
    # Half of what the source paid, beside a salary: spending, not relaying.
    assert run(salaried_scatter_gather_bank(forward_share=0.5), ScatterGather()) == []


def test_gather_scatter_and_stack_fire() -> None:
    bank = Bank()
    sources = [bank.person(c) for c in (1, 2, 3)]
    hub = bank.person(5)
    sinks = [bank.person(c) for c in (7, 8)]
    for n, source in enumerate(sources):
        bank.pay(source, n * 4, 400 + 30 * n, to=hub)
    bank.pay(hub, 2 * DAY, 700, to=sinks[0])
    bank.pay(hub, 2 * DAY + 3, 480, to=sinks[1])
    alerts = run(bank, GatherScatter())
    assert alerts
    assert named(alerts[-1])["105"] == "intermediary"
    assert {"101", "102", "103", "107", "108"} <= set(named(alerts[-1]))

    stack = Bank()
    origins = [stack.person(c) for c in (1, 2)]
    middles = [stack.person(c) for c in (3, 4)]
    ends = [stack.person(c) for c in (7, 8)]
    for n, (origin, middle) in enumerate(zip(origins, middles, strict=True)):
        stack.pay(origin, n, 800, to=middle)
        stack.pay(origin, n + 2, 500, to=middles[1 - n])
    for n, middle in enumerate(middles):
        stack.pay(middle, DAY + n, 700, to=ends[0])
        stack.pay(middle, DAY + n + 1, 560, to=ends[1])
    layered = run(stack, LayeredStack())
    assert layered
    assert {"101", "102", "103", "104", "107", "108"} <= set(named(layered[-1]))


def test_fan_in_burst_fires_when_the_pool_leaves() -> None:
    bank = Bank()
    hub = bank.person(1)
    senders = [bank.person(c) for c in range(2, 8)]
    for n, sender in enumerate(senders):
        bank.pay(sender, n * 2, 300 + 17 * n, to=hub)
    bank.pay(hub, 2 * DAY, 1900)  # out of the bank
    alerts = run(bank, FanInBurst())
    assert len(alerts) == 1
    assert named(alerts[0])["101"] == "collector"
    assert {str(s) for s in senders} <= set(named(alerts[0]))


def test_landlord_and_payroll_stay_quiet() -> None:
    landlord = Bank()
    owner = landlord.person(1)
    for c in range(2, 12):
        tenant = landlord.person(c)
        landlord.pay(tenant, c * 5, 800, to=owner)
    landlord.pay(owner, 10 * DAY, 300)  # a bill: not the pool passed on
    assert run_all(landlord, [OrderedCycle(), *RELAYS]) == []

    payroll = Bank()
    employer = payroll.person(1)
    staff = [payroll.person(c) for c in range(2, 12)]
    for n, employee in enumerate(staff):
        payroll.pay(employer, n * 0.1, 2500 + 10 * n, to=employee)
    # Employees then pay rent and friends as usual (to others, days later, smaller).
    for n, employee in enumerate(staff[:3]):
        payroll.pay(employee, 3 * DAY + n, 900, to=staff[(n + 5) % len(staff)])
    assert run_all(payroll, [OrderedCycle(), *RELAYS]) == []


def test_fan_out_burst_fires_when_a_funded_hub_pays_many() -> None:
    bank = Bank()
    hub = bank.person(1)
    funders = [bank.person(c) for c in (2, 3)]
    receivers = [bank.person(c) for c in range(10, 16)]
    bank.pay(funders[0], 0, 1500, to=hub)
    bank.pay(funders[1], 3, 1300, to=hub)
    for n, receiver in enumerate(receivers):
        bank.pay(hub, DAY + n * 2, 430 + 11 * n, to=receiver)
    alerts = run(bank, FanOutBurst())
    assert alerts
    assert named(alerts[-1])["101"] == "distributor"
    assert {str(100 + c) for c in range(10, 16)} <= set(named(alerts[-1]))


def test_bipartite_flow_fires_on_a_block_of_payers() -> None:
    bank = Bank()
    origins = [bank.person(c) for c in (1, 2, 3)]
    ends = [bank.person(c) for c in (7, 8)]
    for n, origin in enumerate(origins):
        for m, end in enumerate(ends):
            bank.pay(origin, n * DAY + m * 5, 310 + 7 * n + 3 * m, to=end)
    alerts = run(bank, BipartiteFlow())
    assert alerts
    assert named(alerts[-1]) == {
        "101": "originator",
        "102": "originator",
        "103": "originator",
        "107": "beneficiary",
        "108": "beneficiary",
    }


def test_friend_circle_stays_quiet() -> None:
    """Five friends pass small sums round and back for a month: everyone pays and is
    paid by the others, which is settling up, not relaying."""
    bank = Bank()
    friends = [bank.person(c) for c in range(1, 6)]
    hour = 0.0
    for week in range(4):
        for n, payer in enumerate(friends):
            for m in (1, 2):
                payee = friends[(n + m + week) % len(friends)]
                bank.pay(payer, hour, 20 + 3 * n + m, to=payee, channel="p2p")
                hour += 5
    assert run_all(bank, SHAPES) == []


def test_club_dues_and_mutual_loans_stay_quiet() -> None:
    club = Bank()
    treasurer = club.person(1)
    members = [club.person(c) for c in range(2, 10)]
    for n, member in enumerate(members):
        club.pay(member, n * 7, 45, to=treasurer)
    club.pay(treasurer, 5 * DAY, 300)  # the hall, another bank
    assert run_all(club, [OrderedCycle(), ScatterGather(), BipartiteFlow()]) == []

    loans = Bank()
    a, b, c = (loans.person(n) for n in (1, 2, 3))
    loans.pay(a, 0, 1200, to=b)
    loans.pay(b, 4 * DAY, 600, to=a)
    loans.pay(b, 9 * DAY, 610, to=a)
    loans.pay(c, DAY, 400, to=b)
    loans.pay(b, 6 * DAY, 400, to=c)
    assert run_all(loans, SHAPES) == []


def test_the_relay_rules_search_each_transfer_once_between_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Four relay rules over one batch: the relays around each transfer's payer are
    worked out once, not once per rule (each search reads counterparties' windows)."""
    searched: list[int] = []
    search = _flow_shapes.layered

    def counted(ctx: Any, owners: Any, txn: Any, **settings: Any) -> Any:
        searched.append(txn.txn_id)
        return search(ctx, owners, txn, **settings)

    monkeypatch.setattr(_flow_shapes, "layered", counted)
    bank = scatter_gather_bank()
    four = [FanInBurst(), GatherScatter(), ScatterGather(), LayeredStack()]
    builder = RecordBuilder(default_mapping(), TEST_HASHER)
    tables = bank.tables()
    engine = DetectionEngine(
        MemoryHistory.from_tables(builder, tables),
        DetectionConfig(),
        builder,
        [(rule, False) for rule in four],
    )
    result = engine.run(changes_of(tables, "time"))
    assert result.alerts  # the scatter-gather was found, so the rules did search
    assert sorted(searched) == sorted(set(searched)) and len(searched) == 6

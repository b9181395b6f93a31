"""Identity detectors on small hand-made banks: synthetic rings and their honest
look-alikes (households sharing a landline, recycled numbers, placeholders), the
entities named, and alert ids that stay put across triggers, replays and orders."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from structlog.testing import capture_logs

from fraudgraph.alerts.model import Finding
from fraudgraph.cdc.changes import Position, RowChange
from fraudgraph.detection.context import Context
from fraudgraph.detection.detector import Detector
from fraudgraph.detection.detectors._rings import ring_tier
from fraudgraph.detection.detectors.fraud_proximity import FraudProximity
from fraudgraph.detection.detectors.identity_ring import IdentityRing
from fraudgraph.detection.detectors.shared_identifiers import SharedIdentifiers
from fraudgraph.detection.engine import DetectionEngine
from fraudgraph.detection.events import Event, to_event
from fraudgraph.detection.history import Txn
from fraudgraph.detection.memory_history import MemoryHistory
from fraudgraph.detection.offline import Order, changes_of
from fraudgraph.detection.records import RecordBuilder
from fraudgraph.detection.settings import DetectionConfig, HistoryWindows, LateArrivalConfig
from fraudgraph.errors import ConfigError
from fraudgraph.evaluation.cli import DEFAULT_RULE_MAP, load_rule_map
from fraudgraph.graph.mapping import default_mapping
from fraudgraph.graph.pii import PiiHasher
from fraudgraph.simulator.rows import Account, Customer, FraudReport, Transaction
from tests.unit.detect_support import deliver_in_batches, ids, run_delivered, tables_reversed
from tests.unit.detect_support import run as run_tables

# The family's detectors (one module each).
DETECTORS: list[type[Detector]] = [SharedIdentifiers, IdentityRing, FraudProximity]

T0 = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)
LONG_AGO = T0 - timedelta(days=900)


def day(days: float) -> datetime:
    return T0 + timedelta(days=days)


@dataclass
class Bank:
    """Customers with a checking account (100 + id) opened minutes after them."""

    customers: list[Customer] = field(default_factory=list)
    accounts: list[Account] = field(default_factory=list)
    transactions: list[Transaction] = field(default_factory=list)
    fraud_reports: list[FraudReport] = field(default_factory=list)

    def person(
        self,
        customer_id: int,
        created: datetime,
        *,
        phone: str | None = None,
        email: str | None = None,
        nid: str | None = None,
        address: str | None = None,
        credit: bool = False,
    ) -> int:
        self.customers.append(
            Customer(
                customer_id,
                f"Person {customer_id}",
                email or f"p{customer_id}@example.com",
                phone or f"+4930000{customer_id:05d}",
                nid or f"NID{customer_id:06d}",
                None,
                address or f"{customer_id} Own Street",
                "Berlin",
                "10115",
                "DE",
                created,
                created,
            )
        )
        self.account(customer_id, 100 + customer_id, created + timedelta(minutes=5))
        if credit:
            self.account(customer_id, 200 + customer_id, created + timedelta(minutes=9), "credit")
        return 100 + customer_id

    def account(
        self, customer_id: int, account_id: int, opened: datetime, kind: str = "checking"
    ) -> None:
        self.accounts.append(
            Account(
                account_id,
                customer_id,
                f"DE00{account_id:018d}",
                kind,
                "active",
                "EUR",
                opened,
                opened,
            )
        )

    def pay(
        self, payer: int, to: int, when: datetime, amount: float, channel: str = "transfer"
    ) -> int:
        txn_id = len(self.transactions) + 1
        self.transactions.append(
            Transaction(
                txn_id,
                payer,
                to,
                None,
                None,
                None,
                None,
                None,
                channel,
                Decimal(f"{amount:.2f}"),
                "EUR",
                None,
                None,
                "posted",
                when,
                when,
            )
        )
        return txn_id

    def report(
        self,
        when: datetime,
        *,
        customer: int | None = None,
        account: int | None = None,
        kind: str = "confirmed_fraud",
    ) -> None:
        report_id = len(self.fraud_reports) + 1
        self.fraud_reports.append(FraudReport(report_id, kind, customer, account, None, None, when))

    def tables(self) -> dict[str, Sequence[Any]]:
        return {
            "customers": sorted(self.customers, key=lambda c: c.customer_id),
            "accounts": sorted(self.accounts, key=lambda a: a.account_id),
            "transactions": sorted(self.transactions, key=lambda t: (t.created_at, t.txn_id)),
            "fraud_reports": self.fraud_reports,
        }


BUILDER = RecordBuilder(default_mapping(), PiiHasher("k" * 16))


def run(
    bank: Bank, detector: Detector, order: Order = "time", batch: int = 1000
) -> list[dict[str, Any]]:
    return run_tables(bank.tables(), detector, order, batch)


def named(alerts: list[dict[str, Any]], kind: str) -> set[str]:
    return {e["id"] for a in alerts for e in a["entities"] if e["type"] == kind}


def ring_phone(first: int, i: int) -> str:
    return f"+49151000{first:02d}{i % 2}"


def synthetic_ring(bank: Bank, first: int = 1, size: int = 5, start: float = 0.0) -> list[int]:
    """Like the simulator's: phone i % 2, e-mail for even i, address (i // 2) % 2, the
    first three re-use one national id; one member a day, each with a credit line."""
    members = list(range(first, first + size))
    for i, cid in enumerate(members):
        bank.person(
            cid,
            day(start + i),
            phone=ring_phone(first, i),
            email=f"ring{first}@example.com" if i % 2 == 0 else None,
            nid=f"DONOR{first}" if i < 3 else None,
            address=f"{(i // 2) % 2} Ring Road {first}",
            credit=True,
        )
    return members


def household(bank: Bank, first: int, size: int = 4) -> None:
    """A family at one address on one landline and one family e-mail, own national ids."""
    for n in range(size):
        bank.person(
            first + n,
            LONG_AGO + timedelta(days=n),
            phone="+493012345678",
            email="family.home@example.com",
            address="7 Family Lane",
        )


# -- mapping -----------------------------------------------------------------------------


def test_rules_map_to_synthetic_identity_and_proximity_stays_unmapped() -> None:
    rules = load_rule_map(DEFAULT_RULE_MAP)
    found = {d.rule: rules.typologies({"rule": d.rule, "kind": d.kind}) for d in DETECTORS}
    assert found == {
        "shared_identifiers": ("synthetic_identity",),
        "identity_ring": ("synthetic_identity",),
        "fraud_proximity": (),
    }


def test_bad_params_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"identity_ring: params\.max_holders"):
        IdentityRing({"max_holders": 1})


def test_ring_tiers() -> None:
    assert [ring_tier(n) for n in (2, 3, 4, 5, 7, 8, 12, 13, 200)] == [0, 3, 3, 5, 5, 8, 8, 13, 144]


# -- shared_identifiers --------------------------------------------------------------------


def test_shared_identifiers_names_every_member_and_account_of_a_ring_and_no_bystander() -> None:
    bank = Bank()
    members = synthetic_ring(bank)
    household(bank, 50)
    bank.person(60, LONG_AGO)  # a bystander sharing nothing
    alerts = run(bank, SharedIdentifiers())
    assert named(alerts, "customer") == {str(c) for c in members}
    accounts = {str(100 + c) for c in members} | {str(200 + c) for c in members}
    assert named(alerts, "account") == accounts
    assert all(a["rule"] == "shared_identifiers" and a["kind"] == "link" for a in alerts)


def test_shared_identifiers_first_flags_the_second_member_by_its_national_id() -> None:
    bank = Bank()
    synthetic_ring(bank, size=2)
    alerts = run(bank, SharedIdentifiers())
    customer_alerts = [a for a in alerts if "account_id" not in a["evidence"]]
    assert len(customer_alerts) == 1
    assert customer_alerts[0]["evidence"]["reasons"] == ["national id re-used"]
    # The pair is named with the first member's accounts (opened before the second joined).
    assert named(customer_alerts, "account") == {"101", "201"}


def test_an_account_opened_later_by_a_flagged_customer_is_named_by_its_own_alert() -> None:
    bank = Bank()
    synthetic_ring(bank, size=3)
    bank.account(3, 303, day(6), "savings")
    alerts = run(bank, SharedIdentifiers())
    late = [a for a in alerts if {e["id"] for e in a["entities"]} == {"3", "303"}]
    assert len(late) == 1
    assert late[0]["evidence"]["account_id"] == 303


def test_a_household_sharing_a_landline_and_e_mail_is_not_flagged() -> None:
    bank = Bank()
    household(bank, 1)
    assert run(bank, SharedIdentifiers()) == []
    assert run(bank, IdentityRing()) == []


def test_a_household_bigger_than_a_home_sharing_a_phone_is_flagged() -> None:
    bank = Bank()
    household(bank, 1, size=5)
    alerts = run(bank, SharedIdentifiers())
    assert alerts
    assert "more than a household" in alerts[-1]["evidence"]["reasons"]


def test_recycled_numbers_binding_customers_years_apart_are_not_flagged() -> None:
    bank = Bank()
    # A-B share a phone, B-C an e-mail, C-D a phone: different addresses, years apart.
    bank.person(1, LONG_AGO, phone="+491700000001")
    bank.person(2, LONG_AGO + timedelta(days=400), phone="+49 170 0000001", email="b@x.org")
    bank.person(3, LONG_AGO + timedelta(days=800), email="B@X.org", phone="+491700000003")
    bank.person(4, day(0), phone="+491700000003")
    assert run(bank, SharedIdentifiers()) == []
    assert run(bank, IdentityRing()) == []


def test_a_chain_of_single_coincidences_among_new_customers_is_not_a_ring() -> None:
    bank = Bank()
    # Onboarded the same week, but each pair is bound by one identifier, each identifier
    # held by two: the shape of typos and recycled numbers, not of a ring.
    bank.person(1, day(0), phone="+491700000001")
    bank.person(2, day(2), phone="+491700000001", email="two@x.org")
    bank.person(3, day(4), email="two@x.org")
    assert run(bank, IdentityRing()) == []
    assert run(bank, SharedIdentifiers()) == []
    bank.person(4, day(5), email="two@x.org")  # a third on one e-mail: now it is
    assert [a["evidence"]["members"] for a in run(bank, IdentityRing())] == [4]


def test_a_fresh_pair_sharing_one_phone_across_addresses_is_not_yet_flagged() -> None:
    bank = Bank()
    bank.person(1, day(0), phone="+491700000001")
    bank.person(2, day(3), phone="+491700000001")
    assert run(bank, SharedIdentifiers()) == []


def test_a_fresh_pair_sharing_two_identifiers_across_addresses_is_flagged() -> None:
    bank = Bank()
    bank.person(1, day(0), phone="+491700000001", email="same@x.org")
    bank.person(2, day(3), phone="+491700000001", email="same@x.org")
    alerts = run(bank, SharedIdentifiers())
    assert alerts[0]["evidence"]["reasons"] == ["several identifiers shared across addresses"]
    assert named(alerts, "customer") == {"1", "2"}


def test_a_placeholder_phone_on_many_customers_is_ignored() -> None:
    bank = Bank()
    for cid in range(1, 8):
        bank.person(cid, day(cid / 10), phone="+490000000000")
    # Under a bound of 2 holders, the phone is a placeholder from its third holder on.
    assert run(bank, SharedIdentifiers({"max_holders": 2})) == []
    assert run(bank, IdentityRing({"max_holders": 2})) == []
    assert run(bank, SharedIdentifiers()) != []  # the same seven under the default bound


def test_the_old_customer_whose_phone_a_ring_borrowed_is_not_named() -> None:
    bank = Bank()
    bank.person(40, LONG_AGO, phone=ring_phone(11, 0))  # the ring's phone, years before
    members = synthetic_ring(bank, first=11)
    alerts = run(bank, SharedIdentifiers()) + run(bank, IdentityRing())
    assert named(alerts, "customer") == {str(c) for c in members}
    assert "140" not in named(alerts, "account")


def test_shared_identifiers_same_ids_in_either_order_and_batch_size() -> None:
    bank = Bank()
    synthetic_ring(bank, size=6)
    first = run(bank, SharedIdentifiers(), order="time")
    again = run(bank, SharedIdentifiers(), order="snapshot", batch=3)
    assert sorted(ids(first)) == sorted(ids(again))
    assert len(set(ids(first))) == len(first)


def test_shared_identifiers_same_ids_when_the_accounts_topic_is_read_first() -> None:
    """Every account reaches the graph before its customer: the customer, when it
    arrives, judges its accounts again, and the alerts are those of in-order."""
    bank = Bank()
    synthetic_ring(bank, size=6)
    household(bank, 50)
    in_order = run(bank, SharedIdentifiers(), order="time")

    def accounts_first(changes: list[RowChange]) -> list[RowChange]:
        return sorted(changes, key=lambda c: c.table != "accounts")

    found = run_delivered(bank.tables(), SharedIdentifiers(), accounts_first)
    assert sorted(ids(found)) == sorted(ids(in_order))
    assert len(in_order) == 15


def test_shared_identifiers_misses_nothing_when_delivered_backwards() -> None:
    """Accounts before customers, later customers before earlier ones: each customer
    judges again those judged without it, so every in-order alert is raised. Judged
    before the earliest member arrived, a member may also get an alert for the part
    of the ring then in view (a partial view; no delivery order can tell it apart)."""
    bank = Bank()
    synthetic_ring(bank, size=6)
    household(bank, 50)
    in_order = run(bank, SharedIdentifiers(), order="time")
    backwards = run_delivered(bank.tables(), SharedIdentifiers(), tables_reversed)
    assert set(ids(in_order)) <= set(ids(backwards))
    assert len(set(ids(backwards))) == len(backwards)


# -- identity_ring -------------------------------------------------------------------------


def test_a_ring_alerts_once_per_size_tier_naming_members_and_accounts() -> None:
    bank = Bank()
    members = synthetic_ring(bank, size=6)
    household(bank, 50)
    alerts = run(bank, IdentityRing())
    assert [a["evidence"]["tier"] for a in alerts] == [3, 5]
    assert [a["evidence"]["members"] for a in alerts] == [3, 5]
    last = alerts[-1]
    assert last["kind"] == "cluster"
    assert named([last], "customer") == {str(c) for c in members[:5]}
    # Accounts open by the fifth member's arrival: the first four members' two each.
    assert named([last], "account") == {str(b + c) for c in members[:4] for b in (100, 200)}
    assert {e["role"] for e in last["entities"]} == {"member"}
    assert "national id re-used" in last["evidence"]["signals"]
    assert last["cypher"].startswith("MATCH (c:Customer) WHERE c.customer_id IN [1, 2, 3, 4, 5]")


def test_a_ring_of_four_at_one_address_is_a_ring_because_of_its_national_id() -> None:
    bank = Bank()
    for i in range(4):
        bank.person(
            i + 1,
            day(i),
            phone="+4915100000000",
            email="ring@example.com",
            nid="DONOR" if i < 2 else None,
            address="1 One Address",
        )
    alerts = run(bank, IdentityRing())
    assert len(alerts) == 1
    assert alerts[0]["evidence"]["addresses"] == 1
    assert named(run(bank, SharedIdentifiers()), "customer") == {"1", "2", "3", "4"}


def test_ring_score_and_evidence_count_money_among_members_and_confirmed_fraud() -> None:
    bank = Bank()
    synthetic_ring(bank, size=4)
    bank.pay(101, 103, day(4), 150, channel="p2p")
    bank.pay(102, 104, day(4.5), 90, channel="p2p")
    bank.pay(101, 999, day(4.6), 5000)  # out of the ring: not circulated
    bank.report(day(4.8), customer=2)
    quiet = run(bank, IdentityRing())[-1]
    bank.person(5, day(5), phone=ring_phone(1, 0), address="9 Elsewhere")  # the 5th member
    loud = run(bank, IdentityRing())[-1]
    assert quiet["evidence"]["internal_transfers"] == 0
    assert loud["evidence"]["internal_transfers"] == 2
    assert loud["evidence"]["money_circulated"] == 240.0
    assert loud["evidence"]["reported_members"] == [2]
    assert sorted(loud["txn_ids"]) == ["1", "2"]
    assert loud["score"] > quiet["score"]


def test_the_same_ring_found_from_two_members_is_one_alert() -> None:
    bank = Bank()
    synthetic_ring(bank, size=4)
    tables = bank.tables()
    history = MemoryHistory.from_tables(BUILDER, tables)
    detector = IdentityRing()
    later = day(10)
    found = []
    for cid in (3, 4):  # two members change something unrelated, long after joining
        row = next(c for c in tables["customers"] if c.customer_id == cid)
        event = Event(
            "customer", BUILDER.customer(row._asdict()), int(later.timestamp() * 1000), "u", cid, 0
        )
        ctx = Context(history, HistoryWindows())
        found += list(detector.detect(event, ctx))
    assert len(found) == 2
    assert found[0].alert_id == found[1].alert_id
    assert found[0].anchor == "ring:1:tier3"


def test_ring_alert_ids_are_the_same_in_either_order() -> None:
    bank = Bank()
    synthetic_ring(bank, size=8)
    first = run(bank, IdentityRing(), order="time")
    again = run(bank, IdentityRing(), order="snapshot", batch=2)
    assert ids(first) == ids(again)
    assert [a["evidence"]["tier"] for a in first] == [3, 5, 8]


def test_a_component_past_the_bound_is_logged_not_alerted() -> None:
    bank = Bank()
    synthetic_ring(bank, size=6)
    with capture_logs() as logs:
        alerts = run(bank, IdentityRing({"max_members": 4}))
    assert [a["evidence"]["tier"] for a in alerts] == [3]  # before it outgrew the bound
    assert any(entry["event"] == "identity_component_too_large" for entry in logs)


def test_to_event_keeps_customer_updates_for_identity_detectors() -> None:
    # A contact change arrives as an update of the customer row; it must reach us.
    row = Bank()
    row.person(1, day(0))
    change = RowChange(
        table="customers",
        op="u",
        key={"customer_id": 1},
        row=row.customers[0]._asdict(),
        lsn=1,
        committed_at_ms=0,
        position=Position("t", 0, 1),
    )
    event = to_event(change, BUILDER)
    assert event is not None and event.kind in SharedIdentifiers.handles


# -- fraud_proximity -----------------------------------------------------------------------


def proximity_bank() -> Bank:
    bank = Bank()
    synthetic_ring(bank, size=4)
    bank.person(40, LONG_AGO, phone=ring_phone(1, 0))  # an old customer on a ring phone
    accomplice = bank.person(41, LONG_AGO)
    friend = bank.person(42, LONG_AGO)
    family = bank.person(43, LONG_AGO, address="0 Ring Road 1")  # lives with member 1
    employer = bank.person(44, LONG_AGO)
    staff = [bank.person(c, LONG_AGO) for c in range(70, 76)]
    bank.pay(101, accomplice, day(9), 2500)  # new, large: an accomplice
    bank.pay(101, friend, day(-20), 300)  # established before the window
    bank.pay(101, friend, day(9.1), 300)
    bank.pay(101, family, day(9.2), 400)  # same address: family
    bank.pay(101, accomplice + 1000, day(9.3), 50)  # small (and nobody's)
    for n, account in enumerate([*staff, 101]):  # payroll, the ring member among the staff
        bank.pay(employer, account, day(8) + timedelta(minutes=n), 2000)
    bank.pay(101, bank.person(45, LONG_AGO), day(9.4), 700, channel="p2p")  # a friend
    bank.report(day(10), customer=1)
    return bank


def test_proximity_names_the_ring_and_a_new_money_counterparty_only() -> None:
    alerts = run(proximity_bank(), FraudProximity())
    assert len(alerts) == 1
    alert = alerts[0]
    assert named(alerts, "customer") == {"1", "2", "3", "4", "41"}
    assert {"102", "103", "104", "141"} <= named(alerts, "account")
    assert not {"140", "142", "143", "144", "145"} & named(alerts, "account")
    assert alert["evidence"]["money_counterparties"] == [141]
    assert alert["evidence"]["identity_neighbours"] == [2, 3, 4]


def test_proximity_ignores_false_positive_verdicts() -> None:
    bank = proximity_bank()
    bank.fraud_reports[0] = bank.fraud_reports[0]._replace(kind="false_positive")
    assert run(bank, FraudProximity()) == []


def test_proximity_by_account_report_and_same_id_on_replay() -> None:
    bank = Bank()
    a = bank.person(1, LONG_AGO)
    b = bank.person(2, LONG_AGO)
    bank.pay(a, b, day(1), 5000)
    bank.report(day(2), account=a)
    first = run(bank, FraudProximity(), order="time")
    again = run(bank, FraudProximity(), order="snapshot", batch=1)
    assert named(first, "account") == {"101", "102"}
    assert ids(first) == ids(again)


def test_a_reported_fraudster_applying_again_is_flagged_but_a_recycled_number_is_not() -> None:
    bank = Bank()
    bank.person(1, LONG_AGO, phone="+491700000001", nid="X1")
    bank.report(day(0), customer=1)
    bank.person(2, day(30), phone="+491700000001", nid="X1")  # same phone and id
    bank.person(3, day(200), phone="+491700000001")  # the phone alone, months on: chance
    alerts = run(bank, FraudProximity())
    assert len(alerts) == 1
    assert named(alerts, "customer") == {"1", "2"}
    assert alerts[0]["evidence"]["reported_customers"] == [1]


def test_transfers_into_a_reported_account_only_when_watched_and_new() -> None:
    bank = Bank()
    reported = bank.person(1, LONG_AGO)
    regular = bank.person(2, LONG_AGO)
    newcomer = bank.person(3, LONG_AGO)
    bank.pay(regular, reported, day(-25), 300)  # before the report's window: established
    bank.report(day(0), customer=1)
    bank.pay(regular, reported, day(1), 300)
    bank.pay(newcomer, reported, day(2), 900)
    assert run(bank, FraudProximity()) == []
    alerts = run(bank, FraudProximity({"watch_transfers": True}))
    assert len(alerts) == 1
    assert named(alerts, "account") == {"103", "101"}
    assert alerts[0]["txn_ids"] == ["3"]


def test_a_reported_spreader_names_who_it_paid_by_its_cases_channel_over_three_weeks() -> None:
    bank = Bank()
    spreader = bank.person(1, LONG_AGO)
    payees = [bank.person(c, LONG_AGO) for c in (2, 3, 4)]
    friend = bank.person(5, LONG_AGO)
    employer = bank.person(6, LONG_AGO)
    for n, payee in enumerate(payees):  # the case: p2p, the first 16 days before the report
        bank.pay(spreader, payee, day(-16 + 6 * n), 800, channel="p2p")
    bank.pay(spreader, friend, day(-3), 250)  # its ordinary life: by transfer, one account
    bank.pay(employer, spreader, day(-35), 2000)  # salary, paid before the window too
    bank.pay(employer, spreader, day(-5), 2000)
    bank.report(day(0), account=spreader)
    (alert,) = run(bank, FraudProximity())
    assert alert["evidence"]["money_counterparties"] == payees
    assert alert["evidence"]["case_channel"] == "p2p"
    assert str(friend) not in named([alert], "account")  # a lone transfer: another channel
    short = run(bank, FraudProximity({"money_days": 7}))
    assert not {str(p) for p in payees[:2]} & named(short, "account")


def test_a_reported_case_names_who_dealt_with_two_of_its_counterparties() -> None:
    bank = Bank()
    originator = bank.person(1, LONG_AGO)
    beneficiaries = [bank.person(c, LONG_AGO) for c in (2, 3)]
    other_originator = bank.person(4, LONG_AGO)
    common_friend = bank.person(5, LONG_AGO)
    employer = bank.person(6, LONG_AGO)
    staff = [bank.person(c, LONG_AGO) for c in range(20, 26)]
    for n, beneficiary in enumerate(beneficiaries):  # two originators, two beneficiaries
        bank.pay(originator, beneficiary, day(-6 + n), 900)
        bank.pay(other_originator, beneficiary, day(-5 + n), 700)
    bank.pay(common_friend, beneficiaries[0], day(-2), 300)  # knows one of them only
    for n, account in enumerate([*staff, *beneficiaries]):  # payroll reaches both
        bank.pay(employer, account, day(-4) + timedelta(minutes=n), 2000)
    bank.report(day(0), account=originator)
    (alert,) = run(bank, FraudProximity())
    assert alert["evidence"]["money_counterparties"] == beneficiaries
    assert alert["evidence"]["second_hop_counterparties"] == [other_originator]
    roles = {e["id"]: e["role"] for e in alert["entities"] if e["type"] == "account"}
    assert roles[str(other_originator)] == "second_hop"
    assert not {str(common_friend), str(employer)} & set(roles)
    off = run(bank, FraudProximity({"second_hop_links": 0}))
    assert str(other_originator) not in named(off, "account")


def test_a_second_hops_other_new_payees_are_named_unless_it_deals_widely() -> None:
    bank = Bank()
    originator = bank.person(1, LONG_AGO)
    beneficiaries = [bank.person(c, LONG_AGO) for c in (2, 3)]
    other_originator, its_payee = bank.person(4, LONG_AGO), bank.person(7, LONG_AGO)
    old_friend = bank.person(8, LONG_AGO)
    for n, beneficiary in enumerate(beneficiaries):
        bank.pay(originator, beneficiary, day(-6 + n), 900)
        bank.pay(other_originator, beneficiary, day(-5 + n), 700)
    bank.pay(other_originator, its_payee, day(-3), 800)  # the block's third payee
    bank.pay(other_originator, old_friend, day(-40), 200)  # long before the case
    bank.pay(other_originator, old_friend, day(-2), 600)
    bank.report(day(0), account=originator)
    (alert,) = run(bank, FraudProximity())
    assert alert["evidence"]["second_hop_counterparties"] == [other_originator, its_payee]
    (off,) = run(bank, FraudProximity({"second_hop_dealings": False}))
    assert off["evidence"]["second_hop_counterparties"] == [other_originator]
    # Dealing with more others than with the case, it is no second hop at all.
    for n, c in enumerate(range(30, 34)):
        bank.pay(other_originator, bank.person(c, LONG_AGO), day(-4) + timedelta(hours=n), 500)
    (wide,) = run(bank, FraudProximity())
    assert wide["evidence"]["second_hop_counterparties"] == []


def reports_first(changes: list[RowChange]) -> list[RowChange]:
    """The fraud report before every payment: its topic ran ahead (a bulk load)."""
    return sorted(changes, key=lambda c: c.table != "fraud_reports")


def test_a_report_read_before_its_payments_is_judged_again_as_they_arrive() -> None:
    bank = Bank()
    spreader = bank.person(1, LONG_AGO)
    payees = [bank.person(c, LONG_AGO) for c in (2, 3, 4)]
    bystander = bank.person(5, LONG_AGO)
    for n, payee in enumerate(payees):
        bank.pay(spreader, payee, day(-10 + n), 800)
    bank.pay(bystander, bank.person(6, LONG_AGO), day(-2), 500)  # nobody's case
    bank.report(day(0), account=spreader)
    in_order = run(bank, FraudProximity())
    late = run_delivered(bank.tables(), FraudProximity(), reports_first)
    assert named(in_order, "account") == {str(a) for a in [spreader, *payees]}
    # One alert per larger view: the report alone (its customer's identity has no
    # neighbours, so none), then with one, two, three payees.
    assert named(late, "account") == named(in_order, "account")
    assert [len(a["evidence"]["money_counterparties"]) for a in late] == [1, 2, 3]
    assert len(set(ids(late))) == 3
    # Payments read before the report are not judged against it in advance.
    assert run_delivered(bank.tables(), FraudProximity(), lambda c: c) == in_order


def test_a_chain_longer_than_the_hop_bound_is_logged_not_alerted() -> None:
    bank = Bank()
    # Triangles in a row: a phone on 1-3, an e-mail on 3-5, a phone on 5-7, an e-mail
    # on 7-9; every new triangle one hop further from the first customers.
    phones = {c: "+491700000001" for c in (1, 2, 3)} | {c: "+491700000005" for c in (5, 6, 7)}
    emails = {c: "three@x.org" for c in (3, 4, 5)} | {c: "seven@x.org" for c in (7, 8, 9)}
    for cid in range(1, 10):
        bank.person(cid, day(cid), phone=phones.get(cid), email=emails.get(cid))
    with capture_logs() as logs:
        alerts = run(bank, IdentityRing({"max_hops": 3}))
    assert [a["evidence"]["members"] for a in alerts] == [3, 5]
    too_large = [e for e in logs if e["event"] == "identity_component_too_large"]
    assert too_large and too_large[0]["hop_bound"] == 3
    assert [a["evidence"]["members"] for a in run(bank, IdentityRing())] == [3, 5, 8]


# -- what an alert's cypher draws (run on a real graph: tests/integration/test_alert_cypher.py)


def test_proximity_cypher_draws_the_report_and_the_money_it_names() -> None:
    bank = proximity_bank()
    (alert,) = run(bank, FraudProximity())
    assert "exchanged money with it" in alert["explanation"]
    accomplice_payment = next(
        n for n, t in enumerate(bank.transactions, start=1) if t.counterparty_account_id == 141
    )
    assert f"m.txn_id IN [{accomplice_payment}]" in alert["cypher"]
    assert "c.customer_id IN [1, 2, 3, 4]" in alert["cypher"]  # the report's customer and ring
    assert "<-[:REPORTS]-(:FraudReport)" in alert["cypher"]


def test_a_fraudster_applying_again_is_drawn_with_whoever_links_them() -> None:
    bank = Bank()
    bank.person(1, LONG_AGO, phone="+491700000001", nid="X1")
    bank.report(day(0), customer=1)
    bank.person(2, day(30), phone="+491700000001", nid="X1", email="e@example.org")
    bank.person(3, day(31), email="e@example.org", nid="X1")
    alert = run(bank, FraudProximity())[-1]
    assert alert["evidence"]["identity_neighbours"] == [1, 2]
    assert alert["evidence"]["reported_customers"] == [1]
    # Customer 2 ties 3 to the reported 1 as well: drawn, not only 3 and 1.
    assert "c.customer_id IN [1, 2, 3]" in alert["cypher"]
    assert "<-[:REPORTS]-(:FraudReport)" in alert["cypher"]


def test_ring_cypher_draws_the_reports_and_money_among_its_members() -> None:
    bank = Bank()
    synthetic_ring(bank, size=4)
    bank.pay(101, 103, day(4), 150, channel="p2p")
    bank.report(day(4.8), customer=2)
    bank.person(5, day(5), phone=ring_phone(1, 0), address="9 Elsewhere")
    ring = run(bank, IdentityRing())[-1]
    assert (
        "confirmed fraudulent" in ring["explanation"]
        and "transfers among them" in (ring["explanation"])
    )
    assert "<-[:REPORTS]-(:FraudReport)" in ring["cypher"]
    assert "-[:TRANSFERRED]->(:Account)<-[:OWNS]-(o:Customer)" in ring["cypher"]


# -- a customer read after the payments its identifiers bear on --------------------------


def toy_finding(rule: str, anchor: str, explanation: str, txn: Txn | None = None) -> Finding:
    """What the toy rules below raise: only the anchor and the explanation matter."""
    txn_ids = [str(txn.txn_id)] if txn is not None else []
    return Finding(
        rule=rule,
        kind="link",
        anchor=anchor,
        score=0.9,
        entities=[],
        explanation=explanation,
        txn_ids=txn_ids,
    )


class SharedPayer(Detector):
    """Raises on a transfer whose payer shares an identifier with another customer,
    counted as of now, as the learned scorer's `payer_shared_identity_customers` is."""

    rule = "shared_payer"
    handles = frozenset({"transaction"})

    def __init__(self) -> None:
        super().__init__()
        self.judged: list[int] = []

    def detect(self, event: Event, ctx: Context) -> Iterable[Finding]:
        txn = event.txn
        self.judged.append(txn.txn_id)
        owner = ctx.owner(txn.account_id)
        customer = ctx.customer(owner) if owner is not None else None
        if customer is None:
            return
        holders = {c for held in ctx.sharing(customer.identities).values() for c in held}
        if holders - {customer.customer_id}:
            yield toy_finding(self.rule, f"txn:{txn.txn_id}", "payer shares an identifier", txn)


def sharer_last(changes: list[RowChange]) -> list[RowChange]:
    """Customer 2 (and its account) after every payment: its topic ran behind."""
    late = [
        c
        for c in changes
        if (c.table == "customers" and c.row is not None and c.row["customer_id"] == 2)
        or (c.table == "accounts" and c.row is not None and c.row["customer_id"] == 2)
    ]
    return [c for c in changes if c not in late] + late


def test_payments_judged_before_a_sharer_arrived_are_judged_again() -> None:
    bank = Bank()
    payer = bank.person(1, day(0), nid="DONOR")
    friend = bank.person(3, day(0))
    bank.person(2, day(0.5), nid="DONOR")
    paid = [bank.pay(payer, friend, day(1 + i), 50 + i) for i in range(3)]
    in_order = run(bank, SharedPayer())
    assert {a["txn_ids"][0] for a in in_order} == {str(t) for t in paid}
    detector = SharedPayer()
    delivered = run_delivered(bank.tables(), detector, sharer_last)
    assert set(ids(delivered)) == set(ids(in_order))
    assert sorted(detector.judged) == sorted(paid * 2)  # once alone, once with the sharer


def test_a_late_sharer_judges_again_a_busy_payers_payments_since_it_joined() -> None:
    """A busy payer (a live load's, a business's) pays dozens of times after a sharer
    joined: when the sharer's row arrives late, each of those payments is judged
    again, not only the latest few; the payments before it joined, which in-order
    processing judged without it, are not."""
    bank = Bank()
    payer = bank.person(1, day(0), nid="DONOR")
    friend = bank.person(3, day(0))
    before = [bank.pay(payer, friend, day(0.1 + 0.01 * i), 50 + i) for i in range(5)]
    bank.person(2, day(0.5), nid="DONOR")
    since = [bank.pay(payer, friend, day(1 + 0.01 * i), 50 + i) for i in range(60)]
    in_order = run_delivered(bank.tables(), SharedPayer(), lambda changes: changes)
    assert {a["txn_ids"][0] for a in in_order} == {str(t) for t in since}
    detector = SharedPayer()
    delivered = run_delivered(bank.tables(), detector, sharer_last)
    assert set(ids(delivered)) == set(ids(in_order))
    assert sorted(detector.judged) == sorted(before + since * 2)


def test_a_customer_sharing_nothing_judges_no_payment_again() -> None:
    bank = Bank()
    payer = bank.person(1, day(0))
    friend = bank.person(3, day(0))
    bank.person(2, day(0.5))
    paid = [bank.pay(payer, friend, day(1 + i), 50 + i) for i in range(3)]
    detector = SharedPayer()
    assert run_delivered(bank.tables(), detector, sharer_last) == []
    assert sorted(detector.judged) == paid


# -- late rows: one mechanism in the engine, rules only name what a row bears on ------


class ReportCounter(Detector):
    """Raises on a report with the payments of its account in the week before it that
    are in view; names, for each payment, the reports whose week holds it."""

    rule = "report_counter"
    handles = frozenset({"report"})

    def __init__(self, *, names: bool = True) -> None:
        super().__init__()
        self.names = names
        self.judged: list[tuple[int, int]] = []  # (report id, lsn it was judged with)

    def judged_before(self, event: Event, ctx: Context) -> Iterable[Event]:
        if not self.names or event.kind != "transaction":
            return
        for report in ctx.reports_for([], [event.txn.account_id]):
            if event.at <= report.reported_at <= event.at + 7 * 86_400_000:
                yield Event("report", report, report.reported_at, "r", 0, 0)

    def detect(self, event: Event, ctx: Context) -> Iterable[Finding]:
        report = event.report
        self.judged.append((report.report_id, event.lsn))
        assert report.account_id is not None
        seen = ctx.sent(report.account_id, event.at - 7 * 86_400_000, event.at)
        anchor = f"report:{report.report_id}:{len(seen)}"
        yield toy_finding(self.rule, anchor, f"{len(seen)} payments before the report")


def test_the_engine_judges_again_what_a_rule_names_for_a_late_row() -> None:
    bank = Bank()
    spreader, payee = bank.person(1, LONG_AGO), bank.person(2, LONG_AGO)
    for n in range(3):
        bank.pay(spreader, payee, day(-3 + n), 800)
    bank.report(day(0), account=spreader)
    in_order = ReportCounter()
    assert [a["explanation"] for a in run(bank, in_order)] == ["3 payments before the report"]
    assert len(in_order.judged) == 1  # in order, nothing is late: judged once
    late = ReportCounter()
    raised = run_delivered(bank.tables(), late, reports_first)
    # Judged when it arrived, then again with each payment: as of its own time.
    assert [a["explanation"][0] for a in raised] == ["0", "1", "2", "3"]
    lsns = [lsn for _, lsn in late.judged]
    assert len(lsns) == 4 and len(set(lsns)) == 4  # each time with the payment's coordinates
    # A rule that names nothing leaves the report as first judged.
    silent = ReportCounter(names=False)
    assert len(run_delivered(bank.tables(), silent, reports_first)) == 1
    # The bound on later payments judged again does not bound what rules name.
    no_payments = DetectionConfig(late=LateArrivalConfig(max_payments=0))
    named_anyway = deliver_in_batches(
        bank.tables(), [(ReportCounter(), False)], reports_first, no_payments, batch=1
    )
    assert [a["explanation"][0] for a in named_anyway] == ["0", "1", "2", "3"]


def test_a_row_this_process_never_judged_is_not_judged_for_a_late_row() -> None:
    bank = Bank()
    spreader, payee = bank.person(1, LONG_AGO), bank.person(2, LONG_AGO)
    bank.pay(spreader, payee, day(-1), 800)
    bank.report(day(0), account=spreader)
    detector = ReportCounter()
    # The payment first and the report in the graph already (a replay's history holds
    # the future): the report is judged when it arrives, not in advance.
    tables = bank.tables()
    builder = RecordBuilder(default_mapping(), PiiHasher("k" * 16))
    engine = DetectionEngine(
        MemoryHistory.from_tables(builder, tables),
        DetectionConfig(),
        builder,
        [(detector, False)],
        clock_ms=lambda: 0,
    )
    for change in changes_of(tables, "time"):
        engine.run([change])
    assert [report for report, _ in detector.judged] == [1]

"""Behaviour detectors on small hand-made banks: each fraud shape and its honest
look-alike, the entities named, and alert ids that stay put across triggers,
replays and delivery orders."""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import pytest

from fraudgraph.cdc.changes import RowChange
from fraudgraph.detection.context import Context
from fraudgraph.detection.detector import Detector
from fraudgraph.detection.detectors.account_takeover import AccountTakeover
from fraudgraph.detection.detectors.amount_outlier import AmountOutlier
from fraudgraph.detection.detectors.card_testing import CardTesting
from fraudgraph.detection.detectors.impossible_travel import ImpossibleTravel, _at_most_km
from fraudgraph.detection.detectors.velocity_burst import VelocityBurst
from fraudgraph.detection.engine import DetectionEngine
from fraudgraph.detection.events import to_event
from fraudgraph.detection.history import HistorySource, Txn
from fraudgraph.detection.memory_history import MemoryHistory
from fraudgraph.detection.offline import Order, changes_of
from fraudgraph.detection.records import RecordBuilder
from fraudgraph.detection.settings import DetectionConfig
from fraudgraph.detection.stats import LogHistogram, haversine_km, mad, median, robust_z
from fraudgraph.evaluation.cli import DEFAULT_RULE_MAP, load_rule_map
from fraudgraph.graph.mapping import default_mapping
from fraudgraph.graph.pii import PiiHasher
from fraudgraph.simulator.rows import Account, Customer, Login, Transaction
from tests.unit.detect_support import ids, run_delivered
from tests.unit.detect_support import run as run_tables

# The family's detectors (one module each).
DETECTORS: list[type[Detector]] = [
    ImpossibleTravel,
    CardTesting,
    AccountTakeover,
    AmountOutlier,
    VelocityBurst,
]

T0 = datetime(2026, 10, 10, 8, 0, tzinfo=UTC)
LONG_AGO = T0 - timedelta(days=400)
BERLIN = (52.52, 13.405)
NEW_YORK = (40.7128, -74.006)
HOME_IP = "84.128.1.1"
ATTACKER_IP = "185.220.9.9"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@dataclass
class Bank:
    """Customers own a checking account 100 + id (and a savings 200 + id); cards 300 + id."""

    customers: list[Customer] = field(default_factory=list)
    accounts: list[Account] = field(default_factory=list)
    logins: list[Login] = field(default_factory=list)
    transactions: list[Transaction] = field(default_factory=list)

    def person(self, customer_id: int, *, changed: datetime | None = None) -> int:
        self.customers.append(
            Customer(
                customer_id,
                f"Person {customer_id}",
                f"p{customer_id}@example.com",
                f"+4930000{customer_id:04d}",
                f"NID{customer_id}",
                None,
                f"{customer_id} Strasse",
                "Berlin",
                "10115",
                "DE",
                LONG_AGO,
                changed or LONG_AGO,
            )
        )
        for account_id, kind in ((100 + customer_id, "checking"), (200 + customer_id, "savings")):
            self.accounts.append(
                Account(
                    account_id,
                    customer_id,
                    f"DE00{account_id:018d}",
                    kind,
                    "open",
                    "EUR",
                    LONG_AGO,
                    LONG_AGO,
                )
            )
        return 100 + customer_id

    def login(
        self, customer_id: int, minutes: float, device: int, ip: str, success: bool = True
    ) -> int:
        login_id = len(self.logins) + 1
        self.logins.append(Login(login_id, customer_id, device, ip, success, at(minutes)))
        return login_id

    def txn(
        self,
        account: int,
        minutes: float,
        amount: float,
        channel: str,
        *,
        to: int | None = None,
        iban: str | None = None,
        merchant: int | None = None,
        card: int | None = None,
        device: int | None = None,
        ip: str | None = None,
        place: tuple[float, float] | None = None,
        status: str = "posted",
    ) -> int:
        txn_id = len(self.transactions) + 1
        self.transactions.append(
            Transaction(
                txn_id,
                account,
                to,
                iban,
                merchant,
                card,
                device,
                ip,
                channel,
                Decimal(f"{amount:.2f}"),
                "EUR",
                place[0] if place else None,
                place[1] if place else None,
                status,
                at(minutes),
                at(minutes),
            )
        )
        return txn_id

    def shop(
        self, customer_id: int, minutes: float, amount: float, place: tuple[float, float]
    ) -> int:
        """A card-present payment with the customer's card."""
        return self.txn(
            100 + customer_id,
            minutes,
            amount,
            "card_present",
            merchant=1,
            card=300 + customer_id,
            place=place,
        )

    def online(
        self,
        customer_id: int,
        minutes: float,
        amount: float,
        merchant: int,
        *,
        card: int | None = None,
        device: int | None = 900,
        status: str = "posted",
    ) -> int:
        """A card-not-present payment (default card: the customer's own)."""
        return self.txn(
            100 + customer_id,
            minutes,
            amount,
            "card_not_present",
            merchant=merchant,
            card=card or 300 + customer_id,
            device=device,
            ip=HOME_IP,
            status=status,
        )

    def tables(self) -> dict[str, Sequence[Any]]:
        return {
            "customers": self.customers,
            "accounts": self.accounts,
            "logins": sorted(self.logins, key=lambda r: (r.occurred_at, r.login_id)),
            "transactions": sorted(self.transactions, key=lambda t: (t.created_at, t.txn_id)),
        }


def run(
    bank: Bank, detector: Detector, order: Order = "time", batch: int = 1000
) -> list[dict[str, Any]]:
    return run_tables(bank.tables(), detector, order, batch)


def findings_by_event(bank: Bank, detector: Detector) -> list[tuple[str, list[str]]]:
    """(event, alert ids of its findings) for every event with findings, no dedup."""
    builder = RecordBuilder(default_mapping(), PiiHasher("k" * 16))
    tables = bank.tables()
    history = MemoryHistory.from_tables(builder, tables)
    ctx = Context(history, DetectionConfig().history)
    found = []
    for change in changes_of(tables, "time"):
        event = to_event(change, builder)
        if event is None or event.kind not in detector.handles:
            continue
        alert_ids = [f.alert_id for f in detector.detect(event, ctx)]
        if alert_ids:
            key = event.txn.txn_id if event.kind == "transaction" else event.kind
            found.append((str(key), alert_ids))
    return found


def named(alert: dict[str, Any], kind: str) -> dict[str, str]:
    return {e["id"]: e.get("role", "") for e in alert["entities"] if e["type"] == kind}


def test_rules_map_to_their_typologies() -> None:
    rules = load_rule_map(DEFAULT_RULE_MAP)
    found = {d.rule: rules.typologies({"rule": d.rule, "kind": d.kind}) for d in DETECTORS}
    assert found == {
        "impossible_travel": ("impossible_travel",),
        "card_testing": ("card_testing",),
        "account_takeover": ("account_takeover",),
        "amount_outlier": (),
        "velocity_burst": (),
    }


# -- impossible travel -------------------------------------------------------------------


def cloned_card_bank(gap_minutes: float = 40) -> Bank:
    """Customer 1 pays at home, then `gap_minutes` later twice in New York."""
    bank = Bank()
    bank.person(1)
    bank.shop(1, -600, 20, BERLIN)
    bank.shop(1, 0, 32, BERLIN)
    bank.shop(1, gap_minutes, 700, NEW_YORK)
    bank.shop(1, gap_minutes + 15, 450, NEW_YORK)
    return bank


def test_impossible_travel_names_cardholder_and_card_account_once() -> None:
    alerts = run(cloned_card_bank(), ImpossibleTravel())
    assert len(alerts) == 1  # the second far payment is the same episode
    alert = alerts[0]
    assert alert["rule"] == "impossible_travel" and alert["kind"] == "anomaly"
    assert named(alert, "customer") == {"1": "cardholder"}
    assert named(alert, "account") == {"101": "card_account"}
    assert named(alert, "card") == {"301": "card"}
    assert alert["evidence"]["speed_kmh"] > 5000
    assert alert["txn_ids"] == ["2", "3"]
    assert alert["evidence"]["event_time"] == "2026-10-10T08:40:00.000Z"


def test_impossible_travel_same_id_from_either_far_payment_and_order() -> None:
    by_event = findings_by_event(cloned_card_bank(), ImpossibleTravel())
    # Both far payments (3, 4) and the home payment before them (2, judged as the
    # earlier of the pair, for when it arrives late): one episode, one id.
    assert [txn for txn, _ in by_event] == ["2", "3", "4"]
    assert by_event[0][1] == by_event[1][1] == by_event[2][1]
    first = run(cloned_card_bank(), ImpossibleTravel(), order="time")
    again = run(cloned_card_bank(), ImpossibleTravel(), order="snapshot", batch=2)
    assert ids(first) == ids(again) == by_event[0][1]
    # Home again hours later and abroad again: a new episode, a new id.
    bank = cloned_card_bank()
    bank.shop(1, 2000, 25, BERLIN)
    bank.shop(1, 2030, 300, NEW_YORK)
    assert len(run(bank, ImpossibleTravel())) == 2


def test_impossible_travel_found_when_the_far_payment_reaches_the_worker_first() -> None:
    """Partitions and batches deliver out of time order: the New York payment is in
    the graph before the Berlin one it is impossible after. The alert comes when the
    Berlin payment arrives, with the id in-order processing gives."""
    in_order = run(cloned_card_bank(), ImpossibleTravel())

    def far_first(changes: list[RowChange]) -> list[RowChange]:
        far = next(c for c in changes if c.table == "transactions" and c.key["txn_id"] == 3)
        reordered = [c for c in changes if c is not far]
        home = reordered.index(
            next(c for c in reordered if c.table == "transactions" and c.key["txn_id"] == 2)
        )
        reordered.insert(home, far)  # New York, then Berlin
        return reordered

    raised = ids(run_delivered(cloned_card_bank().tables(), ImpossibleTravel(), far_first))
    assert raised == ids(in_order)


@pytest.mark.parametrize(
    ("description", "far_minutes", "place"),
    [
        ("honest flight: 6,400 km in 10 h", 600, NEW_YORK),
        ("same city a minute later, coordinates jittered", 1, (52.55, 13.47)),
        ("Hamburg by fast train, 255 km in 60 min", 60, (53.55, 9.99)),
    ],
)
def test_impossible_travel_quiet_on_possible_journeys(
    description: str, far_minutes: float, place: tuple[float, float]
) -> None:
    bank = Bank()
    bank.person(1)
    bank.shop(1, 0, 32, BERLIN)
    bank.shop(1, far_minutes, 90, place)
    assert run(bank, ImpossibleTravel()) == [], description


def test_impossible_travel_ignores_online_payments_without_a_place() -> None:
    bank = Bank()
    bank.person(1)
    bank.shop(1, 0, 32, BERLIN)
    bank.online(1, 5, 40, merchant=7)  # the customer's phone, no coordinates
    assert run(bank, ImpossibleTravel()) == []


def test_impossible_travel_distance_bound_never_below_the_great_circle() -> None:
    """The bound that spares the haversine may only ever overstate a distance: a pair
    it put under the minimum distance that was really over it would be a missed clone."""
    rng = random.Random(20261207)
    places = [(rng.uniform(-90, 90), rng.uniform(-180, 180)) for _ in range(400)]
    places += [(89.9, -179.9), (89.9, 179.9), (-90.0, 0.0), (0.0, 179.99), (0.0, -179.99)]
    places += [
        (52.52 + rng.uniform(-0.05, 0.05), 13.4 + rng.uniform(-0.05, 0.05)) for _ in range(50)
    ]
    for a, b in itertools.product(places[::7], places):
        before = Txn(1, 1, "card_present", 10.0, "EUR", "settled", 0, latitude=a[0], longitude=a[1])
        after = Txn(2, 1, "card_present", 10.0, "EUR", "settled", 1, latitude=b[0], longitude=b[1])
        assert _at_most_km(before, after) >= haversine_km(*a, *b), (a, b)
    # One city's jittered payments stay well under any jump the rule looks at.
    near = [
        Txn(i, 1, "card_present", 1.0, "EUR", "settled", i, latitude=p[0], longitude=p[1])
        for i, p in enumerate(places[-50:])
    ]
    assert max(_at_most_km(a, b) for a, b in itertools.pairwise(near)) < 50


# -- card testing --------------------------------------------------------------------------


def card_test_bank(tests: int = 8, merchants: int = 6) -> Bank:
    """Customer 1's card is tested from device 666, then used for a large purchase."""
    bank = Bank()
    bank.person(1)
    bank.person(2)
    bank.online(1, -2000, 35, merchant=50)  # an ordinary online purchase yesterday
    for n in range(tests):
        status = "declined" if n % 2 == 0 else "posted"
        bank.online(1, n, 0.5 + n * 0.1, merchant=10 + n % merchants, device=666, status=status)
    bank.online(1, tests + 20, 899, merchant=60, device=666)
    return bank


def test_card_testing_names_the_card_account_and_holder_once() -> None:
    alerts = run(card_test_bank(), CardTesting())
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert["rule"] == "card_testing"
    assert named(alert, "customer") == {"1": "cardholder"}
    assert named(alert, "account") == {"101": "card_account"}  # not the savings account
    assert named(alert, "card") == {"301": "tested_card"}
    # Raised at the 4th tiny payment (the minimum), before the large purchase.
    assert alert["evidence"]["tiny_payments"] == 4
    assert alert["txn_ids"] == ["2", "3", "4", "5"]
    assert alert["evidence"]["declined"] == 2


def test_card_testing_same_id_on_replay_in_either_order() -> None:
    by_event = findings_by_event(card_test_bank(), CardTesting())
    assert [txn for txn, _ in by_event] == ["5", "6", "7", "8", "9"]
    assert len({alert_id for _, found in by_event for alert_id in found}) == 1
    first = run(card_test_bank(), CardTesting(), order="time")
    again = run(card_test_bank(), CardTesting(), order="snapshot", batch=3)
    assert ids(first) == ids(again)
    assert len(first) == 1


def test_card_testing_quiet_on_honest_tiny_online_payments() -> None:
    bank = Bank()
    bank.person(1)
    # Apps and songs over a day, and a run of in-app purchases from one merchant.
    for n, minutes in enumerate((0, 180, 400, 900)):
        bank.online(1, minutes, 0.99 + n, merchant=20 + n)
    for n in range(6):
        bank.online(1, 1000 + n * 2, 1.99, merchant=30)
    assert run(bank, CardTesting()) == []


def test_card_testing_one_device_over_several_cards() -> None:
    """Three stolen cards, two tests each (too few per card), from one device."""
    bank = Bank()
    for customer in (1, 2, 3):
        bank.person(customer)
    minutes = 0.0
    for customer in (1, 2, 3):
        for n in range(2):
            bank.online(customer, minutes, 1.0, merchant=10 + customer * 2 + n, device=666)
            minutes += 1
    alerts = run(bank, CardTesting())
    # Raised with the second card, raised again (a new alert) when a third is tried.
    assert [a["evidence"]["cards"] for a in alerts] == [2, 3]
    assert set(named(alerts[1], "account")) == {"101", "102", "103"}
    assert set(named(alerts[1], "customer")) == {"1", "2", "3"}
    assert named(alerts[1], "device") == {"666": "tester_device"}
    # Honest: the same spread over a household tablet but in three separate hours.
    calm = Bank()
    for customer in (1, 2, 3):
        calm.person(customer)
        for n in range(2):
            calm.online(customer, customer * 120 + n, 1.0, merchant=10 + n, device=666)
    assert run(calm, CardTesting()) == []


# -- account takeover ---------------------------------------------------------------------


def takeover_bank(
    *,
    change_at: float | None = 12,
    failed: int = 2,
    payout: bool = True,
    payee_here: bool = True,
    history: bool = True,
) -> Bank:
    """Customer 1 (usual phone 10, home IP) is taken over from device 66 at minute 0."""
    bank = Bank()
    bank.person(1, changed=at(change_at) if change_at is not None else None)
    bank.person(2)  # the payee (a mule here)
    bank.person(3)  # a friend customer 1 pays now and then
    if history:
        for day in range(10, 0, -1):
            bank.login(1, -day * 1440, 10, HOME_IP)
            bank.txn(101, -day * 1440 + 2, 30, "p2p", to=103, device=10, ip=HOME_IP)
    for n in range(failed):
        bank.login(1, -3 + n, 66, ATTACKER_IP, success=False)
    bank.login(1, 0, 66, ATTACKER_IP)
    if payout:
        to = 102 if payee_here else None
        iban = None if payee_here else "LT601010012345678901"
        bank.txn(101, 45, 4900, "transfer", to=to, iban=iban, device=66, ip=ATTACKER_IP)
    return bank


def test_takeover_alerted_at_the_contact_change_before_any_payout() -> None:
    alerts = run(takeover_bank(payout=False), AccountTakeover())
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert["rule"] == "account_takeover" and alert["kind"] == "anomaly"
    assert alert["evidence"]["event_time"] == "2026-10-10T08:12:00.000Z"
    assert named(alert, "customer") == {"1": "victim"}
    assert named(alert, "account") == {"101": "victim_account"}  # checking, not savings
    assert named(alert, "device") == {"66": "new_device"}
    assert alert["evidence"]["failed_logins"] == 2


def test_takeover_payout_names_the_payee_here_and_keeps_the_session_id() -> None:
    early = run(takeover_bank(payout=False), AccountTakeover())
    alerts = run(takeover_bank(), AccountTakeover())
    assert alerts[0]["alert_id"] == early[0]["alert_id"]  # same session, same id
    payout = alerts[1]
    assert payout["txn_ids"] == [str(len(takeover_bank().transactions))]
    assert named(payout, "account") == {"101": "victim_account", "102": "payee_account"}
    assert named(payout, "customer") == {"1": "victim", "2": "payee"}
    assert payout["evidence"]["new_payee"] is True
    assert len(alerts) == 2


def test_takeover_payout_abroad_names_only_the_victim() -> None:
    alerts = run(takeover_bank(payee_here=False), AccountTakeover())
    assert {e for a in alerts for e in named(a, "customer")} == {"1"}
    assert {e for a in alerts for e in named(a, "account")} == {"101"}


def test_takeover_session_id_same_from_change_and_payout() -> None:
    by_event = findings_by_event(takeover_bank(), AccountTakeover())
    # With the whole history in view, the session's logins judge the change too.
    assert [key for key, _ in by_event] == ["customer", "login", "login", "login", "11"]
    change, payout = by_event[0][1], by_event[-1][1]
    assert len(payout) == 2
    assert payout[0] == change[0]
    # The payout already in view is judged again by the change: the same two ids.
    assert set(change) == set(payout)
    assert {found for _, (found, *_) in by_event} == {change[0]}


def test_takeover_found_when_the_contact_change_reaches_the_worker_first() -> None:
    """Customers and logins are separate topics: the change can be in the graph before
    the session's logins. The alert then comes with the late login, same id."""
    in_order = run(takeover_bank(payout=False), AccountTakeover())

    def change_before_its_session(changes: list[RowChange]) -> list[RowChange]:
        session = [c for c in changes if c.table == "logins" and c.row and c.row["device_id"] == 66]
        change = next(c for c in changes if c.table == "customers" and c.key["customer_id"] == 1)
        reordered = [c for c in changes if c not in session]
        reordered.insert(reordered.index(change) + 1, session[-1])  # the success, then
        reordered[reordered.index(change) + 2 : reordered.index(change) + 2] = session[:-1]
        return reordered

    raised = ids(
        run_delivered(
            takeover_bank(payout=False).tables(), AccountTakeover(), change_before_its_session
        )
    )
    assert raised == ids(in_order)
    assert len(raised) == 1


def _changed_again(bank: Bank, customer_id: int, minutes: float) -> None:
    """A second version of the customer's row: contact details changed again."""
    first = next(c for c in bank.customers if c.customer_id == customer_id)
    bank.customers.append(first._replace(email=f"new{minutes}@example.com", updated_at=at(minutes)))


def _when(change: RowChange) -> datetime:
    """Event time of a change, a customer version at its own change."""
    assert change.row is not None
    column = {"customers": "updated_at", "logins": "occurred_at"}.get(change.table, "created_at")
    value = change.row.get(column) or LONG_AGO
    return value if isinstance(value, datetime) else LONG_AGO


def test_takeover_judges_each_of_two_contact_changes_whichever_arrives_first() -> None:
    """The intruder changes the e-mail, then the phone minutes later. Read in order,
    each change is alerted. A backlog delivers both versions of the customer before
    the session's logins: the graph's latest version alone would hide the first
    change, so the graph keeps every change time and the late login judges each."""
    bank = takeover_bank(payout=False)
    _changed_again(bank, 1, 15)

    def in_time(changes: list[RowChange]) -> list[RowChange]:
        return sorted(changes, key=_when)

    def logins_last(changes: list[RowChange]) -> list[RowChange]:
        return sorted(changes, key=lambda c: c.table == "logins")

    in_order = run_delivered(bank.tables(), AccountTakeover(), in_time)
    assert sorted(a["evidence"]["minutes_to_contact_change"] for a in in_order) == [12.0, 15.0]
    late = run_delivered(bank.tables(), AccountTakeover(), logins_last)
    assert sorted(ids(late)) == sorted(ids(in_order))


def test_takeover_is_one_alert_per_contact_change_whichever_session_is_seen() -> None:
    """Several new-device sessions before one change, their logins arriving after it:
    each view picks another session (the latest in view), the alert id stays the
    change's."""
    bank = takeover_bank(payout=False)
    for n, device in enumerate((67, 68)):
        bank.login(1, 4 + 2 * n, device, ATTACKER_IP, success=False)
        bank.login(1, 5 + 2 * n, device, ATTACKER_IP)
    in_order = run(bank, AccountTakeover())

    def change_first(changes: list[RowChange]) -> list[RowChange]:
        logins = [c for c in changes if c.table == "logins"]
        return [c for c in changes if c.table != "logins"] + logins

    late = run_delivered(bank.tables(), AccountTakeover(), change_first)
    assert len(in_order) == 1
    assert ids(late) == ids(in_order)


def test_takeover_payout_found_when_it_reaches_the_worker_before_the_login() -> None:
    """Another worker (or partition) delivers the payout before the session's login:
    the new-device login judges the payouts after it again."""
    bank = takeover_bank(change_at=3 * 1440)  # no change in view: the payout speaks

    def logins_last(changes: list[RowChange]) -> list[RowChange]:
        return sorted(changes, key=lambda c: c.table == "logins")

    in_order = run(bank, AccountTakeover())
    late = run_delivered(bank.tables(), AccountTakeover(), logins_last)
    assert len(in_order) == 2
    assert sorted(ids(late)) == sorted(ids(in_order))


def test_takeover_payout_found_when_the_contact_change_reaches_the_worker_last() -> None:
    """The customers topic lags: the payout is judged before the contact change is in
    the graph, without the change it is not a takeover payout. The change, arriving,
    judges the payouts after it again: the payout alert of in-order processing. (A
    new customer: without the change, nothing about the payout alone is enough.)"""
    bank = takeover_bank(history=False)

    def change_last(changes: list[RowChange]) -> list[RowChange]:
        return sorted(changes, key=lambda c: c.table == "customers" and c.key["customer_id"] == 1)

    in_order = run(bank, AccountTakeover())
    late = run_delivered(bank.tables(), AccountTakeover(), change_last)
    assert len(in_order) == 2 and any(a["txn_ids"] for a in in_order)
    assert sorted(ids(late)) == sorted(ids(in_order))


def test_takeover_payout_found_when_the_failed_tries_arrive_last() -> None:
    """Logins are keyed by login id, so a session's failed tries can be on another
    partition and arrive after the change, the payout and the successful login. The
    last failed try completes the takeover, and it judges the payouts after the
    change again, as the change itself does."""
    bank = takeover_bank(history=False)

    def failed_tries_last(changes: list[RowChange]) -> list[RowChange]:
        return sorted(
            changes,
            key=lambda c: c.table == "logins" and c.row is not None and not c.row["success"],
        )

    in_order = run(bank, AccountTakeover())
    late = run_delivered(bank.tables(), AccountTakeover(), failed_tries_last)
    assert len(in_order) == 2 and any(a["txn_ids"] for a in in_order)
    assert sorted(ids(late)) == sorted(ids(in_order))


def test_takeover_payout_judged_in_its_own_batch_carries_the_payouts_coordinates() -> None:
    """Login and payout in one batch: the login does not look ahead at the payout (it
    is judged as its own event), so the alert names the payout's commit (and trace)."""
    alerts = run(takeover_bank(), AccountTakeover())  # one batch
    payout = next(a for a in alerts if a["txn_ids"])
    assert payout["source_committed_at"] == "2026-10-10T08:45:00.000Z"


def test_takeover_same_ids_in_snapshot_order() -> None:
    live = run(takeover_bank(), AccountTakeover(), order="time")
    snapshot = run(takeover_bank(), AccountTakeover(), order="snapshot", batch=4)
    assert sorted(ids(live)) == sorted(ids(snapshot))


def test_takeover_seen_from_the_payout_when_a_later_change_hides_it() -> None:
    """The snapshot folds a later honest change into the row: the payout must speak."""
    alerts = run(takeover_bank(change_at=3 * 1440), AccountTakeover())
    assert len(alerts) == 2
    assert "minutes_to_contact_change" not in alerts[0]["evidence"]
    assert alerts[1]["evidence"]["contact_change"] is False
    # ... but a small payment to a new payee after such a login is not enough.
    bank = takeover_bank(change_at=3 * 1440, payout=False)
    bank.txn(101, 45, 40, "p2p", to=102, device=66, ip=ATTACKER_IP)
    assert run(bank, AccountTakeover()) == []


@pytest.mark.parametrize(
    ("description", "bank"),
    [
        ("no failed tries, new device, no history", takeover_bank(failed=0, history=False)),
        (
            "one failed try, no history to call the device new",
            takeover_bank(failed=1, history=False),
        ),
        ("contact change a day later", takeover_bank(change_at=1440, payout=False)),
    ],
)
def test_takeover_quiet_on_honest_look_alikes(description: str, bank: Bank) -> None:
    assert run(bank, AccountTakeover()) == [], description


def test_takeover_quiet_on_a_contact_change_from_the_usual_phone() -> None:
    bank = takeover_bank(failed=0, payout=False, change_at=10 * 1440 - 3)
    # The usual phone logs in (after one typo) and the customer changes details.
    bank.login(1, 10 * 1440 - 6, 10, HOME_IP, success=False)
    bank.login(1, 10 * 1440 - 5, 10, HOME_IP)
    bank.txn(101, 10 * 1440, 3000, "transfer", iban="DE89370400440532013000", device=10)
    assert run(bank, AccountTakeover()) == []


def quiet_victim_bank(*, change_at: float = 95, new_ip: str = ATTACKER_IP) -> Bank:
    """Customer 1 logs in rarely (twice in a month, phone 10) and pays friend 3 small
    sums; someone with the password logs in from device 66 at minute 0, no failed tries."""
    bank = Bank()
    bank.person(1, changed=at(change_at))
    bank.person(2)
    bank.person(3)
    for day in (20, 6):
        bank.login(1, -day * 1440, 10, HOME_IP)
        bank.txn(101, -day * 1440 + 2, 30, "p2p", to=103, device=10, ip=HOME_IP)
    bank.txn(101, -12 * 1440, 25, "p2p", to=103, device=10, ip=HOME_IP)
    bank.login(1, 0, 66, new_ip)
    return bank


def test_takeover_of_a_quiet_victim_without_failed_tries_found_at_the_payout_here() -> None:
    """Credentials bought: no failed tries, too little history to call the IP new, the
    change 95 min after the login and the payout to an account here 7 h later. The
    change alone says nothing; the payout from the new device to a payee the account
    never paid, many times its usual payment, does, and names the payee."""
    bank = quiet_victim_bank()
    assert run(bank, AccountTakeover()) == []  # the change alone: quiet
    bank.txn(101, 7 * 60, 1850.4, "transfer", to=102, device=66, ip=ATTACKER_IP)
    alerts = run(bank, AccountTakeover())
    assert len(alerts) == 2
    session, payout = alerts
    assert session["evidence"]["failed_logins"] == 0
    assert session["evidence"]["minutes_to_contact_change"] == 95.0
    assert named(payout, "account") == {"101": "victim_account", "102": "payee_account"}
    assert named(payout, "customer") == {"1": "victim", "2": "payee"}
    assert payout["evidence"]["new_payee"] is True
    # Whichever reaches the worker first, the same alerts.
    late = run_delivered(
        bank.tables(),
        AccountTakeover(),
        lambda cs: sorted(cs, key=lambda c: c.table == "customers"),
    )
    assert sorted(ids(late)) == sorted(ids(alerts))


def test_takeover_with_failed_tries_and_a_change_hours_later_alerts_at_the_change() -> None:
    """The intruder takes their time: the change comes 3 h after the login."""
    bank = takeover_bank(change_at=180, payout=False)
    (alert,) = run(bank, AccountTakeover())
    assert alert["evidence"]["minutes_to_contact_change"] == 180.0


@pytest.mark.parametrize(
    ("description", "amount", "to"),
    [
        ("a first payment to a friend", 45, 102),
        ("the usual friend, a larger sum", 400, 103),
    ],
)
def test_takeover_quiet_on_an_honest_new_phone(description: str, amount: float, to: int) -> None:
    """The quiet customer's new phone (new IP too), contact details updated on it, then
    a payment of the usual size to someone new, or to the usual friend: honest."""
    bank = quiet_victim_bank(change_at=20, new_ip="84.128.7.7")
    bank.txn(101, 60, amount, "p2p", to=to, device=66, ip="84.128.7.7")
    assert run(bank, AccountTakeover()) == [], description


# -- generic -------------------------------------------------------------------------------


def everyday_bank(customers: int = 4, payments: int = 30) -> Bank:
    """Customers paying 20-40 online once a day for a month (the peers)."""
    bank = Bank()
    for customer in range(1, customers + 1):
        bank.person(customer)
        for day in range(payments):
            minutes = -(payments - day) * 1440 + customer
            bank.online(customer, minutes, 20 + (day * 7 + customer) % 20, merchant=5)
    return bank


PEERS = {"min_peer_payments": 100, "peer_quantile": 0.99}


def test_amount_outlier_on_a_payment_far_above_own_history_and_peers() -> None:
    bank = everyday_bank()
    big = bank.online(1, 0, 6000, merchant=6)
    alerts = run(bank, AmountOutlier(PEERS))
    assert len(alerts) == 1
    assert alerts[0]["txn_ids"] == [str(big)]
    assert named(alerts[0], "account") == {"101": "payer"}
    assert alerts[0]["evidence"]["robust_z"] >= 6


def test_amount_outlier_quiet_inside_the_accounts_own_range() -> None:
    bank = everyday_bank()
    laptop = bank.online(1, -5000, 4000, merchant=6)  # surprising a few days ago ...
    bank.online(1, 0, 6000, merchant=6)  # ... but now within 3x the largest
    assert [a["txn_ids"] for a in run(bank, AmountOutlier(PEERS))] == [[str(laptop)]]
    young = everyday_bank(payments=10)  # too little history to call anything unusual
    young.online(1, 0, 6000, merchant=6)
    assert run(young, AmountOutlier(PEERS)) == []


def test_velocity_burst_on_a_card_paying_far_faster_than_its_account() -> None:
    bank = everyday_bank(customers=1)
    for n in range(12):
        bank.online(1, n * 2, 60 + n, merchant=70 + n)
    alerts = run(bank, VelocityBurst())
    assert len(alerts) == 1  # raised at the 10th, the same burst afterwards
    assert alerts[0]["evidence"]["payments_in_burst"] == 10
    assert named(alerts[0], "customer") == {"1": "owner"}
    again = run(bank, VelocityBurst(), order="snapshot", batch=5)
    assert ids(again) == ids(alerts)


def test_velocity_burst_found_when_its_later_payments_arrive_first() -> None:
    """Another partition delivered the burst's second half first: neither half alone
    holds ten payments. The first half's payments judge again the ones after them,
    and the alert is the one in-order processing raises (anchored on the first)."""
    bank = everyday_bank(customers=1)
    burst = [bank.online(1, n * 2, 60 + n, merchant=70 + n) for n in range(12)]

    def later_half_first(changes: list[RowChange]) -> list[RowChange]:
        def in_second_half(c: RowChange) -> bool:
            return c.table == "transactions" and c.key["txn_id"] in burst[6:]

        return (
            [c for c in changes if not in_second_half(c) and c.key.get("txn_id") not in burst[:6]]
            + [c for c in changes if in_second_half(c)]
            + [c for c in changes if c.table == "transactions" and c.key["txn_id"] in burst[:6]]
        )

    in_order = run(bank, VelocityBurst())
    shuffled = run_delivered(bank.tables(), VelocityBurst(), later_half_first)
    assert ids(shuffled) == ids(in_order) and len(in_order) == 1


def test_velocity_burst_quiet_on_a_short_shopping_spree() -> None:
    bank = everyday_bank(customers=1)
    for n in range(9):
        bank.online(1, n * 2, 60 + n, merchant=70 + n)
    bank.online(1, 60, 60, merchant=90)  # the tenth, after a break: a new run
    assert run(bank, VelocityBurst()) == []


# -- statistics ----------------------------------------------------------------------------


def test_stats_helpers() -> None:
    assert median([3, 1, 2]) == 2
    assert median([4, 1, 3, 2]) == 2.5
    assert mad([1, 2, 3, 4, 100]) == 1
    assert robust_z(10, [1, 1, 1, 1], min_sigma=0.5) == pytest.approx(18)
    assert robust_z(103, [1, 2, 3, 4, 100], min_sigma=0.01) == pytest.approx(100 / 1.4826)
    assert haversine_km(*BERLIN, *NEW_YORK) == pytest.approx(6385, rel=0.01)
    assert haversine_km(*BERLIN, *BERLIN) == 0
    with pytest.raises(ValueError, match="median"):
        median([])


def test_log_histogram_quantiles_within_a_bucket() -> None:
    histogram = LogHistogram(per_decade=20)
    assert histogram.quantile(0.5) is None
    for value in range(1, 1001):
        histogram.add(float(value))
    for q, exact in ((0.5, 500), (0.99, 990), (0.999, 999)):
        found = histogram.quantile(q)
        assert found is not None
        assert exact <= found <= exact * 10 ** (1 / 20) * 1.001


def test_takeover_payout_from_the_customers_own_phone_names_no_payee() -> None:
    """During the session window the real customer pays a friend from the usual phone."""
    bank = takeover_bank(payout=False)
    bank.txn(101, 50, 900, "p2p", to=103, device=10, ip=HOME_IP)
    alerts = run(bank, AccountTakeover())
    assert len(alerts) == 1
    assert "103" not in {e for a in alerts for e in named(a, "account")}


# -- what an alert's cypher draws (run on a real graph: tests/integration/test_alert_cypher.py)


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _window(cypher: str, field: str) -> tuple[int, int]:
    found = re.search(rf"(\d+) <= {re.escape(field)} <= (\d+)", cypher)
    assert found, field
    return int(found.group(1)), int(found.group(2))


def test_takeover_cypher_draws_the_contact_change_it_names_with_the_session() -> None:
    (alert,) = run(takeover_bank(payout=False), AccountTakeover())
    assert "contact details changed" in alert["explanation"]
    cypher = alert["cypher"]
    assert "(c:Customer {customer_id: 1})" in cypher
    assert "(c)-[:HAS_EMAIL|HAS_PHONE]->()" in cypher and "c.change_times" in cypher
    low, high = _window(cypher, "u.at")
    # The failed tries, the new device's login and the change itself.
    assert low <= _ms(at(-3)) and _ms(at(12)) <= high


def test_takeover_payout_cypher_draws_the_session_the_payout_followed() -> None:
    payout = run(takeover_bank(), AccountTakeover())[-1]
    txn_id = payout["evidence"]["payout_txn_id"]
    assert "a login from a new device and a contact change" in payout["explanation"]
    cypher = payout["cypher"]
    assert f"t.txn_id IN [{txn_id}]" in cypher
    assert "(c)-[:HAS_EMAIL|HAS_PHONE]->()" in cypher
    low, high = _window(cypher, "u.at")
    assert low <= _ms(at(0)) and _ms(at(45)) <= high  # the login to the payout


def test_impossible_travel_cypher_draws_the_cardholder_it_names() -> None:
    (alert,) = run(cloned_card_bank(), ImpossibleTravel())
    assert "call the cardholder" in alert["explanation"]
    assert "<-[:HOLDS]-(:Account)<-[:OWNS]-(:Customer)" in alert["cypher"]


class CountingHistory:
    """A history source counting the questions asked of it (Neo4j round trips)."""

    def __init__(self, inner: MemoryHistory) -> None:
        self.inner = inner
        self.questions: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        def asked(*args: Any, **kwargs: Any) -> Any:
            self.questions[name] = self.questions.get(name, 0) + 1
            return method(*args, **kwargs)

        return asked


def _takeover_questions(new_devices: int) -> dict[str, int]:
    """The graph questions one batch asks when `new_devices` customers log in from
    a device they never used (each had logged in from their usual one before)."""
    bank = Bank()
    for customer in range(1, new_devices + 1):
        bank.person(customer)
        bank.login(customer, -3000, device=500 + customer, ip=HOME_IP)
        bank.txn(100 + customer, -2000, 20, "transfer", iban="DE001")
    history_tables = bank.tables()
    for customer in range(1, new_devices + 1):
        bank.login(customer, 10, device=800 + customer, ip=ATTACKER_IP)
    builder = RecordBuilder(default_mapping(), PiiHasher("k" * 16))
    history = MemoryHistory.from_tables(builder, history_tables)
    source = CountingHistory(history)
    changes = changes_of(bank.tables(), "time")
    engine = DetectionEngine(
        cast(HistorySource, source), DetectionConfig(), builder, [(AccountTakeover(), False)]
    )
    logins = [c for c in changes if c.table == "logins" and c.row and c.row["device_id"] > 800]
    for change in logins:  # what the worker wrote before judging the batch
        history.add_rows(change.table, [change.row])
    engine.run(logins)
    return source.questions


def test_a_batch_of_new_device_logins_asks_for_accounts_and_payments_once() -> None:
    # Login by login, each customer's accounts were one more round trip.
    few, many = _takeover_questions(2), _takeover_questions(6)
    assert few == many
    assert few.get("accounts_of") == 1 and few.get("sent", 0) <= 2

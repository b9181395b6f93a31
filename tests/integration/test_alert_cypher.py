"""Every alert's `cypher` draws what its explanation names, run on the real graph.

A simulated bank (its own ids; more takeovers, fan-in/out and rings than usual) is
loaded into the running stack's Neo4j, and the detectors judge the same rows offline.
Each alert's query is then run as an analyst pastes it into Neo4j Browser, and what
it draws is compared with what the alert names: its entities and payments, and for
each rule what its explanation speaks of (a takeover's contact change, new device
and IP and payout; where a mule chain's money left the bank; ...).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import neo4j
import pytest

from fraudgraph.detection.offline import replay
from fraudgraph.detection.settings import DetectionConfig
from fraudgraph.graph.mapping import default_mapping
from fraudgraph.settings import Settings
from fraudgraph.simulator.options import FraudSpec
from fraudgraph.stack.manager import Stack
from tests.graph_support import GraphBank, loaded_bank

pytestmark = pytest.mark.integration

BASE = 8_310_000_000_000
FRAUD = {
    "account_takeover": FraudSpec(4, 1),
    "fan_in_out": FraudSpec(3, 8),
    "synthetic_identity": FraudSpec(2, 6),
}
# Entity type -> (label, key) in the graph.
ENTITY_NODES = {
    "customer": ("Customer", "customer_id"),
    "account": ("Account", "account_id"),
    "card": ("Card", "card_id"),
    "device": ("Device", "device_id"),
    "ip": ("IP", "address"),
}
Alert = dict[str, Any]


class Drawing:
    """What Browser draws of a query's records: nodes and relationships by element id."""

    def __init__(self, records: list[neo4j.Record]) -> None:
        self.nodes: dict[str, neo4j.graph.Node] = {}
        self.relationships: dict[str, neo4j.graph.Relationship] = {}
        self.columns: dict[str, Any] = {}
        for record in records:
            for name, value in record.items():
                self._walk(value)
                self.columns.setdefault(name, value)

    def _walk(self, value: Any) -> None:
        if isinstance(value, neo4j.graph.Node):
            self.nodes[value.element_id] = value
        elif isinstance(value, neo4j.graph.Relationship):
            self.relationships[value.element_id] = value
            for end in (value.start_node, value.end_node):
                if end is not None:
                    self.nodes[end.element_id] = end
        elif isinstance(value, neo4j.graph.Path):
            for node in value.nodes:
                self.nodes[node.element_id] = node
            for relationship in value.relationships:
                self.relationships[relationship.element_id] = relationship
        elif isinstance(value, list):
            for item in value:
                self._walk(item)

    def labelled(self, label: str) -> list[neo4j.graph.Node]:
        return [n for n in self.nodes.values() if label in n.labels]

    def named(self) -> set[tuple[str, str]]:
        """(entity type, id) of every entity drawn, and ("txn", id) of every payment
        drawn as its node or as its money edge."""
        found = set()
        for node in self.nodes.values():
            for kind, (label, key) in ENTITY_NODES.items():
                if label in node.labels:
                    found.add((kind, str(node[key])))
            if "Transaction" in node.labels:
                found.add(("txn", str(node["txn_id"])))
        for relationship in self.relationships.values():
            if relationship.type in ("TRANSFERRED", "PAID"):
                found.add(("txn", str(relationship["txn_id"])))
        return found


@pytest.fixture(scope="module")
def bank(settings: Settings, stack: Stack) -> Iterator[GraphBank]:
    with loaded_bank(
        settings,
        base=BASE,
        seed=84,
        customers=300,
        days=30,
        ip_network="2001:db8:a1e7::/64",
        fraud=FRAUD,
    ) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def alerts(bank: GraphBank) -> list[Alert]:
    return replay(bank.tables, default_mapping(), bank.hasher, DetectionConfig())


def drawing(bank: GraphBank, alert: Alert) -> Drawing:
    return Drawing(bank.query(alert["cypher"]))


def of_rule(alerts: list[Alert], rule: str) -> list[Alert]:
    found = [a for a in alerts if a["rule"] == rule]
    assert found, f"the bank raised no {rule} alert"
    return found


def test_the_bank_raises_the_rules_whose_pictures_are_checked(alerts: list[Alert]) -> None:
    rules = Counter(a["rule"] for a in alerts)
    expected = {
        "account_takeover",
        "mule_chain",
        "fan_in",
        "fan_out",
        "cycle",
        "identity_ring",
        "fraud_proximity",
        "impossible_travel",
        "card_testing",
        "shared_identifiers",
    }
    assert expected <= set(rules), rules


def test_every_alert_draws_every_entity_and_payment_it_names(
    bank: GraphBank, alerts: list[Alert]
) -> None:
    missing = {}
    for alert in alerts:
        named = {(e["type"], e["id"]) for e in alert["entities"]}
        named |= {("txn", t) for t in alert["txn_ids"]}
        if lost := named - drawing(bank, alert).named():
            missing[f"{alert['rule']} {alert['alert_id']}"] = sorted(lost)
    assert missing == {}


def _login(bank: GraphBank, login_id: int) -> dict[str, Any]:
    (row,) = [r for r in bank.tables["logins"] if r["login_id"] == login_id]
    return row


def test_a_takeover_draws_the_contact_change_new_device_and_ip_and_payout(
    bank: GraphBank, alerts: list[Alert]
) -> None:
    for alert in of_rule(alerts, "account_takeover"):
        picture = drawing(bank, alert)
        victim = next(e["id"] for e in alert["entities"] if e["role"] == "victim")
        # The contact details as they are now: the ones the attacker set.
        contact = bank.query(
            "MATCH (:Customer {customer_id: $id})-[:HAS_EMAIL|HAS_PHONE]->(n)"
            " RETURN elementId(n) AS id",
            id=int(victim),
        )
        assert contact
        assert {r["id"] for r in contact} <= set(picture.nodes), alert["explanation"]
        login = _login(bank, alert["evidence"]["login_id"])
        assert ("device", str(login["device_id"])) in picture.named()
        assert ("ip", login["ip_address"]) in picture.named()
        if alert["evidence"].get("minutes_to_contact_change") is not None:
            assert picture.columns["contact_changed_at"], "when the contact changed"
        elif "payout_txn_id" not in alert["evidence"]:
            # No change in view: the payout from the new device is what it names.
            assert any(
                t["device_id"] == login["device_id"] for t in picture.labelled("Transaction")
            )
        if "payout_txn_id" in alert["evidence"]:
            (payout,) = [
                t
                for t in picture.labelled("Transaction")
                if t["txn_id"] == alert["evidence"]["payout_txn_id"]
            ]
            went = [
                r
                for r in picture.relationships.values()
                if r.type in ("TO_ACCOUNT", "TO_EXTERNAL") and r.start_node == payout
            ]
            assert went, "where the payout went"


def test_a_mule_chain_leaving_the_bank_draws_where_the_money_went(
    bank: GraphBank, alerts: list[Alert]
) -> None:
    leaving = [a for a in of_rule(alerts, "mule_chain") if a["evidence"]["exits_bank"]]
    for alert in leaving:
        assert drawing(bank, alert).labelled("ExternalAccount"), alert["explanation"]


def test_a_fan_in_draws_what_the_collector_sent_on(bank: GraphBank, alerts: list[Alert]) -> None:
    for alert in of_rule(alerts, "fan_in"):
        picture = drawing(bank, alert)
        collector = next(e["id"] for e in alert["entities"] if e["role"] == "collector")
        sent_on = [
            r
            for r in picture.relationships.values()
            if r.type in ("TRANSFERRED", "SENT") and str(r.start_node["account_id"]) == collector
        ]
        assert ("txn", str(alert["evidence"]["cash_out_txn"])) in picture.named()
        assert (
            sum(r["amount"] or 0 for r in sent_on if r.type == "TRANSFERRED")
            + sum(
                t["amount"]
                for t in picture.labelled("Transaction")
                if t["account_id"] == int(collector)
            )
            >= alert["evidence"]["outflow"] - 0.01
        )


def test_a_fan_out_draws_the_receivers_moving_the_money_on(
    bank: GraphBank, alerts: list[Alert]
) -> None:
    for alert in of_rule(alerts, "fan_out"):
        picture = drawing(bank, alert)
        distributor = next(e["id"] for e in alert["entities"] if e["role"] == "distributor")
        movers = {
            r.start_node["account_id"]
            for r in picture.relationships.values()
            if r.type in ("TRANSFERRED", "SENT") and str(r.start_node["account_id"]) != distributor
        }
        assert len(movers) >= alert["evidence"]["moved_on"], alert["explanation"]


def test_reports_and_money_among_customers_are_drawn(bank: GraphBank, alerts: list[Alert]) -> None:
    for alert in [*of_rule(alerts, "identity_ring"), *of_rule(alerts, "fraud_proximity")]:
        picture = drawing(bank, alert)
        reports = {n["report_id"] for n in picture.labelled("FraudReport")}
        for member in alert["evidence"].get("reported_members", []):
            on_member = bank.query(
                "MATCH (:Customer {customer_id: $id})-[:OWNS*0..1]->()<-[:REPORTS]-(r)"
                " RETURN r.report_id AS id",
                id=member,
            )
            assert {r["id"] for r in on_member} <= reports
        if "report_id" in alert["evidence"]:
            assert alert["evidence"]["report_id"] in reports

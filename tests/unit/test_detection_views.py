"""detection/views.py: the Cypher an alert carries for Neo4j Browser.

What each query draws on a real graph is checked in
tests/integration/test_alert_cypher.py; here, the shape every query keeps whatever
the data, and that each view asks for what its findings' explanations name.
"""

from __future__ import annotations

import re
from itertools import pairwise

import pytest

from fraudgraph.detection import views

VIEWS = {
    "transactions": views.transactions([3, 1]),
    "money_flow among accounts": views.money_flow([1, 2]),
    "money_flow of payments": views.money_flow([1, 2], [7, 8]),
    "customers": views.customers([1, 2]),
    "customers and payments": views.customers([1, 2], [9]),
    "account_takeover": views.account_takeover(1, 1000, 2000),
    "account_takeover payout": views.account_takeover(1, 1000, 2000, [5]),
    "card_activity": views.card_activity(4, 1000, 2000),
}
GATHERED = [name for name in VIEWS if name != "transactions"]


@pytest.mark.parametrize("name", GATHERED)
def test_each_optional_part_is_collected_before_the_next(name: str) -> None:
    """OPTIONAL MATCHes in a row multiply into a row per combination, which Browser's
    row limit then cuts: every part is collected (one row per anchor) first."""
    clauses = re.split(r" (?=OPTIONAL MATCH|WITH|RETURN)", VIEWS[name])
    for clause, following in pairwise(clauses):
        if clause.startswith("OPTIONAL MATCH"):
            path = clause.split()[2]
            assert following.startswith("WITH") and f"collect({path})" in following, clause


def test_only_integers_reach_the_text() -> None:
    with pytest.raises(ValueError, match="invalid literal"):
        views.customers(["1 OR true"])
    with pytest.raises(ValueError, match="invalid literal"):
        views.account_takeover(1, 0, 1, ["5]) DETACH DELETE (c"])


def _window(cypher: str, field: str) -> tuple[int, int]:
    found = re.search(rf"(\d+) <= {re.escape(field)} <= (\d+)", cypher)
    assert found, field
    return int(found.group(1)), int(found.group(2))


def test_a_takeover_draws_the_contact_change_logins_and_payments_of_its_window() -> None:
    cypher = views.account_takeover(7, 1000, 2000)
    assert "(c)-[:HAS_EMAIL|HAS_PHONE]->()" in cypher  # the contact details now
    assert "c.change_times" in cypher and "AS contact_changed_at" in cypher  # and when
    assert "(c)-[:OWNS]->(:Account)" in cypher
    assert _window(cypher, "u.at") == (1000, 2000)  # failed tries, new device and IP
    assert _window(cypher, "t.created_at") == (1000, 2000)
    assert "-[:SENT]->(t:Transaction)-[]->()" in cypher  # where each payment went
    assert "-[:TO_ACCOUNT]->(:Account)<-[:OWNS]-(:Customer)" in cypher  # the payee
    assert "t.txn_id IN" not in cypher


def test_a_takeover_payout_draws_only_the_payout_among_the_payments() -> None:
    cypher = views.account_takeover(7, 1000, 2000, [55])
    assert cypher.count("t.txn_id IN [55]") == 2  # the payments and the payees
    assert "(c)-[:HAS_EMAIL|HAS_PHONE]->()" in cypher


def test_money_flow_draws_payments_that_left_the_bank_and_the_reports() -> None:
    cypher = views.money_flow([1, 2], [8, 7])
    assert "t.txn_id IN [7, 8]" in cypher
    assert "NOT EXISTS { (t)-[:TO_ACCOUNT]->() }" in cypher  # out of the bank, or cash
    assert "(t)-[:TO_EXTERNAL|AT_MERCHANT]->()" in cypher
    assert cypher.count("<-[:REPORTS]-(:FraudReport)") == 2  # payer's and payee's side


def test_customers_draws_what_ties_them_besides_identifiers() -> None:
    cypher = views.customers([2, 1])
    assert "c.customer_id IN [1, 2]" in cypher
    assert "<-[:REPORTS]-(:FraudReport)" in cypher
    assert "(c)-[:USED]->(d:Device) WHERE EXISTS" in cypher  # a device two of them used
    assert "-[:TRANSFERRED]->(:Account)<-[:OWNS]-(o:Customer)" in cypher
    assert "m.txn_id IN" not in cypher
    assert "m.txn_id IN [9]" in views.customers([1], [9])


def test_card_activity_draws_the_cardholder() -> None:
    cypher = views.card_activity(4, 1000, 2000)
    assert "(k)<-[:HOLDS]-(:Account)<-[:OWNS]-(:Customer)" in cypher
    assert _window(cypher, "t.created_at") == (1000, 2000)

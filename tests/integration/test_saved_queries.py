"""graph/saved-queries.cypher on a simulated bank in the running stack's Neo4j.

Each saved query must return the whole of what its comment promises: a LIMIT on rows
of paths cut neighbourhoods short without a word (query 1 once lost accounts and cards
of busy customers, whose OPTIONAL MATCHes multiplied into hundreds of rows). What a
query returns (its distinct nodes and relationships, as Browser draws them) is
compared with a direct query written another way.

The graph is shared with other tests, so the bank has its own ids and is never
emptied by us. Query 1 is checked on our own customers; the others search the whole
graph, so their ranking is checked against the whole graph and their contents for
each anchor (device, identifier, account, report) of our bank they return.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import neo4j
import pytest

from fraudgraph.paths import SAVED_QUERIES_CYPHER
from fraudgraph.settings import Settings
from fraudgraph.stack.manager import Stack
from tests.graph_support import ID_SPAN, GraphBank, loaded_bank

pytestmark = pytest.mark.integration

BASE = 8_300_000_000_000
IDENTITIES = "HAS_EMAIL|HAS_PHONE|HAS_NATIONAL_ID|HAS_ADDRESS"
Drawn = tuple[set[str], set[str]]


def saved_queries() -> dict[int, str]:
    """Query number -> its Cypher, comments stripped (what an analyst pastes)."""
    found = {}
    for block in SAVED_QUERIES_CYPHER.read_text().split("\n\n")[1:]:
        number = re.match(r"// (\d+)\.", block)
        assert number, f"a saved query without its numbered comment:\n{block}"
        lines = [line for line in block.splitlines() if not line.lstrip().startswith("//")]
        statement = "\n".join(lines).strip()
        assert statement.endswith(";") and statement.count(";") == 1, statement
        found[int(number.group(1))] = statement.removesuffix(";")
    return found


QUERIES = saved_queries()


def drawn(records: list[neo4j.Record]) -> Drawn:
    """The distinct nodes and relationships in the records: what Browser draws."""
    nodes: set[str] = set()
    relationships: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, neo4j.graph.Node):
            nodes.add(value.element_id)
        elif isinstance(value, neo4j.graph.Relationship):
            relationships.add(value.element_id)
            for end in (value.start_node, value.end_node):
                if end is not None:
                    nodes.add(end.element_id)
        elif isinstance(value, neo4j.graph.Path):
            nodes.update(n.element_id for n in value.nodes)
            relationships.update(r.element_id for r in value.relationships)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for record in records:
        for value in record.values():
            walk(value)
    return nodes, relationships


def direct(bank: GraphBank, cypher: str, **params: Any) -> Drawn:
    """A direct query's `nodes` and `relationships`, lists of element ids."""
    (record,) = bank.query(cypher, **params)
    return set(record["nodes"]), set(record["relationships"])


@pytest.fixture(scope="module")
def bank(settings: Settings, stack: Stack) -> Iterator[GraphBank]:
    with loaded_bank(
        settings, base=BASE, seed=83, customers=300, days=30, ip_network="2001:db8:5a7e::/64"
    ) as loaded:
        yield loaded


def mine(value: int) -> bool:
    return BASE <= value < BASE + ID_SPAN


def test_every_saved_query_says_what_it_returns_and_runs_as_pasted() -> None:
    assert sorted(QUERIES) == [1, 2, 3, 4, 5, 6]
    text = SAVED_QUERIES_CYPHER.read_text()
    assert ":param customer_id =>" in text  # how Browser sets query 1's parameter
    for statement in QUERIES.values():
        # A limit only on what a row stands for (a device, an account, a report), never
        # on rows of paths; each is stated in the query's comment.
        for limit in re.findall(r"LIMIT (\d+)", statement):
            assert f"The {limit} " in text or f"the {limit} " in text, limit


# -- 1: a customer's neighbourhood -------------------------------------------------------

NEIGHBOURHOOD = f"""
MATCH (c:Customer {{customer_id: $customer_id}})
CALL (c) {{
  MATCH (c)-[r:OWNS]->(n) RETURN r, n
  UNION
  MATCH (c)-[:OWNS]->()-[r:HOLDS]->(n) RETURN r, n
  UNION
  MATCH (c)-[r:USED|LOGGED_IN_FROM]->(n) RETURN r, n
  UNION
  MATCH (c)-[r:{IDENTITIES}]->(n) RETURN r, n
  UNION
  MATCH (c)-[:{IDENTITIES}]->()<-[r:{IDENTITIES}]-(n:Customer) WHERE n <> c RETURN r, n
}}
WITH c, collect(DISTINCT elementId(n)) AS around, collect(DISTINCT elementId(r)) AS relationships
RETURN [elementId(c)] + around AS nodes, relationships
"""


def _customers_to_check(bank: GraphBank) -> list[int]:
    """The customer with the most relationships, the one whose parts multiplied into the
    most rows in the old query (accounts with cards x logins x identifier holders),
    customers with an account without a card or sharing an identifier (what the old
    query left out), and a spread of the others."""
    records = bank.query(
        f"""
        MATCH (c:Customer) WHERE $lo <= c.customer_id < $hi
        RETURN c.customer_id AS id,
               COUNT {{ (c)-[:OWNS|USED|LOGGED_IN_FROM|{IDENTITIES}]->() }} AS degree,
               COUNT {{ (c)-[:OWNS]->()-[:HOLDS]->() }} AS cards,
               COUNT {{ (c)-[:USED|LOGGED_IN_FROM]->() }} AS logins,
               COUNT {{ (c)-[:{IDENTITIES}]->()<-[:{IDENTITIES}]-(:Customer) }} AS holders,
               EXISTS {{ (c)-[:OWNS]->(a) WHERE NOT (a)-[:HOLDS]->() }} AS cardless,
               EXISTS {{ (c)-[:{IDENTITIES}]->()<-[:{IDENTITIES}]-(o:Customer) WHERE o <> c }}
                 AS sharing
        ORDER BY id
        """,
        lo=BASE,
        hi=BASE + ID_SPAN,
    )
    busiest = max(records, key=lambda r: r["degree"])
    widest = max(records, key=_old_rows)
    assert _old_rows(widest) > 200, "no customer the old query's LIMIT 200 would have cut"
    chosen = [busiest["id"], widest["id"]]
    chosen += [r["id"] for r in records if r["cardless"]][:3]
    chosen += [r["id"] for r in records if r["sharing"]][:3]
    chosen += [r["id"] for r in records[:: max(1, len(records) // 8)]]
    return list(dict.fromkeys(chosen))


def _old_rows(counts: neo4j.Record) -> int:
    """Rows the old query 1 made: its three OPTIONAL MATCHes multiplied."""
    return max(1, counts["cards"]) * max(1, counts["logins"]) * max(1, counts["holders"])


def test_query_1_returns_a_customers_whole_neighbourhood_in_one_row(bank: GraphBank) -> None:
    for customer in _customers_to_check(bank):
        records = bank.query(QUERIES[1], customer_id=customer)
        assert len(records) == 1
        assert drawn(records) == direct(bank, NEIGHBOURHOOD, customer_id=customer), customer


# -- 2 and 3: shared devices and identifiers -----------------------------------------------


def _ranked(records: list[neo4j.Record], limit: int) -> list[Any]:
    """Anchor ids by count (descending) then id, the first `limit`."""
    ordered = sorted(records, key=lambda r: (-r["n"], r["id"]))
    return [r["id"] for r in ordered[:limit]]


def test_query_2_returns_each_shared_device_with_all_its_customers(bank: GraphBank) -> None:
    records = bank.query(QUERIES[2])
    qualifying = bank.query(
        "MATCH (d:Device)<-[:USED]-(c:Customer) WITH d, count(DISTINCT c) AS n"
        " WHERE n > 2 RETURN d.device_id AS id, n"
    )
    assert any(mine(r["id"]) for r in qualifying), "the bank shares no device"
    assert [r["d"]["device_id"] for r in records] == _ranked(qualifying, 50)
    for record in records:
        device = record["d"]["device_id"]
        if not mine(device):
            continue
        expected = direct(
            bank,
            "MATCH (d:Device {device_id: $id})<-[u:USED]-(c:Customer)"
            " WITH d, collect(DISTINCT elementId(c)) AS users, collect(elementId(u)) AS logins"
            " RETURN [elementId(d)] + users AS nodes, logins AS relationships",
            id=device,
        )
        assert drawn([record]) == expected, device
        assert record["customers"] == len(expected[0]) - 1


def test_query_3_returns_each_shared_identifier_with_all_its_holders(bank: GraphBank) -> None:
    records = bank.query(QUERIES[3])
    qualifying = bank.query(
        f"MATCH (i)<-[:{IDENTITIES}]-(c:Customer) WITH i, count(DISTINCT c) AS n"
        " WHERE n > 1 RETURN i.hash AS id, n,"
        f" EXISTS {{ (i)<-[:{IDENTITIES}]-(o:Customer) WHERE $lo <= o.customer_id < $hi }}"
        " AS ours",
        lo=BASE,
        hi=BASE + ID_SPAN,
    )
    ours = {r["id"] for r in qualifying if r["ours"]}
    assert ours, "the bank shares no identifier"
    assert [r["i"]["hash"] for r in records] == _ranked(qualifying, 100)
    for record in records:
        if record["i"]["hash"] not in ours:
            continue
        expected = direct(
            bank,
            f"MATCH (i {{hash: $hash}})<-[h:{IDENTITIES}]-(c:Customer)"
            " WITH i, collect(DISTINCT elementId(c)) AS holders, collect(elementId(h)) AS held"
            " RETURN [elementId(i)] + holders AS nodes, held AS relationships",
            hash=record["i"]["hash"],
        )
        assert drawn([record]) == expected
        assert record["holders"] == len(expected[0]) - 1


# -- 4 and 5: money paths ------------------------------------------------------------------

CHAINS = """
MATCH p = (a:Account {account_id: $id})-[t1:TRANSFERRED]->(:Account)-[t2:TRANSFERRED]->(:Account)
          -[t3:TRANSFERRED]->(:Account)
WHERE t1.at < t2.at AND t2.at < t3.at AND t3.at - t1.at < 86400000 AND t2.amount < t1.amount
UNWIND nodes(p) AS n UNWIND relationships(p) AS r
RETURN collect(DISTINCT elementId(n)) AS nodes, collect(DISTINCT elementId(r)) AS relationships
"""
ROUND_TRIPS = """
MATCH p = (a:Account {account_id: $id})-[:TRANSFERRED*3..6]->(a)
WITH p, relationships(p) AS hops, nodes(p) AS stops
WHERE size(apoc.coll.toSet(stops)) = size(stops) - 1
  AND all(k IN range(1, size(hops) - 1)
          WHERE hops[k - 1].at < hops[k].at AND hops[k].amount <= hops[k - 1].amount)
UNWIND stops AS n UNWIND hops AS r
RETURN collect(DISTINCT elementId(n)) AS nodes, collect(DISTINCT elementId(r)) AS relationships
"""


def _money_query(bank: GraphBank, number: int, limit: int, starts: str, anchored: str) -> None:
    records = bank.query(QUERIES[number])
    qualifying = bank.query(starts)
    assert any(mine(r["id"]) for r in qualifying), f"the bank has nothing for query {number}"
    assert [r["a"]["account_id"] for r in records] == _ranked(qualifying, limit)
    for record in records:
        account = record["a"]["account_id"]
        if mine(account):
            assert drawn([record]) == direct(bank, anchored, id=account), account


def test_query_4_returns_every_chain_of_each_account_it_lists(bank: GraphBank) -> None:
    _money_query(
        bank,
        4,
        25,
        "MATCH (a:Account)-[t1:TRANSFERRED]->(:Account)-[t2:TRANSFERRED]->(:Account)"
        "-[t3:TRANSFERRED]->(:Account) WHERE t1.at < t2.at AND t2.at < t3.at"
        " AND t3.at - t1.at < 86400000 AND t2.amount < t1.amount"
        " RETURN a.account_id AS id, max(t1.amount) AS n",
        CHAINS,
    )


def test_query_5_returns_every_round_trip_of_each_account_it_lists(bank: GraphBank) -> None:
    _money_query(
        bank,
        5,
        20,
        "MATCH p = (a:Account)-[:TRANSFERRED*3..6]->(a)"
        " WITH a, p, relationships(p) AS hops, nodes(p) AS stops"
        " WHERE size(apoc.coll.toSet(stops)) = size(stops) - 1"
        " AND all(k IN range(1, size(hops) - 1)"
        " WHERE hops[k - 1].at < hops[k].at AND hops[k].amount <= hops[k - 1].amount)"
        " RETURN a.account_id AS id, max(hops[0].amount) AS n",
        ROUND_TRIPS,
    )


# -- 6: around confirmed fraud ----------------------------------------------------------------

TWO_HOPS = """
MATCH (:FraudReport {report_id: $id})-[:REPORTS]->(x)
MATCH p = (x)-[*1..2]-()
UNWIND nodes(p) AS n UNWIND relationships(p) AS r
RETURN collect(DISTINCT elementId(n)) AS nodes, collect(DISTINCT elementId(r)) AS relationships
"""


def test_query_6_returns_everything_within_two_hops_of_each_report(bank: GraphBank) -> None:
    records = bank.query(QUERIES[6])
    reports = bank.query(
        "MATCH (r:FraudReport {kind: 'confirmed_fraud'})"
        " RETURN r.report_id AS id, r.reported_at AS at"
    )
    assert any(mine(r["id"]) for r in reports), "the bank has no confirmed fraud"
    latest = sorted(reports, key=lambda r: (-r["at"], r["id"]))[:10]
    assert [r["r"]["report_id"] for r in records] == [r["id"] for r in latest]
    for record in records:
        report = record["r"]["report_id"]
        if mine(report):
            assert drawn([record]) == direct(bank, TWO_HOPS, id=report), report

"""Whole-graph ring analysis: the pure functions over edge lists, the ring findings,
and the Neo4j reader through a fake driver (the real one is exercised elsewhere)."""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

import orjson
import pytest
from rich.console import Console
from typer.testing import CliRunner

import fraudgraph.alerts.producer
import fraudgraph.detection.cli
import fraudgraph.graph.connection
from fraudgraph.alerts.model import alert_errors, to_alert
from fraudgraph.bench.clusters import (
    measure_incremental,
    measure_whole_graph,
    synthetic_identity_bank,
)
from fraudgraph.detection import clusters
from fraudgraph.detection.cli import app as analyze_app
from fraudgraph.detection.clusters import (
    Link,
    build_graph,
    communities,
    components,
    fetch_suspicious_links,
    find_rings,
    focus,
    holder_links,
    is_tight,
    ring_findings,
    ring_rows,
    rings_table,
    score_ring,
)
from fraudgraph.settings import Settings


def ring(first: int, size: int, kinds: Iterable[str] = ("Phone", "Email")) -> list[Link]:
    """`size` customers from `first`, every pair sharing each of `kinds`."""
    members = list(range(first, first + size))
    return [link for kind in kinds for link in holder_links(kind, members)]


def coincidences(first: int) -> list[Link]:
    """Honest look-alike: a chain of one-phone coincidences, each with a family behind
    it (a shared tablet and money between them)."""
    links = [Link(first, first + 1, "Phone"), Link(first + 1, first + 2, "Email")]
    links += [Link(first + 2, first + 3, "Phone")]
    for member in range(first, first + 4):
        family = member + 100
        links += [Link(member, family, "Device"), Link(member, family, "transfer", 80.0)]
    return links


# -- graph building --------------------------------------------------------------------


def test_build_graph_merges_the_kinds_of_a_pair_and_sums_money() -> None:
    graph = build_graph(
        [
            Link(1, 2, "Phone"),
            Link(2, 1, "Email"),
            Link(1, 2, "Phone"),  # the same kind again adds no weight
            Link(1, 2, "transfer", 100.0),
            Link(2, 1, "transfer", 50.0),
            Link(3, 3, "Phone"),  # a customer with itself: not an edge
        ]
    )
    data = graph.edges[1, 2]
    assert data["kinds"] == {"Phone", "Email", "transfer"}
    assert data["weight"] == 5.0
    assert data["amount"] == 150.0
    assert sorted(graph.nodes) == [1, 2]


def test_holder_links_are_a_clique() -> None:
    links = holder_links("Phone", [5, 3, 4, 3])
    assert [(k.a, k.b) for k in links] == [(3, 4), (3, 5), (4, 5)]
    assert len(holder_links("Email", list(range(10)))) == 45


def test_components_biggest_first_and_at_least_min_size() -> None:
    graph = build_graph([*ring(1, 3), *ring(10, 5), Link(20, 21, "Phone")])
    assert components(graph) == [(10, 11, 12, 13, 14), (1, 2, 3), (20, 21)]
    assert components(graph, min_size=3) == [(10, 11, 12, 13, 14), (1, 2, 3)]


def test_louvain_splits_two_rings_joined_by_a_tablet_and_is_seeded() -> None:
    links = [*ring(1, 5), *ring(10, 5), Link(5, 10, "Device")]
    graph = build_graph(links)
    assert len(components(graph)) == 1
    found = communities(graph)
    assert found == [(1, 2, 3, 4, 5), (10, 11, 12, 13, 14)]
    assert communities(build_graph(links)) == found


# -- what counts as a ring ----------------------------------------------------------------


def test_rings_do_not_depend_on_the_order_the_links_arrive_in() -> None:
    """Neo4j, a Spark shuffle and a generator hand the same links over in different
    orders; Louvain follows the graph's insertion order, so find_rings sorts first."""
    every = [k for k in synthetic_identity_bank(1_000, seed=1).links if k.a != k.b]
    shuffled = list(every)
    random.Random(7).shuffle(shuffled)
    first = [ring.members for ring in find_rings(every)]
    assert first
    assert [ring.members for ring in find_rings(list(reversed(every)))] == first
    assert [ring.members for ring in find_rings(shuffled)] == first


def test_focus_keeps_strong_links_their_devices_and_money_among_them() -> None:
    links = [
        Link(1, 2, "Phone"),
        Link(2, 3, "Device"),  # a tablet shared with a suspect
        Link(1, 3, "transfer", 10.0),  # money between a suspect and that neighbour
        Link(3, 9, "transfer", 10.0),  # money to an outsider
        Link(7, 8, "Device"),  # a family's tablet
        Link(7, 8, "transfer", 10.0),  # and their transfers
    ]
    kept = {(k.a, k.b, k.kind) for k in focus(links)}
    assert kept == {(1, 2, "Phone"), (2, 3, "Device"), (1, 3, "transfer")}


def test_tight_means_two_identifiers_on_a_pair_or_a_strong_triangle() -> None:
    assert is_tight(build_graph(ring(1, 2)), [1, 2])  # phone and e-mail
    assert is_tight(build_graph(ring(1, 3, ("Phone",))), [1, 2, 3])
    chain = build_graph([Link(1, 2, "Phone"), Link(2, 3, "Email"), Link(3, 4, "Phone")])
    assert not is_tight(chain, [1, 2, 3, 4])
    with_device = build_graph([Link(1, 2, "Phone"), Link(1, 2, "Device")])
    assert not is_tight(with_device, [1, 2])


def test_find_rings_finds_the_ring_not_the_honest_coincidences() -> None:
    links = [*ring(1, 6), *coincidences(50), Link(3, 200, "Device")]
    rings = find_rings(links)
    # The ring, with the one customer sharing a device with a member (worth a look).
    assert [r.members for r in rings] == [(1, 2, 3, 4, 5, 6, 200)]
    only = rings[0]
    assert only.strong_links == 15
    assert only.device_links == 1
    assert only.component_size == 7


def test_confirmed_fraud_and_money_raise_a_rings_score() -> None:
    links = ring(1, 4, ("Phone",))
    graph = build_graph([*links, Link(1, 2, "transfer", 300.0)])
    plain = score_ring(build_graph(links), [1, 2, 3, 4], [], 4)
    rich = score_ring(graph, [1, 2, 3, 4], [2], 4)
    assert rich.reported == (2,)
    assert rich.money == 300.0
    assert rich.transfer_links == 1
    assert rich.score > plain.score
    loose = score_ring(build_graph([Link(1, 2, "Phone"), Link(3, 4, "Phone")]), [1, 2, 3, 4], [], 4)
    assert loose.score < plain.score


# -- findings -------------------------------------------------------------------------------


def test_ring_findings_are_valid_alerts_anchored_by_first_member_and_tier() -> None:
    rings = find_rings(ring(1, 4), reported=[2])
    findings = ring_findings(rings, {1: [101], 2: [102, 202]})
    assert len(findings) == 1
    finding = findings[0]
    assert finding.rule == "ring_community" and finding.kind == "cluster"
    assert finding.anchor == "community:1:tier3"
    alert = to_alert(finding, 0)
    assert alert_errors(alert) == []
    named = {(e["type"], e["id"]) for e in alert["entities"]}
    assert named == {("customer", "1"), ("customer", "2"), ("customer", "3"), ("customer", "4")} | {
        ("account", "101"),
        ("account", "102"),
        ("account", "202"),
    }
    assert alert["evidence"]["reported_members"] == [2]


def test_ring_findings_keep_their_id_until_the_ring_grows_a_tier() -> None:
    def alert_id(size: int) -> str:
        return ring_findings(find_rings(ring(1, size)), {})[0].alert_id

    assert alert_id(3) == alert_id(4)
    assert alert_id(5) != alert_id(4)


def test_ring_findings_skip_low_scores() -> None:
    rings = find_rings(ring(1, 3, ("Phone",)))
    assert ring_findings(rings, {}, min_score=0.99) == []
    assert len(ring_findings(rings, {}, min_score=0.0)) == 1


def test_rings_table_and_rows() -> None:
    rings = find_rings([*ring(1, 9), *ring(20, 3)])
    console = Console(width=200, record=True)
    console.print(rings_table(rings, limit=1))
    text = console.export_text()
    assert "1, 2, 3, 4, 5, 6, 7, 8 +1" in text  # the ninth member, counted
    assert "20, 21, 22" not in text
    rows = ring_rows(rings)
    assert [r["size"] for r in rows] == [9, 3]
    assert rows[0]["tier"] == 8


def test_produce_ring_alerts_hands_valid_alerts_to_the_producer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[Any] = []
    monkeypatch.setattr(fraudgraph.alerts.producer, "produce_alerts", lambda _s, a: sent.extend(a))
    findings = ring_findings(find_rings(ring(1, 4)), {})
    produced = clusters.produce_ring_alerts(Settings(), findings, 1_700_000_000_000)
    assert produced == [a["alert_id"] for a in sent] and len(sent) == 1
    assert alert_errors(sent[0]) == []
    assert sent[0]["detected_at"].startswith("2023-11-14")
    # The next periodic run finds the same ring: nothing is produced again ...
    assert clusters.produce_ring_alerts(Settings(), findings, 1, set(produced)) == []
    assert len(sent) == 1
    # ... until it grows to a new size tier (a new id).
    grown = ring_findings(find_rings(ring(1, 5)), {})
    assert clusters.produce_ring_alerts(Settings(), grown, 2, set(produced)) != []
    assert len(sent) == 2


# -- the Neo4j reader, through a fake driver --------------------------------------------------


class FakeDriver:
    """Answers each of the reader's statements with canned rows; remembers the calls."""

    def __init__(self, answers: dict[str, list[dict[str, Any]]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, dict[str, Any], dict[str, Any]]] = []

    def execute_query(self, query: str, params: dict[str, Any], **options: Any) -> Any:
        self.calls.append((query, params, options))
        for marker, rows in self.answers.items():
            if marker in query:
                return rows, None, None
        raise AssertionError(f"unexpected query {query}")


def test_fetch_reads_the_focused_subgraph_with_read_only_parameterised_queries() -> None:
    driver = FakeDriver(
        {
            "HAS_EMAIL|HAS_PHONE": [{"kind": "Phone", "holders": [1, 2, 3]}],
            "(d:Device)": [{"holders": [3, 4]}, {"holders": [7, 8]}],
            "TRANSFERRED": [{"payer": 1, "payee": 4, "amount": 250.0}],
            "collect(a.account_id)": [{"customer_id": 1, "accounts": [201, 101]}],
            "FraudReport": [{"customer_id": 2}, {"customer_id": None}],
        }
    )
    found = fetch_suspicious_links(driver, max_holders=10, max_device_users=4)  # type: ignore[arg-type]
    assert {(k.a, k.b, k.kind) for k in found.links} == {
        (1, 2, "Phone"),
        (1, 3, "Phone"),
        (2, 3, "Phone"),
        (3, 4, "Device"),
        (1, 4, "transfer"),
    }
    assert found.accounts_of == {1: [101, 201]}
    assert found.reported == {2}
    params = [call[1] for call in driver.calls]
    assert params[0] == {"max_holders": 10}
    assert params[1] == {"max_device_users": 4}
    assert params[2] == {"customers": [1, 2, 3, 4]}  # the family at 7-8 is not read further
    assert all(call[2]["routing_"].value == "r" for call in driver.calls)
    assert all("$" in call[0] or not call[1] for call in driver.calls)
    assert not any(
        word in call[0].upper() for call in driver.calls for word in ("CREATE", "MERGE", "SET ")
    )


def test_a_community_mostly_bound_by_devices_and_money_is_not_a_ring() -> None:
    links = ring(1, 3, ("Phone",))  # three share a phone...
    for other in range(4, 11):  # ...inside a group of ten bound by tablets and money
        for member in (1, 2, 3):
            links += [Link(member, other, "Device"), Link(member, other, "transfer", 20.0)]
    assert find_rings(links) == []
    assert [r.size for r in find_rings(links, min_strong_share=0.2)] == [10]


# -- the benchmark's synthetic bank ------------------------------------------------------------


def test_bench_bank_has_the_asked_edges_and_its_rings_are_found() -> None:
    bank = synthetic_identity_bank(edges=4000, seed=3)
    figures = measure_whole_graph(bank)
    assert 4000 <= figures["graph_edges"] <= 4020
    assert figures["rings_planted"] >= 5
    assert figures["planted_rings_found"] == figures["rings_planted"]
    assert figures["rings_found"] == figures["rings_planted"]  # no honest look-alike
    incremental = measure_incremental(bank, events=30)
    assert incremental["ring_member_component_max"] >= 4
    assert incremental["placeholder_component_max"] == 1  # placeholders are skipped
    assert incremental["ring_member_round_trips_max"] <= 2 * 8 + 1  # the hop bound


def test_analyze_clusters_command_prints_rings_writes_json_and_produces(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    members = [{"kind": "Phone", "holders": [1, 2, 3, 4]}, {"kind": "Email", "holders": [1, 2]}]
    driver = FakeDriver(
        {
            "HAS_EMAIL|HAS_PHONE": members,
            "(d:Device)": [],
            "TRANSFERRED": [],
            "collect(a.account_id)": [{"customer_id": 1, "accounts": [101]}],
            "FraudReport": [],
        }
    )

    class Opened:
        def __enter__(self) -> FakeDriver:
            return driver

        def __exit__(self, *_: object) -> None:
            return None

    sent: list[Any] = []
    monkeypatch.setattr(fraudgraph.graph.connection, "open_driver", lambda _settings: Opened())
    monkeypatch.setattr(fraudgraph.alerts.producer, "produce_alerts", lambda _s, a: sent.extend(a))
    monkeypatch.setattr(fraudgraph.detection.cli, "_out", Console(width=200))  # no wrapping
    out = tmp_path / "rings.json"
    result = CliRunner().invoke(analyze_app, ["clusters", "--json", str(out), "--produce"])
    assert result.exit_code == 0, result.output
    assert "1, 2, 3, 4" in result.output
    assert orjson.loads(out.read_bytes())["rings"][0]["members"] == [1, 2, 3, 4]
    assert [a["rule"] for a in sent] == ["ring_community"]
    assert {"type": "account", "id": "101", "role": "member"} in sent[0]["entities"]

"""Ring analysis over the whole graph, off the stream: `fraudgraph analyze clusters`.

The stream detectors (`detectors/identity_ring.py`, `shared_identifiers.py`,
`fraud_proximity.py`) look at one customer's neighbourhood as it arrives; this looks
at everything at once. The suspicious subgraph is fetched from Neo4j (customers bound
by shared phones, e-mails, national ids or a device a few customers use, plus
transfers among those customers' accounts), then analysed with pure functions over
an edge list: connected components, Louvain communities (seeded, so a rerun gives
the same rings) to split big components into tight groups, a score per ring (size,
density, share of strong links, share of confirmed fraud, money circulated among the
members) and cluster findings whose alert ids only change when a ring grows into a
new size tier.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import neo4j
import networkx as nx  # type: ignore[import-untyped]  # no stubs; typed at this boundary
from rich.table import Table

from fraudgraph.alerts.model import Entity, Finding, to_alert
from fraudgraph.detection import views
from fraudgraph.detection.detectors._rings import ring_tier
from fraudgraph.detection.history import STRONG_IDENTITIES
from fraudgraph.settings import Settings
from fraudgraph.tables import Fitting, compact_table

# How much one shared thing binds two customers. A national id belongs to one person;
# a phone or e-mail to one person or a household; a device is shared by households
# (a tablet) and rings alike; money between them says they act together.
LINK_WEIGHTS: Mapping[str, float] = {
    "NationalId": 3.0,
    "Phone": 2.0,
    "Email": 2.0,
    "Device": 1.0,
    "transfer": 1.0,
}
STRONG = frozenset(STRONG_IDENTITIES)
DEFAULT_SEED = 7


@dataclass(frozen=True, slots=True)
class Link:
    """Two customers bound by one shared thing (or by money between their accounts)."""

    a: int
    b: int
    kind: str  # an identity label, "Device" or "transfer"
    amount: float = 0.0  # money moved, for transfers


@dataclass(frozen=True, slots=True)
class Ring:
    members: tuple[int, ...]  # sorted customer ids
    component_size: int
    density: float
    strong_links: int  # pairs sharing a phone, e-mail or national id
    device_links: int
    transfer_links: int
    money: float  # circulated among the members
    reported: tuple[int, ...]  # members with a confirmed fraud or chargeback report
    score: float

    @property
    def size(self) -> int:
        return len(self.members)

    @property
    def tier(self) -> int:
        return ring_tier(self.size)


@dataclass
class SuspiciousGraph:
    """What `fetch_suspicious_links` read: links, accounts of the customers, reports."""

    links: list[Link] = field(default_factory=list)
    accounts_of: dict[int, list[int]] = field(default_factory=dict)
    reported: set[int] = field(default_factory=set)


# -- pure analysis -------------------------------------------------------------------
def build_graph(links: Iterable[Link]) -> nx.Graph:
    """One undirected edge per customer pair: the kinds binding them, a weight (sum of
    `LINK_WEIGHTS` over distinct kinds) and the money moved between them."""
    graph = nx.Graph()
    for link in links:
        if link.a == link.b:
            continue
        if graph.has_edge(link.a, link.b):
            data = graph.edges[link.a, link.b]
        else:
            graph.add_edge(link.a, link.b, kinds=set(), weight=0.0, amount=0.0)
            data = graph.edges[link.a, link.b]
        if link.kind not in data["kinds"]:
            data["kinds"].add(link.kind)
            data["weight"] += LINK_WEIGHTS.get(link.kind, 1.0)
        data["amount"] += link.amount
    return graph


def components(graph: nx.Graph, min_size: int = 2) -> list[tuple[int, ...]]:
    """Connected components of at least `min_size` customers, biggest first."""
    found = [tuple(sorted(c)) for c in nx.connected_components(graph) if len(c) >= min_size]
    return sorted(found, key=lambda c: (-len(c), c[0]))


def communities(
    graph: nx.Graph, *, seed: int = DEFAULT_SEED, resolution: float = 1.0, min_size: int = 3
) -> list[tuple[int, ...]]:
    """Louvain communities (weighted, seeded: the same graph gives the same split),
    at least `min_size` customers, biggest first."""
    found: list[set[int]] = nx.community.louvain_communities(
        graph, weight="weight", resolution=resolution, seed=seed
    )
    rings = [tuple(sorted(c)) for c in found if len(c) >= min_size]
    return sorted(rings, key=lambda c: (-len(c), c[0]))


def score_ring(
    graph: nx.Graph, members: Collection[int], reported: Collection[int], component_size: int
) -> Ring:
    """Size, density, kinds of links, confirmed fraud and money among the members.

    A ring scores when it is big (up to 8), dense, most of its members hold a phone,
    e-mail or national id another member holds (families and friends are bound by a
    tablet and money; coincidences bind a couple of customers, not most of a group),
    holds a confirmed fraudster (one in three is plenty) and moves money inside.
    """
    ordered = tuple(sorted(members))
    sub = graph.subgraph(ordered)
    edges = list(sub.edges(data=True))
    strong_pairs = [(a, b) for a, b, data in edges if data["kinds"] & STRONG]
    devices = sum(1 for _, _, data in edges if "Device" in data["kinds"])
    transfers = sum(1 for _, _, data in edges if "transfer" in data["kinds"])
    money = float(sum(data["amount"] for _, _, data in edges))
    density = float(nx.density(sub)) if len(ordered) > 1 else 0.0
    hit = tuple(c for c in ordered if c in set(reported))
    size = len(ordered)
    score = (
        0.3
        + 0.2 * min(1.0, (size - 2) / 6)
        + 0.15 * density
        + 0.2 * strong_share(strong_pairs, size)
        + 0.1 * min(1.0, 3 * len(hit) / size)
        + 0.05 * (money > 0)
    )
    return Ring(
        ordered,
        component_size,
        round(density, 3),
        len(strong_pairs),
        devices,
        transfers,
        round(money, 2),
        hit,
        round(min(0.99, score), 4),
    )


def strong_share(strong_pairs: Iterable[tuple[int, int]], size: int) -> float:
    """Share of the members holding a strong identifier another member holds."""
    touched = {c for pair in strong_pairs for c in pair}
    return len(touched) / size if size else 0.0


def focus(links: Iterable[Link]) -> list[Link]:
    """The suspicious part: customers sharing a strong identifier, the devices they
    share with others, and money among all of those. A tablet shared by a family and
    the family's transfers are everyday life unless one of them shares a phone, e-mail
    or national id with somebody."""
    kept = list(links)
    strong = {c for link in kept if link.kind in STRONG for c in (link.a, link.b)}
    devices = [k for k in kept if k.kind == "Device" and (k.a in strong or k.b in strong)]
    near = strong | {c for link in devices for c in (link.a, link.b)}
    money = [k for k in kept if k.kind == "transfer" and k.a in near and k.b in near]
    return [k for k in kept if k.kind in STRONG] + devices + money


def is_tight(graph: nx.Graph, members: Collection[int]) -> bool:
    """Some members are bound beyond coincidence: two of them share two or more strong
    identifiers, or three of them are pairwise bound by strong identifiers (a phone on
    three customers, say). A recycled number or a typo binds one pair by one identifier;
    chains of those are what honest look-alike communities are made of."""
    sub = graph.subgraph(members)
    strong = nx.Graph()
    for a, b, data in sub.edges(data=True):
        kinds = data["kinds"] & STRONG
        if len(kinds) >= 2:
            return True
        if kinds:
            strong.add_edge(a, b)
    return any(count > 0 for count in nx.triangles(strong).values())


def canonical_order(link: Link) -> tuple[int, int, int, str, float]:
    return (min(link.a, link.b), max(link.a, link.b), link.a, link.kind, link.amount)


def find_rings(
    links: Iterable[Link],
    reported: Collection[int] = (),
    *,
    min_size: int = 3,
    seed: int = DEFAULT_SEED,
    resolution: float = 1.0,
    min_strong_share: float = 0.5,
) -> list[Ring]:
    """Louvain communities inside the focused subgraph (`focus`), scored; best first.

    A community is a ring when it is tight (`is_tight`) and at least
    `min_strong_share` of its members share a strong identifier inside it.
    """
    # Louvain visits nodes and neighbours in the graph's insertion order (shuffled by
    # the seed), so the links go in a canonical order: the same links give the same
    # rings whether they came from Neo4j, a Spark shuffle or a generator.
    graph = build_graph(sorted(focus(links), key=canonical_order))
    component_of: dict[int, int] = {}
    for component in components(graph, min_size):
        for member in component:
            component_of[member] = len(component)
    rings = []
    for community in communities(graph, seed=seed, resolution=resolution, min_size=min_size):
        sub = graph.subgraph(community)
        pairs = [(a, b) for a, b, data in sub.edges(data=True) if data["kinds"] & STRONG]
        if strong_share(pairs, len(community)) >= min_strong_share and is_tight(graph, community):
            rings.append(score_ring(graph, community, reported, component_of[community[0]]))
    return sorted(rings, key=lambda r: (-r.score, -r.size, r.members))


def ring_findings(
    rings: Iterable[Ring], accounts_of: Mapping[int, Sequence[int]], *, min_score: float = 0.6
) -> list[Finding]:
    """One cluster finding per ring scoring `min_score` or more.

    The anchor is the ring's smallest member and its size tier, as for the stream's
    identity_ring: running the analysis again raises nothing new until a ring grows.
    """
    findings = []
    for ring in rings:
        if ring.score < min_score:
            continue
        entities = [Entity("customer", str(c), "member") for c in ring.members]
        entities += [
            Entity("account", str(a), "member")
            for c in ring.members
            for a in accounts_of.get(c, ())
        ]
        findings.append(
            Finding(
                rule="ring_community",
                kind="cluster",
                anchor=f"community:{ring.members[0]}:tier{ring.tier}",
                score=ring.score,
                entities=entities,
                explanation=(
                    f"{ring.size} customers (ring of customer {ring.members[0]}) form a tight "
                    f"community: {ring.strong_links} pairs share a phone/e-mail/national id, "
                    f"{ring.device_links} a device, {ring.transfer_links} move money "
                    f"({ring.money:.2f}); {len(ring.reported)} confirmed fraudulent."
                ),
                evidence={
                    "members": ring.size,
                    "tier": ring.tier,
                    "component_size": ring.component_size,
                    "density": ring.density,
                    "strong_links": ring.strong_links,
                    "device_links": ring.device_links,
                    "transfer_links": ring.transfer_links,
                    "money_circulated": ring.money,
                    "reported_members": list(ring.reported),
                },
                cypher=views.customers(ring.members),
            )
        )
    return findings


def ring_rows(rings: Iterable[Ring]) -> list[dict[str, Any]]:
    """The rings as JSON-ready rows (for --json)."""
    return [
        {
            "members": list(r.members),
            "size": r.size,
            "tier": r.tier,
            "component_size": r.component_size,
            "density": r.density,
            "strong_links": r.strong_links,
            "device_links": r.device_links,
            "transfer_links": r.transfer_links,
            "money": r.money,
            "reported": list(r.reported),
            "score": r.score,
        }
        for r in rings
    ]


# -- reading the suspicious subgraph from Neo4j -----------------------------------------
# Read-only and parameterised; labels and relationship types are fixed text here.
SHARED_IDENTITIES = """
MATCH (i)<-[:HAS_EMAIL|HAS_PHONE|HAS_NATIONAL_ID]-(c:Customer)
WITH i, collect(DISTINCT c.customer_id) AS holders
WHERE size(holders) >= 2 AND size(holders) <= $max_holders
RETURN labels(i)[0] AS kind, holders
"""
SHARED_DEVICES = """
MATCH (d:Device)<-[:USED]-(c:Customer)
WITH d, collect(DISTINCT c.customer_id) AS users
WHERE size(users) >= 2 AND size(users) <= $max_device_users
RETURN users AS holders
"""
TRANSFERS_AMONG = """
MATCH (c:Customer)-[:OWNS]->(:Account)-[t:TRANSFERRED]->(:Account)<-[:OWNS]-(d:Customer)
WHERE c.customer_id IN $customers AND d.customer_id IN $customers AND c <> d
  AND t.status <> 'reversed'
RETURN c.customer_id AS payer, d.customer_id AS payee, sum(t.amount) AS amount
"""
ACCOUNTS_OF = """
MATCH (c:Customer)-[:OWNS]->(a:Account)
WHERE c.customer_id IN $customers
RETURN c.customer_id AS customer_id, collect(a.account_id) AS accounts
"""
REPORTED = """
MATCH (r:FraudReport)-[:REPORTS]->(x)
WHERE r.kind IN ['confirmed_fraud', 'chargeback'] AND (x:Customer OR x:Account)
OPTIONAL MATCH (owner:Customer)-[:OWNS]->(x)
RETURN DISTINCT coalesce(x.customer_id, owner.customer_id) AS customer_id
"""


def _read(driver: neo4j.Driver, query: str, database: str, **params: Any) -> list[neo4j.Record]:
    records, _, _ = driver.execute_query(
        query, params, database_=database, routing_=neo4j.RoutingControl.READ
    )
    return list(records)


def holder_links(kind: str, holders: Sequence[int]) -> list[Link]:
    """Every pair of the customers holding one identifier (a clique)."""
    ordered = sorted(set(holders))
    return [Link(a, b, kind) for n, a in enumerate(ordered) for b in ordered[n + 1 :]]


def fetch_suspicious_links(
    driver: neo4j.Driver,
    *,
    max_holders: int = 25,
    max_device_users: int = 5,
    database: str = "neo4j",
) -> SuspiciousGraph:
    """The suspicious subgraph: customers sharing a phone, e-mail or national id (an
    identifier on more than `max_holders` customers is a placeholder, skipped), or a
    device used by at most `max_device_users` (more is a shop's or office's machine);
    transfers among those customers; their accounts and who is confirmed fraudulent."""
    found = SuspiciousGraph()
    for record in _read(driver, SHARED_IDENTITIES, database, max_holders=max_holders):
        found.links += holder_links(str(record["kind"]), record["holders"])
    for record in _read(driver, SHARED_DEVICES, database, max_device_users=max_device_users):
        found.links += holder_links("Device", record["holders"])
    found.links = focus(found.links)
    customers = sorted({c for link in found.links for c in (link.a, link.b)})
    if customers:
        for record in _read(driver, TRANSFERS_AMONG, database, customers=customers):
            found.links.append(
                Link(record["payer"], record["payee"], "transfer", float(record["amount"] or 0))
            )
        for record in _read(driver, ACCOUNTS_OF, database, customers=customers):
            found.accounts_of[record["customer_id"]] = sorted(record["accounts"])
    found.reported = {
        r["customer_id"] for r in _read(driver, REPORTED, database) if r["customer_id"] is not None
    }
    return found


def links_by_kind(links: Iterable[Link]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for link in links:
        counts[link.kind] += 1
    return dict(sorted(counts.items()))


# -- the command's pieces ------------------------------------------------------------------
SHOWN_MEMBERS = 8  # of a ring, in the table
_RINGS_LEGEND = (
    "comp. customers in its connected component; dens. link density; strong pairs "
    "sharing a phone, e-mail or national id; dev. pairs sharing a device; money "
    "circulated among the members; rep. members reported"
)


def rings_table(rings: Sequence[Ring], limit: int = 30) -> Fitting:
    """Every figure under its full name on a wide console; in 80 columns, short headers
    with a legend and no vertical rules, so the members still get room."""
    title = f"rings ({len(rings)} found, best {min(limit, len(rings))} shown)"
    full = Table(title=title)
    for column in ("score", "size", "component", "density", "strong", "device", "money"):
        full.add_column(column, justify="right")
    full.add_column("reported", justify="right")
    full.add_column("members")
    compact = compact_table(title=title, caption=_RINGS_LEGEND)
    for column in ("score", "size", "comp.", "dens.", "strong", "dev.", "money", "rep."):
        compact.add_column(column, justify="right", no_wrap=True)
    compact.add_column("members", overflow="fold")
    for ring in rings[:limit]:
        row = (
            f"{ring.score:.2f}",
            str(ring.size),
            str(ring.component_size),
            f"{ring.density:.2f}",
            str(ring.strong_links),
            str(ring.device_links),
            f"{ring.money:,.2f}",
            str(len(ring.reported)),
            _members(ring),
        )
        full.add_row(*row)
        compact.add_row(*row)
    return Fitting(full, compact)


def _members(ring: Ring) -> str:
    # "+N" rather than "…": in a log an ellipsis reads as a cell rich cut short.
    shown = ", ".join(str(m) for m in ring.members[:SHOWN_MEMBERS])
    hidden = ring.size - SHOWN_MEMBERS
    return shown + (f" +{hidden}" if hidden > 0 else "")


def produce_ring_alerts(
    settings: Settings,
    findings: Sequence[Finding],
    now_ms: int,
    published: Collection[str] = (),
) -> list[str]:
    """Publish the findings not in `published` as cluster alerts; returns their ids.

    A periodic run finds the same rings again and again: their ids are stable, and a
    ring re-alerts only when it reaches a new size tier (a new id), so what this
    process already published is not produced again.

    Hook into the alerts producer (alerts/producer.py, owned with the worker); imported
    here so an analysis that does not produce never loads the Kafka client.
    """
    from fraudgraph.alerts.producer import produce_alerts  # noqa: PLC0415 - only when producing

    fresh = [f for f in findings if f.alert_id not in published]
    produce_alerts(settings, [to_alert(finding, now_ms) for finding in fresh])
    return [finding.alert_id for finding in fresh]

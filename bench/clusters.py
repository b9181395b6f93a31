"""Ring analysis at bank scale: `fraudgraph bench clusters`.

A synthetic identity graph shaped like a bank's (many small households sharing an
address and sometimes a tablet, family transfers, one-phone coincidences, a ring of
4-8 customers per 1,000, a few hubs: employers and platforms paying tens of
thousands, placeholder phones on thousands of customers) with about `edges`
customer-customer links. Measured, on one core, in memory:

* the whole-graph analysis (`detection/clusters.py`): building the networkx graph,
  connected components and Louvain over every link, then `find_rings` over the
  focused subgraph the Neo4j reader would return;
* the stream's incremental path (`detectors/identity_ring.py`, `detectors/_rings.py`):
  per customer event, the bounded component expansion, core and ring test, each
  event in its own batch (no cache shared between events: the worst case), with the
  history questions it asks (each a Neo4j round trip in production).
"""

# ruff: noqa: S311 - a benchmark: seeded, reproducible randomness is the point

from __future__ import annotations

import random
import resource
import statistics
import time
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from fraudgraph.detection import clusters
from fraudgraph.detection.context import DAY_MS, Context
from fraudgraph.detection.detectors._rings import expand_component, ring_signals
from fraudgraph.detection.detectors.identity_ring import IdentityRingParams
from fraudgraph.detection.history import (
    AccountInfo,
    CustomerInfo,
    IdentityKey,
    Login,
    MerchantInfo,
    Report,
    Txn,
)
from fraudgraph.detection.settings import HistoryWindows

NOW_MS = 1_790_000_000_000  # the events' time: every synthetic customer exists by then
HOUSEHOLD_SIZES = (1, 2, 3, 4)
HOUSEHOLD_WEIGHTS = (0.62, 0.25, 0.09, 0.04)


@dataclass
class IdentityBank:
    """Who holds which identifier (the incremental path's view) and the links between
    customers (the whole-graph analysis' view) of one synthetic bank."""

    customers: dict[int, CustomerInfo] = field(default_factory=dict)
    holders: dict[IdentityKey, list[int]] = field(default_factory=lambda: defaultdict(list))
    links: list[clusters.Link] = field(default_factory=list)
    pairs: set[tuple[int, int]] = field(default_factory=set)  # distinct linked pairs
    rings: list[list[int]] = field(default_factory=list)
    placeholder_holders: list[int] = field(default_factory=list)

    def add(self, customer_id: int, created: int, keys: list[IdentityKey]) -> None:
        self.customers[customer_id] = CustomerInfo(
            customer_id, created, created, "DE", "X", tuple(keys)
        )
        for key in keys:
            self.holders[key].append(customer_id)


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(f"bench-clusters:{seed}")
        self.bank = IdentityBank()
        self.next_id = 1

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def long_ago(self) -> int:
        return NOW_MS - int(self.rng.uniform(30, 12 * 365) * DAY_MS)

    def household(self) -> None:
        rng, bank = self.rng, self.bank
        size = rng.choices(HOUSEHOLD_SIZES, HOUSEHOLD_WEIGHTS)[0]
        members = [self.new_id() for _ in range(size)]
        address: IdentityKey = ("Address", f"a{members[0]}")
        for member in members:
            phone: IdentityKey = ("Phone", f"p{member}")
            if member > 1000 and rng.random() < 0.005:  # a recycled or mistyped number
                other = rng.randrange(1, member - size)
                phone = ("Phone", f"p{other}")
                bank.links.append(clusters.Link(other, member, "Phone"))
            keys = [phone, ("Email", f"e{member}"), ("NationalId", f"n{member}"), address]
            bank.add(member, self.long_ago(), keys)
        bank.links += clusters.holder_links("Address", members)
        if size > 1 and rng.random() < 0.4:
            bank.links += clusters.holder_links("Device", members)
        for n, a in enumerate(members):
            bank.links += [
                clusters.Link(a, b, "transfer", 50.0)
                for b in members[n + 1 :]
                if rng.random() < 0.5
            ]

    def ring(self) -> None:
        """As the simulator's: phone i % P, address (i // 2) % A, e-mail for even i, the
        first three on one national id; onboarded within days."""
        rng, bank = self.rng, self.bank
        size = rng.randint(4, 8)
        members = [self.new_id() for _ in range(size)]
        first = members[0]
        phones, addresses, emails = max(1, size // 3), max(1, size // 3), max(1, size // 4)
        start = NOW_MS - 20 * DAY_MS
        for i, member in enumerate(members):
            keys: list[IdentityKey] = [
                ("Phone", f"rp{first}:{i % phones}"),
                ("Address", f"ra{first}:{(i // 2) % addresses}"),
                ("NationalId", f"rn{first}" if i < 3 else f"n{member}"),
            ]
            keys.append(("Email", f"re{first}:{(i // 2) % emails}" if i % 2 == 0 else f"e{member}"))
            bank.add(member, start + int(rng.uniform(0, 9) * DAY_MS), keys)
        for label in ("Phone", "Email", "NationalId", "Address"):
            by_key: dict[IdentityKey, list[int]] = defaultdict(list)
            for member in members:
                for key in bank.customers[member].identities:
                    if key[0] == label:
                        by_key[key].append(member)
            for holders in by_key.values():
                bank.links += clusters.holder_links(label, holders)
        for _ in range(size):
            payer, payee = rng.sample(members, 2)
            bank.links.append(clusters.Link(payer, payee, "transfer", 120.0))
        bank.rings.append(members)

    def hubs(self, count: int, edges_each: int) -> None:
        """Employers and platforms paying many customers: stars of transfer links."""
        customers = list(self.bank.customers)
        for _ in range(count):
            hub = self.rng.choice(customers)
            for other in self.rng.sample(customers, min(edges_each, len(customers))):
                if other != hub:
                    self.bank.links.append(clusters.Link(hub, other, "transfer", 2000.0))

    def placeholders(self, count: int, holders_each: int) -> None:
        """Phones typed as 000… on thousands of customers: never a link (the reader
        skips identifiers over `max_holders`), but the incremental path meets them."""
        customers = list(self.bank.customers)
        for n in range(count):
            key: IdentityKey = ("Phone", f"placeholder{n}")
            for member in self.rng.sample(customers, holders_each):
                info = self.bank.customers[member]
                keys = [k for k in info.identities if k[0] != "Phone"] + [key]
                own = next(k for k in info.identities if k[0] == "Phone")
                self.bank.holders[own].remove(member)
                self.bank.customers[member] = CustomerInfo(
                    member, info.created_at, info.updated_at, "DE", "X", tuple(keys)
                )
                self.bank.holders[key].append(member)
                self.bank.placeholder_holders.append(member)


def synthetic_identity_bank(edges: int = 1_000_000, seed: int = 1) -> IdentityBank:
    """About `edges` distinct linked pairs (graph edges): 10 % from 5 hubs, the rest
    households with a ring per 1,000 customers; plus 3 placeholder phones on up to
    2,000 customers each."""
    builder = _Builder(seed)
    hub_edges = edges // 10
    bank = builder.bank
    counted = 0
    while len(bank.pairs) < edges - hub_edges:
        builder.household()
        if builder.next_id // 1000 > len(bank.rings):
            builder.ring()
        bank.pairs.update((min(k.a, k.b), max(k.a, k.b)) for k in bank.links[counted:])
        counted = len(bank.links)
    builder.hubs(5, hub_edges // 5)
    bank.pairs.clear()  # only needed while building
    builder.placeholders(3, min(2000, len(builder.bank.customers) // 10))
    return builder.bank


class BenchHistory:
    """Only what the identity path asks (customers, who shares an identifier), from
    memory, counting the questions (each a round trip against Neo4j)."""

    def __init__(self, bank: IdentityBank) -> None:
        self.bank = bank
        self.questions = 0

    def customers(self, ids: Collection[int]) -> Mapping[int, CustomerInfo]:
        self.questions += 1
        return {i: self.bank.customers[i] for i in ids if i in self.bank.customers}

    def customers_sharing(
        self, identities: Collection[IdentityKey]
    ) -> Mapping[IdentityKey, list[int]]:
        self.questions += 1
        return {k: list(self.bank.holders[k]) for k in identities if k in self.bank.holders}

    def accounts(self, ids: Collection[int]) -> Mapping[int, AccountInfo]:
        return {}

    def merchants(self, ids: Collection[int]) -> Mapping[int, MerchantInfo]:
        return {}

    def accounts_of(self, customer_ids: Collection[int]) -> Mapping[int, list[int]]:
        return {}

    def sent(self, account_ids: Collection[int], since: int, until: int) -> Mapping[int, list[Txn]]:
        return {}

    def received(
        self, account_ids: Collection[int], since: int, until: int
    ) -> Mapping[int, list[Txn]]:
        return {}

    def card_txns(
        self, card_ids: Collection[int], since: int, until: int
    ) -> Mapping[int, list[Txn]]:
        return {}

    def device_txns(
        self, device_ids: Collection[int], since: int, until: int
    ) -> Mapping[int, list[Txn]]:
        return {}

    def logins(
        self, customer_ids: Collection[int], since: int, until: int
    ) -> Mapping[int, list[Login]]:
        return {}

    def reports(self, customer_ids: Collection[int], account_ids: Collection[int]) -> list[Report]:
        return []


def _timed(action: Any) -> tuple[Any, float]:
    began = time.perf_counter()
    result = action()
    return result, time.perf_counter() - began


def measure_whole_graph(bank: IdentityBank, seed: int = clusters.DEFAULT_SEED) -> dict[str, Any]:
    graph, built = _timed(lambda: clusters.build_graph(bank.links))
    found, components_s = _timed(lambda: clusters.components(graph))
    communities, louvain_s = _timed(lambda: clusters.communities(graph, seed=seed))
    rings, rings_s = _timed(lambda: clusters.find_rings(bank.links, seed=seed))
    recovered = {r.members[0] for r in rings}
    return {
        "links": len(bank.links),
        "graph_nodes": graph.number_of_nodes(),
        "graph_edges": graph.number_of_edges(),
        "build_graph_s": round(built, 2),
        "components_s": round(components_s, 2),
        "components": len(found),
        "largest_component": len(found[0]) if found else 0,
        "louvain_all_links_s": round(louvain_s, 2),
        "louvain_communities": len(communities),
        "focused_links": len(clusters.focus(bank.links)),
        "find_rings_focused_s": round(rings_s, 2),
        "rings_planted": len(bank.rings),
        "rings_found": len(rings),
        "planted_rings_found": sum(1 for members in bank.rings if members[0] in recovered),
    }


def measure_incremental(bank: IdentityBank, events: int, seed: int = 1) -> dict[str, Any]:
    """Per-event cost of the stream's ring path for ring members, ordinary customers
    and customers holding a placeholder phone (a third each)."""
    rng = random.Random(f"bench-clusters-events:{seed}")
    params = IdentityRingParams()
    ring_members = [m for members in bank.rings for m in members]
    pools = {
        "ring_member": ring_members,
        "ordinary": list(bank.customers),
        "placeholder": bank.placeholder_holders or list(bank.customers),
    }
    source = BenchHistory(bank)
    figures: dict[str, Any] = {"incremental_events": events}
    for name, pool in pools.items():
        micros, questions, sizes = [], [], []
        for _ in range(max(1, events // len(pools))):
            seed_customer = bank.customers[rng.choice(pool)]
            before = source.questions
            began = time.perf_counter()
            ctx = Context(source, HistoryWindows())  # a batch of its own: nothing cached
            component = expand_component(
                ctx,
                seed_customer,
                NOW_MS,
                max_members=params.max_members,
                max_holders=params.max_holders,
                max_hops=params.max_hops,
            )
            ring = component.core(seed_customer.customer_id, int(params.burst_days * DAY_MS))
            ring_signals(ring, params)
            micros.append((time.perf_counter() - began) * 1e6)
            questions.append(source.questions - before)
            sizes.append(len(component.members))
        micros.sort()
        figures[f"{name}_us_mean"] = round(statistics.fmean(micros), 1)
        figures[f"{name}_us_p50"] = round(micros[len(micros) // 2], 1)
        figures[f"{name}_us_p99"] = round(micros[min(len(micros) - 1, len(micros) * 99 // 100)], 1)
        figures[f"{name}_round_trips_mean"] = round(statistics.fmean(questions), 2)
        figures[f"{name}_round_trips_max"] = max(questions)
        figures[f"{name}_component_max"] = max(sizes)
    return figures


def measure_clusters(edges: int = 1_000_000, events: int = 3000, seed: int = 1) -> dict[str, Any]:
    bank, generated = _timed(lambda: synthetic_identity_bank(edges, seed))
    figures: dict[str, Any] = {
        "customers": len(bank.customers),
        "generate_s": round(generated, 2),
    }
    figures |= measure_whole_graph(bank)
    figures |= measure_incremental(bank, events, seed)
    # Linux reports the peak resident set in KiB.
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return figures

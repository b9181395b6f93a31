"""Live mode: a paced stream of inserts, updates and deletes against PostgreSQL.

Generators run on a simulated clock that goes `time_scale` times faster than the
wall clock (default 3,600: an hour of bank life per second), so a mule chain's
hours-apart hops land seconds apart. `LiveSink` queues each event at the wall time
its simulated time maps to, and every tick writes what has fallen due in one small
transaction — inserts in foreign-key order, then updates, then erasures — with
event times rewritten to that wall time: in live mode event time is now.
"""

# ruff: noqa: S311 - a simulation: seeded, reproducible randomness is the point, not secrecy

from __future__ import annotations

import heapq
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from fraudgraph.simulator import activities as act
from fraudgraph.simulator import reports
from fraudgraph.simulator.catalog import lognormal_cents
from fraudgraph.simulator.constraints import FOREIGN_KEYS
from fraudgraph.simulator.families import get_family
from fraudgraph.simulator.generator import case_id, vary
from fraudgraph.simulator.ids import IdAllocator
from fraudgraph.simulator.labels import Label
from fraudgraph.simulator.loader import SCHEMA, copy_rows, copy_statement, max_ids, translated
from fraudgraph.simulator.options import SimulationOptions
from fraudgraph.simulator.population import build_population
from fraudgraph.simulator.rows import PRIMARY_KEYS, TABLE_OF, TABLE_ORDER, Row
from fraudgraph.simulator.sink import BulkSink, EraseLogins, Update
from fraudgraph.simulator.typologies import Case
from fraudgraph.simulator.world import DAY, Person, World, to_dt

Event = Row | Update | EraseLogins


@dataclass(frozen=True)
class LiveOptions:
    rate: float = 2000.0  # everyday transactions per wall second
    duration: float = 0.0  # wall seconds; 0 runs until interrupted
    time_scale: float = 3600.0  # simulated seconds per wall second
    case_every: float = 2.0  # wall seconds between fraud cases; 0 injects none
    case_horizon: float = 8.0  # wall seconds a case may take at most
    tick: float = 0.05  # wall seconds between database transactions
    rare_every: int = 2500  # one contact change, freeze or departure per this many transactions


class Clock:
    """Simulated time runs `scale` times faster than wall time from a common origin."""

    def __init__(self, origin: float, scale: float) -> None:
        self.origin = origin
        self.scale = scale

    def sim(self, wall: float) -> float:
        return self.origin + (wall - self.origin) * self.scale

    def wall(self, sim: float) -> float:
        return self.origin + (sim - self.origin) / self.scale

    def wall_dt(self, value: datetime) -> datetime:
        return datetime.fromtimestamp(self.wall(value.timestamp()), UTC)


class LiveSink:
    """Queues events at the wall time their simulated time maps to.

    A row never falls due before a queued row it references (nor an update before
    its row), so foreign keys hold whatever order the generators emitted in.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._queue: list[tuple[float, int, Event]] = []
        self._seq = 0
        self._queued_due: dict[tuple[str, int], float] = {}

    def _after_references(self, table: str, row: Row, due: float) -> float:
        for column, target in FOREIGN_KEYS.get(table, ()):
            value = getattr(row, column)
            if value is not None:
                due = max(due, self._queued_due.get((target, value), due))
        return due

    def _push(self, due: float, event: Event) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (due, self._seq, event))

    def _rebased(self, row: Row) -> Row:
        changes: dict[str, Any] = {
            name: self.clock.wall_dt(value)
            for name, value in zip(row._fields, row, strict=True)
            if isinstance(value, datetime)
        }
        return row._replace(**changes) if changes else row

    def insert(self, row: Row) -> None:
        rebased = self._rebased(row)
        table = TABLE_OF[type(row)]
        times = [value.timestamp() for value in rebased if isinstance(value, datetime)]
        due = self._after_references(table, rebased, min(times) if times else 0.0)
        self._queued_due[(table, int(rebased[0]))] = due
        self._push(due, rebased)

    def update(self, table: str, key: int, at: datetime, **changes: Any) -> None:
        wall_at = self.clock.wall_dt(at)
        rebased = {
            k: self.clock.wall_dt(v) if isinstance(v, datetime) else v for k, v in changes.items()
        }
        due = max(wall_at.timestamp(), self._queued_due.get((table, key), 0.0))
        self._push(due, Update(table, key, wall_at, rebased))

    def erase_logins(self, customer_id: int, at: datetime) -> None:
        wall_at = self.clock.wall_dt(at)
        self._push(wall_at.timestamp(), EraseLogins(customer_id, wall_at))

    def due(self, now: float) -> list[Event]:
        events = []
        while self._queue and self._queue[0][0] <= now:
            event = heapq.heappop(self._queue)[2]
            if not isinstance(event, Update | EraseLogins):
                self._queued_due.pop((TABLE_OF[type(event)], int(event[0])), None)
            events.append(event)
        return events

    def pending(self) -> int:
        return len(self._queue)


@dataclass
class LiveStats:
    seconds: float = 0.0
    everyday_txns: int = 0
    inserted: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    deleted_logins: int = 0
    batches: int = 0
    cases: int = 0
    dropped_events: int = 0

    @property
    def transactions(self) -> int:
        return self.inserted["transactions"]

    @property
    def txn_rate(self) -> float:
        return self.transactions / self.seconds if self.seconds > 0 else 0.0


def write_batch(
    conn: psycopg.Connection[tuple[object, ...]], events: list[Event], stats: LiveStats
) -> None:
    """One transaction: inserts (FK order), updates, then login erasures."""
    rows: dict[str, list[Row]] = {}
    updates: dict[tuple[str, tuple[str, ...]], list[tuple[object, ...]]] = {}
    erasures: list[int] = []
    for event in events:
        if isinstance(event, Update):
            names = tuple(sorted(event.changes))
            updates.setdefault((event.table, names), []).append(
                (*(event.changes[n] for n in names), event.key)
            )
        elif isinstance(event, EraseLogins):
            erasures.append(event.customer_id)
        else:
            rows.setdefault(TABLE_OF[type(event)], []).append(event)
    with translated("live write failed"), conn.transaction(), conn.cursor() as cursor:
        for table in TABLE_ORDER:
            batch = rows.get(table)
            if not batch:
                continue
            with cursor.copy(
                copy_statement(table).as_string(conn).replace(" (FORMAT BINARY)", "")
            ) as copy:
                for row in batch:
                    copy.write_row(row)
            stats.inserted[table] += len(batch)
        for (table, names), params in updates.items():
            statement = sql.SQL("UPDATE {} SET {} WHERE {} = %s").format(
                sql.Identifier(SCHEMA, table),
                sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(n)) for n in names),
                sql.Identifier(PRIMARY_KEYS[table]),
            )
            cursor.executemany(statement, params)
            stats.updated[table] += len(params)
        for customer_id in erasures:
            cursor.execute("DELETE FROM bank.logins WHERE customer_id = %s", (customer_id,))
            stats.deleted_logins += max(0, cursor.rowcount)
    stats.batches += 1


def everyday_event(w: World, rng: random.Random, person: Person, at: float) -> int:
    """One piece of everyday life now; returns how many transactions it made."""
    roll = rng.random()
    if roll < 0.3:
        act.session(w, rng, person, at)
    roll = rng.random()
    if roll < 0.80:
        return 1 if act.card_payment(w, rng, person, at) else 0
    if roll < 0.88:
        return 1 if act.p2p(w, rng, person, at) else 0
    if roll < 0.95:
        return 1 if act.atm(w, rng, person, at) else 0
    cents = lognormal_cents(rng, 120, 1.0, person.currency)
    act.transfer(
        w, rng, person, at, cents, to_iban=person.rent_iban or w.external_iban(person.country.code)
    )
    return 1


def rare_event(
    w: World, rng: random.Random, person: Person, at: float, active: list[Person]
) -> None:
    """Contact changes, freezes, departures (whose logins are erased soon after)."""
    roll = rng.random()
    if roll < 0.5:
        act.session(w, rng, person, at)
        act.update_contact(w, person, at + 60, email=rng.random() < 0.6, phone=rng.random() < 0.6)
    elif roll < 0.7:
        when = to_dt(at)
        w.sink.update("accounts", person.checking, when, status="frozen", updated_at=when)
        active.remove(person)
    else:
        when = to_dt(at)
        person.active_until = at
        for account in person.accounts:
            w.sink.update("accounts", account, when, status="closed", updated_at=when)
        for card in person.cards:
            w.sink.update("cards", card, when, status="blocked")
        w.sink.erase_logins(person.customer_id, to_dt(at + rng.uniform(0.05, 0.2) * DAY))
        active.remove(person)


class LiveRun:
    """Drives the live stream; `run()` returns when the duration is up or on Ctrl-C."""

    def __init__(
        self,
        conn: psycopg.Connection[tuple[object, ...]],
        *,
        world: World,
        clock: Clock,
        options: SimulationOptions,
        live: LiveOptions,
        active: list[Person],
    ) -> None:
        self.conn = conn
        self.world = world
        self.clock = clock
        self.options = options
        self.live = live
        self.active = active
        self.rng = random.Random(f"live:{options.seed}")
        self.cases: list[Case] = []
        self.stats = LiveStats()
        self.flushed_until = clock.origin
        self.family = get_family(options.generator)
        weights = {name: options.spec(name).count for name in self.family.typologies}
        self._typologies = [name for name, count in weights.items() if count > 0]
        self._weights = [weights[name] for name in self._typologies]

    def _inject_case(self, now: float) -> None:
        name = self.rng.choices(self._typologies, self._weights)[0]
        typology = self.family.typologies[name]
        start = self.clock.sim(now)
        span = min(typology.span, self.live.case_horizon * self.clock.scale)
        index = len(self.cases) + 1
        prefix = f"live-{self.family.case_prefix}"
        case = Case(name, case_id(name, index, prefix=prefix), index, typology.kind)
        size = vary(self.rng, self.options.spec(name).size, typology.min_size)
        typology.inject(self.world, self.rng, case, start=start, end=start + span, size=size)
        if case.entities:
            self.cases.append(case)
            self.stats.cases += 1
            reports.reveal_cases(
                self.world,
                self.rng,
                [case],
                self.options.reveal_share,
                latest=float("inf"),
                delay=(0.1 * span, 0.3 * span),
            )

    def run(self, on_tick: Callable[[LiveStats, float], None] | None = None) -> LiveStats:
        live, w, sink = self.live, self.world, self.world.sink
        assert isinstance(sink, LiveSink)
        origin = self.clock.origin
        next_case = (
            origin + live.case_every if live.case_every > 0 and self._typologies else float("inf")
        )
        last_case_start = (
            origin + live.duration - live.case_horizon if live.duration else float("inf")
        )
        made = 0
        rare_every = max(1, live.rare_every)
        try:
            while True:
                now = time.time()
                elapsed = now - origin
                if live.duration and elapsed >= live.duration:
                    break
                target = int(elapsed * live.rate)
                budget = int(live.rate)  # never generate more than a second's worth per tick
                at = self.clock.sim(now)
                while made < target and budget > 0 and self.active:
                    person = self.active[self.rng.randrange(len(self.active))]
                    made += max(1, everyday_event(w, self.rng, person, at))
                    budget -= 1
                    if self.rng.randrange(rare_every) == 0 and len(self.active) > 10:
                        rare_event(w, self.rng, person, at, self.active)
                self.stats.everyday_txns = made
                if now >= next_case and now <= last_case_start:
                    self._inject_case(now)
                    next_case += live.case_every
                events = sink.due(now)
                if events:
                    write_batch(self.conn, events, self.stats)
                self.flushed_until = now
                self.stats.seconds = time.time() - origin
                if on_tick is not None:
                    on_tick(self.stats, elapsed)
                time.sleep(max(0.0, live.tick - (time.time() - now)))
        except KeyboardInterrupt:
            pass
        self.stats.seconds = time.time() - origin
        self.stats.dropped_events = sink.pending()
        return self.stats

    def labels(self) -> list[Label]:
        """Labels of the live cases, in wall time, limited to what was written."""
        limit = self.flushed_until
        labels: list[Label] = []
        for case in self.cases:
            for label in case.labels():
                first = self.clock.wall(label.first_event_at.timestamp())
                if first > limit:
                    continue
                last = min(limit, self.clock.wall(label.last_event_at.timestamp()))
                labels.append(
                    Label(
                        label.typology,
                        label.case_id,
                        label.entity_type,
                        label.entity_id,
                        label.role,
                        datetime.fromtimestamp(first, UTC),
                        datetime.fromtimestamp(last, UTC),
                        label.kind,
                    )
                )
        return labels


def _same_population(
    conn: psycopg.Connection[tuple[object, ...]], staged: dict[str, list[Row]]
) -> bool:
    """Does the database already hold this seed's population (a bulk load of it)?"""
    customers, accounts = staged["customers"], staged["accounts"]
    probes = [
        ("customers", "full_name", customers[0]),
        ("customers", "full_name", customers[-1]),
        ("accounts", "iban", accounts[-1]),
    ]
    with translated("cannot compare the population"):
        for table, column, row in probes:
            query = sql.SQL("SELECT {} FROM {} WHERE {} = %s").format(
                sql.Identifier(column),
                sql.Identifier(SCHEMA, table),
                sql.Identifier(PRIMARY_KEYS[table]),
            )
            found = conn.execute(query, (row[0],)).fetchone()
            if found is None or found[0] != getattr(row, column):
                conn.rollback()
                return False
        conn.rollback()
    return True


def prepare(
    conn: psycopg.Connection[tuple[object, ...]], options: SimulationOptions, now: float
) -> tuple[World, list[Person], str]:
    """The live world: this seed's population, reused from the database when a bulk
    load of it is there, otherwise inserted now (ids after the current maxima)."""

    def build(starts: dict[str, int] | None) -> tuple[World, BulkSink]:
        staging = BulkSink()
        world = World(
            seed=options.seed, start=now, end=float("inf"), sink=staging, ids=IdAllocator(starts)
        )
        build_population(world, random.Random(f"population:{options.seed}"), options.customers)
        return world, staging

    maxima = max_ids(conn)
    world, staging = build(None)
    staged = {t: [r for _, r in sorted(rows.items())] for t, rows in staging.tables.items()}
    if maxima["customers"] and _same_population(conn, staged):
        how = "reused from the database"
    else:
        if any(maxima.values()):
            world, staging = build({t: m + 1 for t, m in maxima.items()})
            staged = {t: [r for _, r in sorted(rows.items())] for t, rows in staging.tables.items()}
        copy_rows(conn, staged)
        how = "inserted"
    maxima = max_ids(conn)
    world.ids = IdAllocator({t: max(m + 1, world.ids.peek(t)) for t, m in maxima.items()})
    with translated("cannot read account states"):
        inactive = {
            int(str(row[0]))
            for row in conn.execute(
                "SELECT DISTINCT customer_id FROM bank.accounts WHERE status <> 'open'"
            )
        }
        conn.rollback()
    active = [
        p
        for p in world.individuals
        if p.cards and p.customer_id not in inactive and p.active_until == float("inf")
    ]
    return world, active, how

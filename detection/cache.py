"""The worker's memory of the past, kept across batches.

Reading an entity's 35-day history from Neo4j for every batch made the cost of a
batch grow with the history of everyone in it (measured: ~100 µs per payment read
back, so a 1,000-payment batch re-read ~40,000 payments, seconds per batch). Here
each entity's window is read from the graph once, then kept up to date with the
changes this worker itself writes (`absorb`), so in steady state a batch reads
almost nothing back.

What may be stale, and for how long:
- One worker sees every change, so what it holds is exact.
- With several workers, changes another worker writes (its partitions) reach this
  cache only when the entry is read again from the graph: every entry is re-read
  after `refresh_seconds` (spread by jitter so they do not all expire at once).
- Updates and deletes of payments and logins are not patched in place: the entries
  they touch are dropped and re-read, as the graph (LSN-guarded) is the truth about
  which version won; inserts are added only if not held yet, so a redelivered older
  change never replaces what is there.
- While a batch is judged *as it is being written* (stream/processor.py, step 3), an
  entry read from the graph may or may not hold the batch's own rows yet: the batch's
  inserts are kept aside as in flight and added to every entry read meanwhile, so
  either way the entry holds them once (`absorb(..., in_flight=True)`, `landed`). Only
  append-only batches are judged that way (`overlap_safe`): an update's winner is the
  graph's to say, and what is keyed (accounts, customers, …) is read whole.
"""

from __future__ import annotations

import bisect
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from fraudgraph.cdc.changes import RowChange
from fraudgraph.detection import records
from fraudgraph.detection.history import (
    AccountInfo,
    CustomerInfo,
    HistorySource,
    IdentityKey,
    Login,
    MerchantInfo,
    Report,
    Txn,
)
from fraudgraph.detection.records import RecordBuilder

R = TypeVar("R", Txn, Login)
K = TypeVar("K")
V = TypeVar("V")
# Entries are fetched open-ended ("everything from lo on"), as absorbing keeps them
# current from then on; the graph is asked up to this instant (year 2255).
OPEN_END_MS = 9_000_000_000_000
TRIM_EVERY_SECONDS = 30.0
# Windows are read and kept this much further back than a batch asks: batches do not
# arrive in event-time order (partitions, late rows), and a batch whose earliest event
# is a little older than the last one's must not make every entry be read again (seen:
# login windows re-read batch after batch under a live load).
SLACK_MS = 6 * 3_600_000
# Stale record ids a timeline index may keep before it is rebuilt (`drop_holding`).
HOLDERS_SLACK = 10_000


def _txn_order(txn: Txn) -> tuple[int, int]:
    return (txn.at, txn.txn_id)


def _login_order(login: Login) -> tuple[int, int]:
    return (login.at, login.login_id)


@dataclass
class _Timeline(Generic[R]):
    """One entity's records from `lo` on, sorted by (event time, id)."""

    lo: int
    expires: float
    order: list[tuple[int, int]] = field(default_factory=list)
    items: list[R] = field(default_factory=list)
    # The event times alone, in the same order: windows are cut by time, and bisecting
    # ints is cheaper than bisecting (time, id) pairs, read for every window.
    times: list[int] = field(default_factory=list)

    def window(self, since: int, until: int) -> list[R]:
        start = bisect.bisect_left(self.times, since)
        stop = bisect.bisect_right(self.times, until, start)
        return self.items[start:stop]

    def add(self, place: tuple[int, int], item: R) -> bool:
        index = bisect.bisect_left(self.order, place)
        if index < len(self.order) and self.order[index] == place:
            return False  # held already (a redelivery): keep what is there
        self.order.insert(index, place)
        self.items.insert(index, item)
        self.times.insert(index, place[0])
        return True

    def trim(self, before: int) -> int:
        """Forget records older than `before`; returns how many were dropped."""
        if before <= self.lo:
            return 0
        cut = bisect.bisect_left(self.times, before)
        del self.order[:cut]
        del self.items[:cut]
        del self.times[:cut]
        self.lo = before
        return cut


class WindowIndex(Generic[R]):
    """Per entity id: a timeline of payments or logins, read from the graph on demand."""

    def __init__(
        self,
        fetch: Callable[[Collection[int], int, int], Mapping[int, list[R]]],
        order_of: Callable[[R], tuple[int, int]],
        *,
        refresh_seconds: float,
        clock: Callable[[], float],
        jitter: Callable[[], float],
        by_record_id: bool = False,
    ) -> None:
        self.fetch: Callable[[Collection[int], int, int], Mapping[int, list[R]]] = fetch
        self.order_of: Callable[[R], tuple[int, int]] = order_of
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self.jitter = jitter
        self.held: OrderedDict[int, _Timeline[R]] = OrderedDict()
        self.records = 0
        self.reads = 0  # graph round trips, for the metrics and the tests
        self.keys_read = 0  # entities those round trips asked for
        # Rows of the batch being written right now, per entity (see the module notes).
        self.in_flight: dict[int, list[R]] = {}
        # Record id -> the entities whose timelines may hold it, where records are
        # deleted by id alone (`drop_holding`). A superset: entries stay when a timeline
        # lets its records go, and are rebuilt once they outnumber what is held twice.
        self._holders: dict[int, tuple[int, ...]] | None = {} if by_record_id else None

    def _put(self, i: int, timeline: _Timeline[R], item: R) -> bool:
        place = self.order_of(item)
        added = timeline.add(place, item)
        holders = self._holders
        if added and holders is not None:
            held_by: tuple[int, ...] = holders.get(place[1], ())
            if i not in held_by:
                holders[place[1]] = (*held_by, i)
        return added

    def _prune_holders(self) -> None:
        """Rebuilt from what is held once stale entries outnumber it (amortised O(1))."""
        if self._holders is None or len(self._holders) <= 2 * self.records + HOLDERS_SLACK:
            return
        holders: dict[int, tuple[int, ...]] = {}
        for entity, timeline in self.held.items():
            for _, record_id in timeline.order:
                held_by: tuple[int, ...] = holders.get(record_id, ())
                if entity not in held_by:
                    holders[record_id] = (*held_by, entity)
        self._holders = holders

    def _fresh(self, timeline: _Timeline[R] | None, lo: int, now: float) -> bool:
        return timeline is not None and timeline.lo <= lo and now < timeline.expires

    def load(self, ids: Iterable[int], lo: int) -> None:
        now = self.clock()
        wanted = set(ids)
        missing = [i for i in wanted if not self._fresh(self.held.get(i), lo, now)]
        for i in wanted:
            if i in self.held:
                self.held.move_to_end(i)
        if not missing:
            return
        self.reads += 1
        self.keys_read += len(missing)
        lo -= SLACK_MS
        found = self.fetch(missing, lo, OPEN_END_MS)
        expires = now + self.refresh_seconds * self.jitter()
        for i in missing:
            self.drop(i)
            timeline: _Timeline[R] = _Timeline(lo=lo, expires=expires)
            for item in sorted(found.get(i, []), key=self.order_of):
                self._put(i, timeline, item)
            for item in self.in_flight.get(i, ()):  # held once, whether the read saw it or not
                if self.order_of(item)[0] >= timeline.lo:
                    self._put(i, timeline, item)
            self.held[i] = timeline
            self.records += len(timeline.items)
        self._prune_holders()

    def window(self, i: int, since: int, until: int) -> list[R]:
        # A held, fresh timeline is read without `load`'s set and list: every detector
        # asks for windows one entity at a time, and the batch's prefetch has already
        # loaded nearly all of them (that detour was a tenth of detection at 1,000 tx/s).
        timeline = self.held.get(i)
        if timeline is not None and self._fresh(timeline, since, self.clock()):
            self.held.move_to_end(i)
        else:
            self.load([i], since)
            timeline = self.held[i]
        return timeline.window(since, until)

    def add(self, i: int | None, item: R, *, in_flight: bool = False) -> None:
        """A record this worker wrote: into its entity's timeline, if that is held; one
        `in_flight` (being written) also into any timeline read before it lands."""
        if in_flight and i is not None:
            self.in_flight.setdefault(i, []).append(item)
        timeline = self.held.get(i) if i is not None else None
        if timeline is not None and i is not None and self.order_of(item)[0] >= timeline.lo:
            self.records += self._put(i, timeline, item)
            self._prune_holders()

    def drop(self, i: int | None) -> None:
        timeline = self.held.pop(i, None) if i is not None else None
        if timeline is not None:
            self.records -= len(timeline.items)
            self._prune_holders()

    def drop_holding(self, ids: Collection[int]) -> None:
        """Forget every timeline holding a record with one of these ids: what deletes
        that name only their rows' ids may have changed. Indexed by record id, only the
        timelines that may hold one are looked through, not every one held (a batch with
        an erased login walked every customer's logins)."""
        candidates: Iterable[int] = (
            list(self.held)
            if self._holders is None
            else {entity for record in ids for entity in self._holders.get(record, ())}
        )
        holding = [
            entity
            for entity in candidates
            if (timeline := self.held.get(entity)) is not None
            and any(place[1] in ids for place in timeline.order)
        ]
        for entity in holding:
            self.drop(entity)

    def clear(self) -> None:
        self.held.clear()
        self.records = 0
        if self._holders is not None:
            self._holders = {}

    def trim(self, before: int) -> None:
        for timeline in self.held.values():
            self.records -= timeline.trim(before - SLACK_MS)
        self._prune_holders()

    def evict_oldest(self) -> None:
        _, timeline = self.held.popitem(last=False)
        self.records -= len(timeline.items)
        self._prune_holders()


class KeyIndex(Generic[K, V]):
    """Per key: one answer (an account, a customer, …), read from the graph on demand."""

    def __init__(
        self,
        fetch: Callable[[Collection[K]], Mapping[K, V]],
        *,
        refresh_seconds: float,
        clock: Callable[[], float],
        jitter: Callable[[], float],
    ) -> None:
        self.fetch = fetch
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self.jitter = jitter
        self.held: OrderedDict[K, tuple[V | None, float]] = OrderedDict()
        self.reads = 0
        self.keys_read = 0

    def load(self, keys: Iterable[K]) -> None:
        now = self.clock()
        missing = [k for k in set(keys) if (held := self.held.get(k)) is None or now >= held[1]]
        if not missing:
            return
        self.reads += 1
        self.keys_read += len(missing)
        found = self.fetch(missing)
        expires = now + self.refresh_seconds * self.jitter()
        for k in missing:
            self.held[k] = (found.get(k), expires)

    def get(self, key: K) -> V | None:
        held = self.held.get(key)
        if held is None or self.clock() >= held[1]:  # as `load`, without its set and list
            self.load([key])
            held = self.held[key]
        return held[0]

    def peek(self, key: K) -> V | None:
        held = self.held.get(key)
        return held[0] if held is not None else None

    def drop(self, key: K | None) -> None:
        if key is not None:
            self.held.pop(key, None)

    def drop_where(self, names: Callable[[V | None], bool]) -> None:
        """Forget every answer held for which `names` is true."""
        for key in [k for k, (value, _) in self.held.items() if names(value)]:
            del self.held[key]

    def clear(self) -> None:
        self.held.clear()

    def trim_to(self, most: int) -> None:
        while len(self.held) > most:
            self.held.popitem(last=False)


class HistoryCache:
    """Everything detectors read, held across batches; see the module notes."""

    def __init__(
        self,
        source: HistorySource,
        *,
        refresh_seconds: float = float("inf"),
        max_records: int = 2_000_000,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = lambda: random.uniform(0.75, 1.0),  # noqa: S311 - spreading expiries, not security
    ) -> None:
        self.source = source
        self.max_records = max_records
        self.clock = clock
        self._next_trim = 0.0
        timing: dict[str, Any] = {
            "refresh_seconds": refresh_seconds,
            "clock": clock,
            "jitter": jitter,
        }
        self.accounts: KeyIndex[int, AccountInfo] = KeyIndex(source.accounts, **timing)
        self.customers: KeyIndex[int, CustomerInfo] = KeyIndex(source.customers, **timing)
        self.merchants: KeyIndex[int, MerchantInfo] = KeyIndex(source.merchants, **timing)
        self.accounts_of: KeyIndex[int, list[int]] = KeyIndex(source.accounts_of, **timing)
        self.reports: KeyIndex[tuple[str, int], list[Report]] = KeyIndex(
            self._fetch_reports, **timing
        )
        # Who holds an identifier: asked hop by hop when a customer's component is
        # expanded, so worth keeping; dropped whenever a holder's identifiers change.
        self.sharing: KeyIndex[IdentityKey, list[int]] = KeyIndex(
            source.customers_sharing, **timing
        )
        self.sent: WindowIndex[Txn] = WindowIndex(source.sent, _txn_order, **timing)
        self.received: WindowIndex[Txn] = WindowIndex(source.received, _txn_order, **timing)
        self.cards: WindowIndex[Txn] = WindowIndex(source.card_txns, _txn_order, **timing)
        self.devices: WindowIndex[Txn] = WindowIndex(source.device_txns, _txn_order, **timing)
        self.logins: WindowIndex[Login] = WindowIndex(
            source.logins, _login_order, by_record_id=True, **timing
        )
        self._in_flight = False  # the batch being absorbed is still being written

    @property
    def windows(self) -> tuple[WindowIndex[Any], ...]:
        return (self.sent, self.received, self.cards, self.devices, self.logins)

    @property
    def records(self) -> int:
        return sum(index.records for index in self.windows)

    @property
    def keyed(self) -> tuple[KeyIndex[Any, Any], ...]:
        return (
            self.accounts,
            self.customers,
            self.merchants,
            self.accounts_of,
            self.reports,
            self.sharing,
        )

    @property
    def reads(self) -> int:
        return sum(i.reads for i in self.windows) + sum(i.reads for i in self.keyed)

    def reads_by_index(self) -> dict[str, tuple[int, int]]:
        """Per index: (graph round trips, keys they asked for) so far."""
        return {name: (index.reads, index.keys_read) for name, index in self._by_name().items()}

    def _by_name(self) -> dict[str, WindowIndex[Any] | KeyIndex[Any, Any]]:
        return {
            "sent": self.sent,
            "received": self.received,
            "cards": self.cards,
            "devices": self.devices,
            "logins": self.logins,
            "accounts": self.accounts,
            "customers": self.customers,
            "merchants": self.merchants,
            "accounts_of": self.accounts_of,
            "reports": self.reports,
            "sharing": self.sharing,
        }

    def set_refresh(self, seconds: float) -> None:
        """Re-read entries `seconds` after they were read, from now on. What is held
        is forgotten: it was read under the old bound."""
        for window in self.windows:
            window.refresh_seconds = seconds
            window.clear()
        for keyed in self.keyed:
            keyed.refresh_seconds = seconds
            keyed.clear()

    def _fetch_reports(
        self, keys: Collection[tuple[str, int]]
    ) -> dict[tuple[str, int], list[Report]]:
        found = self.source.reports(
            [i for kind, i in keys if kind == "c"], [i for kind, i in keys if kind == "a"]
        )
        by_key: dict[tuple[str, int], list[Report]] = {key: [] for key in keys}
        for report in found:
            if report.customer_id is not None and ("c", report.customer_id) in by_key:
                by_key[("c", report.customer_id)].append(report)
            if report.account_id is not None and ("a", report.account_id) in by_key:
                by_key[("a", report.account_id)].append(report)
        return by_key

    # -- keeping current -----------------------------------------------------------
    def absorb(
        self, changes: Sequence[RowChange], builder: RecordBuilder, *, in_flight: bool = False
    ) -> None:
        """The batch's changes applied to what is held: changes now in the graph, or,
        `in_flight`, inserts being written meanwhile (held aside until `landed`)."""
        if in_flight and not overlap_safe(changes):
            raise ValueError("only an append-only batch may be absorbed in flight")
        self._in_flight = in_flight
        # A deleted login names only its id (the source keeps no before-image): the
        # timelines holding one are forgotten, once per batch. Forgetting every
        # customer's logins instead made each later batch read its customers' month
        # of logins again, under a live load with erasures all day.
        erased = {
            login_id
            for change in changes
            if change.table == "logins"
            and change.row is None
            and (login_id := _key_int(change, "login_id")) is not None
        }
        if erased:
            self.logins.drop_holding(erased)
        # Likewise a report updated or deleted: the entries holding it, once per batch.
        moved = {
            report_id
            for change in changes
            if change.table == "fraud_reports"
            and change.op != "c"
            and (report_id := _key_int(change, "report_id")) is not None
        }
        if moved:
            self.reports.drop_where(
                lambda held: any(report.report_id in moved for report in held or ())
            )
        for change in changes:
            absorb = getattr(self, f"_absorb_{change.table}", None)
            if absorb is not None:
                absorb(change, builder)

    def _absorb_transactions(self, change: RowChange, builder: RecordBuilder) -> None:
        if change.row is None:  # a deleted payment: rare enough to start over
            for index in (self.sent, self.received, self.cards, self.devices):
                index.clear()
            return
        txn = builder.txn(change.row)
        targets = (
            (self.sent, txn.account_id),
            (self.received, txn.counterparty_account_id),
            (self.cards, txn.card_id),
            (self.devices, txn.device_id),
        )
        for index, entity in targets:
            if change.op in ("c", "r"):
                index.add(entity, txn, in_flight=self._in_flight)
            else:
                index.drop(entity)  # which version won is the graph's to say

    def _absorb_logins(self, change: RowChange, builder: RecordBuilder) -> None:
        if change.row is None:
            if _key_int(change, "login_id") is None:
                self.logins.clear()  # which login it was is unknown: any entry may hold it
            return  # else forgotten where held (`absorb`)
        login = records.login(change.row)
        if change.op in ("c", "r"):
            self.logins.add(login.customer_id, login, in_flight=self._in_flight)
        else:
            self.logins.drop(login.customer_id)

    def _absorb_customers(self, change: RowChange, builder: RecordBuilder) -> None:
        customer_id = _key_int(change, "customer_id")
        changed = list(builder.customer(change.row).identities) if change.row else []
        if customer_id is not None and customer_id in self.customers.held:
            before = self.customers.peek(customer_id)
            changed += before.identities if before is not None else ()
        elif change.op in ("u", "d"):
            # The identifiers it held before are unknown here: any entry may name it.
            self.sharing.clear()
        for identity in changed:
            self.sharing.drop(identity)
        self.customers.drop(customer_id)

    def _absorb_accounts(self, change: RowChange, builder: RecordBuilder) -> None:
        account_id = _key_int(change, "account_id")
        self.accounts.drop(account_id)
        # The owners' lists that may now be wrong: the new owner's, and any naming the
        # account (its owner before, as a delete or a move does not say who that was).
        # Dropping every list instead cost a round trip per customer asked afterwards:
        # hundreds a minute under a live load where accounts open, freeze and close.
        if change.row is not None:
            self.accounts_of.drop(records.account(change.row).customer_id)
        if change.op != "c":  # a new account is in no list yet: no walk over every list
            self.accounts_of.drop_where(lambda accounts: account_id in (accounts or ()))

    def _absorb_merchants(self, change: RowChange, builder: RecordBuilder) -> None:
        self.merchants.drop(_key_int(change, "merchant_id"))

    def _absorb_fraud_reports(self, change: RowChange, builder: RecordBuilder) -> None:
        # The entries the report now belongs in are read again; those holding an
        # updated or deleted one are forgotten in `absorb`. Forgetting every entry at
        # each report instead made the next batch read the reports of all its
        # customers and accounts again: ~200 keys every other batch at 1,000 tx/s.
        if change.row is not None:
            report = records.report(change.row)
            if report.customer_id is not None:
                self.reports.drop(("c", report.customer_id))
            if report.account_id is not None:
                self.reports.drop(("a", report.account_id))
        elif _key_int(change, "report_id") is None:
            self.reports.clear()  # which report it was is unknown: any entry may hold it

    def landed(self) -> None:
        """The batch absorbed in flight is in the graph now: reads will hold it."""
        for index in self.windows:
            index.in_flight.clear()

    def truncated(self, tables: Collection[str]) -> None:
        """Source tables were truncated: forget every entry built from their rows (the
        graph no longer holds them); what is asked next is read from the graph again."""
        held_from: dict[str, tuple[WindowIndex[Any] | KeyIndex[Any, Any], ...]] = {
            "transactions": (self.sent, self.received, self.cards, self.devices),
            "logins": (self.logins,),
            "customers": (self.customers, self.sharing),
            "accounts": (self.accounts, self.accounts_of),
            "merchants": (self.merchants,),
            "fraud_reports": (self.reports,),
        }
        for table in tables:
            for index in held_from.get(table, ()):
                index.clear()

    # -- bounded memory ------------------------------------------------------------
    def settle(self, earliest_needed: Mapping[str, int]) -> None:
        """After a batch: forget records no window needs, then the least recently used."""
        if self.clock() >= self._next_trim:  # a walk over every entry: not every batch
            self._next_trim = self.clock() + TRIM_EVERY_SECONDS
            for name, before in earliest_needed.items():
                getattr(self, name).trim(before)
        while self.records > self.max_records:
            largest = max(self.windows, key=lambda index: index.records)
            largest.evict_oldest()
        for keyed in (
            self.accounts,
            self.customers,
            self.merchants,
            self.accounts_of,
            self.sharing,
        ):
            keyed.trim_to(self.max_records // 10)
        self.reports.trim_to(self.max_records // 10)


# Tables whose rows the cache keeps by key, read whole from the graph: a change to
# one must be in the graph before it is read again.
_KEYED_TABLES = frozenset({"customers", "accounts", "merchants", "fraud_reports"})
_TIMELINE_TABLES = frozenset({"transactions", "logins"})


def _stands_in(change: RowChange) -> bool:
    """Whether the cache can stand in for the graph while `change` is written: a new
    payment or login, or a row the detectors never read; not an update or delete of
    what they read, nor a keyed row (customer, account, …)."""
    if change.table in _KEYED_TABLES:
        return False
    return change.table not in _TIMELINE_TABLES or (
        change.op in ("c", "r") and change.row is not None
    )


def overlap_safe(changes: Sequence[RowChange]) -> bool:
    """Whether every change of `changes` may be absorbed in flight."""
    return all(_stands_in(change) for change in changes)


def split_for_overlap(changes: Sequence[RowChange]) -> tuple[list[RowChange], list[RowChange]]:
    """(to write first, to write while the batch is judged): every change the cache
    cannot stand in for, with every other change of the same row, goes first (in a
    live stream, a handful); the rest may be absorbed in flight. Order is kept."""
    held_back = {(c.table, tuple(c.key.items())) for c in changes if not _stands_in(c)}
    first: list[RowChange] = []
    rest: list[RowChange] = []
    for change in changes:
        row = (change.table, tuple(change.key.items()))
        (first if row in held_back else rest).append(change)
    return first, rest


def _key_int(change: RowChange, column: str) -> int | None:
    value = change.key.get(column)
    return int(value) if value is not None else None

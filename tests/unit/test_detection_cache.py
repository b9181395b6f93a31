"""The worker's history cache: what it holds stays equal to what the graph would answer."""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from fraudgraph.cdc.changes import Position, RowChange
from fraudgraph.detection import cache as cache_module
from fraudgraph.detection.cache import (
    TRIM_EVERY_SECONDS,
    HistoryCache,
    WindowIndex,
    overlap_safe,
    split_for_overlap,
)
from fraudgraph.detection.detectors.scatter_gather import ScatterGather
from fraudgraph.detection.engine import DetectionEngine
from fraudgraph.detection.history import Login, Txn
from fraudgraph.detection.memory_history import MemoryHistory
from fraudgraph.detection.offline import changes_of
from fraudgraph.detection.records import RecordBuilder
from fraudgraph.detection.registry import build_detectors
from fraudgraph.detection.settings import DetectionConfig
from fraudgraph.graph.mapping import default_mapping
from fraudgraph.simulator.generator import SimulatedBank, generate
from fraudgraph.simulator.options import SimulationOptions, default_fraud
from tests.unit.detect_support import TEST_HASHER
from tests.unit.test_detect_flow_shapes import scatter_gather_bank

DAY_MS = 86_400_000
T0 = 1_780_000_000_000


class CountingHistory(MemoryHistory):
    """A memory history counting the payments it hands out: what Neo4j would send back."""

    def __init__(self, builder: RecordBuilder) -> None:
        super().__init__(builder)
        self.payments_read = 0

    def sent(self, account_ids: Collection[int], since: int, until: int) -> Mapping[int, list[Txn]]:
        found = super().sent(account_ids, since, until)
        self.payments_read += sum(map(len, found.values()))
        return found

    def received(
        self, account_ids: Collection[int], since: int, until: int
    ) -> Mapping[int, list[Txn]]:
        found = super().received(account_ids, since, until)
        self.payments_read += sum(map(len, found.values()))
        return found


def _builder() -> RecordBuilder:
    return RecordBuilder(default_mapping(), TEST_HASHER)


def _small_bank(seed: int, customers: int = 300) -> SimulatedBank:
    """A week of a small simulated bank with its default fraud cases."""
    return generate(
        SimulationOptions(
            seed=seed,
            customers=customers,
            days=7,
            start=datetime(2026, 3, 2, tzinfo=UTC),
            fraud=default_fraud(customers),
        )
    )


def test_a_worker_fed_batch_by_batch_raises_what_fresh_reads_of_the_graph_raise() -> None:
    """The history grows as a graph does (each batch written before detection); one
    engine keeps its cache across batches, the other reads everything afresh per batch.
    Same alerts, batch by batch, and far fewer payments read back from the source."""
    bank = _small_bank(seed=3)
    builder = _builder()
    config = DetectionConfig()
    graph_kept = CountingHistory(builder)
    graph_fresh = CountingHistory(builder)
    kept = DetectionEngine(graph_kept, config, builder, build_detectors(config), clock_ms=lambda: 0)
    fresh = DetectionEngine(
        graph_fresh, config, builder, build_detectors(config), clock_ms=lambda: 0
    )
    changes = changes_of(bank.tables, "time")
    raised = 0
    for start in range(0, len(changes), 500):
        batch = changes[start : start + 500]
        for history in (graph_kept, graph_fresh):
            for change in batch:
                assert change.row is not None
                history.add_rows(change.table, [change.row])
        fresh.cache = HistoryCache(graph_fresh)
        kept_result, fresh_result = kept.run(batch), fresh.run(batch)
        assert [a["alert_id"] for a in kept_result.alerts] == [
            a["alert_id"] for a in fresh_result.alerts
        ], f"batch at {start}"
        raised += len(kept_result.alerts)
        kept.confirm(kept_result)
        fresh.confirm(fresh_result)
    assert raised > 10  # the bank's fraud was found, so the comparison meant something
    assert graph_kept.payments_read * 5 < graph_fresh.payments_read, (
        graph_kept.payments_read,
        graph_fresh.payments_read,
    )


def test_batches_judged_in_flight_raise_what_judging_after_the_write_raises() -> None:
    """The worst case for judging while the write runs: the graph receives a batch's
    in-flight rows only after the detectors are done with it (the rest, written
    first, before). Same alerts, batch by batch, as judging each batch after its write."""
    bank = _small_bank(seed=4)
    builder = _builder()
    config = DetectionConfig()
    graph_late, graph_first = MemoryHistory(builder), MemoryHistory(builder)
    overlapped = DetectionEngine(
        graph_late, config, builder, build_detectors(config), clock_ms=lambda: 0
    )
    after = DetectionEngine(
        graph_first, config, builder, build_detectors(config), clock_ms=lambda: 0
    )
    changes = changes_of(bank.tables, "time")
    raised = in_flight = 0

    def write(history: MemoryHistory, rows: Sequence[RowChange]) -> None:
        for change in rows:
            assert change.row is not None
            history.add_rows(change.table, [change.row])

    for start in range(0, len(changes), 500):
        batch = changes[start : start + 500]
        write(graph_first, batch)
        first, late = overlapped.overlap_split(batch)
        write(graph_late, first)
        late_result = overlapped.run(first, in_flight=late)
        write(graph_late, late)
        in_flight += len(late)
        after_result = after.run(batch)
        assert [a["alert_id"] for a in late_result.alerts] == [
            a["alert_id"] for a in after_result.alerts
        ], f"batch at {start}"
        raised += len(after_result.alerts)
        overlapped.confirm(late_result)
        after.confirm(after_result)
    assert raised > 10 and in_flight > len(changes) // 2, (raised, in_flight)


def test_a_row_with_an_update_in_the_batch_is_written_first_whole() -> None:
    insert, later = _txn_change(1, 7, T0), _txn_change(2, 7, T0 + 1000)
    update = _txn_change(1, 7, T0, op="u", status="reversed")
    customer = _customer_change(5, "+44 20 7946 0000", op="c")
    first, rest = split_for_overlap([insert, later, update, customer])
    assert first == [insert, update, customer] and rest == [later]


def test_a_window_read_while_its_rows_are_in_flight_holds_them_once() -> None:
    builder = _builder()
    history = MemoryHistory(builder)
    cache = _cache(history, Clock())
    _written(history, _txn_change(1, 7, T0))
    batch = [_txn_change(2, 7, T0 + 1000), _txn_change(3, 8, T0 + 2000)]
    cache.absorb(batch, builder, in_flight=True)
    # Account 7 read before its new row landed, account 8 after: one copy each.
    assert [t.txn_id for t in cache.sent.window(7, T0 - DAY_MS, T0 + DAY_MS)] == [1, 2]
    _written(history, batch[1])
    assert [t.txn_id for t in cache.sent.window(8, T0 - DAY_MS, T0 + DAY_MS)] == [3]
    cache.landed()
    assert all(not index.in_flight for index in cache.windows)


def test_only_append_only_batches_may_be_absorbed_in_flight() -> None:
    builder = _builder()
    cache = _cache(MemoryHistory(builder), Clock())
    assert overlap_safe([_txn_change(1, 7, T0), _txn_change(2, 7, T0, op="r")])
    update = _txn_change(1, 7, T0, op="u", status="reversed")
    assert not overlap_safe([_txn_change(2, 7, T0), update])
    assert not overlap_safe([_customer_change(5, "+44 20 7946 0000", op="c")])
    with pytest.raises(ValueError, match="append-only"):
        cache.absorb([update], builder, in_flight=True)


def _txn_change(
    txn_id: int, account: int, at: int, *, op: str = "c", status: str = "posted"
) -> RowChange:
    row: dict[str, Any] = {
        "txn_id": txn_id,
        "account_id": account,
        "channel": "transfer",
        "amount": "10.00",
        "currency": "EUR",
        "status": status,
        "created_at": datetime.fromtimestamp(at / 1000, UTC),
        "counterparty_account_id": None,
        "counterparty_iban": None,
        "merchant_id": None,
        "card_id": None,
        "device_id": None,
        "ip_address": None,
        "latitude": None,
        "longitude": None,
    }
    return _change("transactions", "txn_id", row, op=op, at=at)


def _change(table: str, key: str, row: dict[str, Any], *, op: str, at: int) -> RowChange:
    """A change of `row` (keyed by its column `key`), with no after-image if a delete."""
    return RowChange(
        table=table,
        op=op,  # type: ignore[arg-type]
        key={key: row[key]},
        row=None if op == "d" else row,
        lsn=row[key],
        committed_at_ms=at,
        position=Position(table, 0, row[key]),
    )


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _cache(history: MemoryHistory, clock: Clock, **kwargs: Any) -> HistoryCache:
    return HistoryCache(history, clock=clock, jitter=lambda: 1.0, **kwargs)


def _written(history: MemoryHistory, change: RowChange) -> RowChange:
    assert change.row is not None
    history.add_rows("transactions", [change.row])
    return change


def test_own_writes_are_added_once_and_a_redelivery_adds_nothing() -> None:
    builder = _builder()
    history = MemoryHistory(builder)
    clock = Clock()
    cache = _cache(history, clock)
    first = _written(history, _txn_change(1, 7, T0))
    cache.sent.load([7], T0 - DAY_MS)
    assert [t.txn_id for t in cache.sent.window(7, T0 - DAY_MS, T0 + DAY_MS)] == [1]
    second = _txn_change(2, 7, T0 + 1000)
    cache.absorb([second, first, second], builder)  # a redelivered batch, too
    reads = cache.sent.reads
    assert [t.txn_id for t in cache.sent.window(7, T0 - DAY_MS, T0 + DAY_MS)] == [1, 2]
    assert cache.sent.reads == reads  # served from memory
    assert cache.records == 2


def test_an_update_drops_the_entry_so_the_graph_says_which_version_won() -> None:
    builder = _builder()
    history = MemoryHistory(builder)
    cache = _cache(history, Clock())
    _written(history, _txn_change(1, 7, T0))
    cache.sent.load([7], T0 - DAY_MS)
    cache.absorb([_txn_change(1, 7, T0, op="u", status="reversed")], builder)
    assert 7 not in cache.sent.held
    history._sent.clear()  # the graph now holds the reversed version only
    _written(history, _txn_change(1, 7, T0, status="reversed"))
    assert [t.status for t in cache.sent.window(7, T0 - DAY_MS, T0)] == ["reversed"]


def test_entries_are_read_again_after_the_refresh_time() -> None:
    """What another worker wrote reaches this cache within `refresh_seconds`."""
    builder = _builder()
    history = MemoryHistory(builder)
    clock = Clock()
    cache = _cache(history, clock, refresh_seconds=60)
    cache.sent.load([7], T0 - DAY_MS)
    _written(history, _txn_change(1, 7, T0))  # by another worker: never absorbed here
    clock.now = 59
    assert cache.sent.window(7, T0 - DAY_MS, T0) == []
    clock.now = 60
    assert [t.txn_id for t in cache.sent.window(7, T0 - DAY_MS, T0)] == [1]


def test_a_lone_worker_never_reads_again_what_it_holds() -> None:
    """Alone in its group the worker writes every change it reads: by default nothing
    it holds is read from the graph again, however long it runs (a timed re-read of
    everything loaded at start once stalled a loaded worker for a minute)."""
    builder = _builder()
    history = MemoryHistory(builder)
    clock = Clock()
    config = DetectionConfig()
    cache = _cache(history, clock, refresh_seconds=config.cache.refresh_seconds)
    engine = DetectionEngine(history, config, builder, [], cache=cache)
    engine.share_group(False)
    cache.sent.load([7], T0 - DAY_MS)
    reads = cache.sent.reads
    clock.now = 30 * 24 * 3600.0  # a month on the cache's clock
    cache.sent.load([7], T0 - DAY_MS)
    assert cache.sent.reads == reads


def test_sharing_the_group_with_other_workers_makes_entries_short_lived() -> None:
    """Another worker writes half of what the detectors read: the engine forgets what it
    holds and re-reads entries after `cache.shared_refresh_seconds`."""
    builder = _builder()
    history = MemoryHistory(builder)
    clock = Clock()
    cache = _cache(history, clock, refresh_seconds=300)
    engine = DetectionEngine(history, DetectionConfig(), builder, [], cache=cache)
    cache.sent.load([7], T0 - DAY_MS)
    engine.share_group(True)
    assert cache.sent.held == {}
    cache.sent.load([7], T0 - DAY_MS)
    _written(history, _txn_change(1, 7, T0))  # by the other worker: never absorbed here
    clock.now = 1.0
    assert [t.txn_id for t in cache.sent.window(7, T0 - DAY_MS, T0)] == [1]
    engine.share_group(False)  # alone again: the long bound is back
    cache.sent.load([7], T0 - DAY_MS)
    _written(history, _txn_change(2, 7, T0 + 1))
    clock.now = 100.0
    assert [t.txn_id for t in cache.sent.window(7, T0 - DAY_MS, T0 + 1)] == [1]


def test_an_older_window_than_held_is_read_again() -> None:
    builder = _builder()
    history = MemoryHistory(builder)
    cache = _cache(history, Clock())
    _written(history, _txn_change(1, 7, T0 - 3 * DAY_MS))
    cache.sent.load([7], T0 - DAY_MS)
    assert cache.sent.window(7, T0 - DAY_MS, T0) == []
    assert [t.txn_id for t in cache.sent.window(7, T0 - 5 * DAY_MS, T0)] == [1]


def test_a_batch_a_little_older_than_the_last_reads_nothing_again() -> None:
    """Partitions deliver out of event-time order: a batch whose earliest event is
    minutes older than the last batch's, or than where a trim left the windows, is
    served from memory."""
    builder = _builder()
    history = MemoryHistory(builder)
    cache = _cache(history, Clock())
    _written(history, _txn_change(1, 7, T0 - DAY_MS - 60_000))
    cache.sent.load([7], T0 - DAY_MS)
    reads = cache.sent.reads
    assert [t.txn_id for t in cache.sent.window(7, T0 - DAY_MS - 5 * 60_000, T0)] == [1]
    cache.settle({"sent": T0})  # the trim keeps the same margin
    assert cache.sent.window(7, T0 - 5 * 60_000, T0) == []
    assert cache.sent.reads == reads


def test_memory_stays_bounded_least_recently_used_first() -> None:
    builder = _builder()
    history = MemoryHistory(builder)
    clock = Clock()
    cache = _cache(history, clock, max_records=1000)
    for account in range(1, 31):
        for n in range(50):
            _written(history, _txn_change(account * 100 + n, account, T0 + n))
    cache.sent.load(range(1, 31), T0 - DAY_MS)
    cache.sent.load([1], T0 - DAY_MS)  # account 1 used last
    cache.settle({})
    assert cache.records <= 1000
    assert 1 in cache.sent.held
    assert 2 not in cache.sent.held


def test_settle_forgets_records_no_window_needs() -> None:
    builder = _builder()
    history = MemoryHistory(builder)
    cache = _cache(history, Clock())
    for n in range(10):
        _written(history, _txn_change(n + 1, 7, T0 + n * DAY_MS))
    cache.sent.load([7], T0 - DAY_MS)
    cache.settle({"sent": T0 + 5 * DAY_MS})
    assert cache.records == 5
    assert [t.txn_id for t in cache.sent.window(7, T0 + 5 * DAY_MS, T0 + 20 * DAY_MS)] == [
        6,
        7,
        8,
        9,
        10,
    ]


def _customer_change(customer_id: int, phone: str, *, op: str) -> RowChange:
    row = {
        "customer_id": customer_id,
        "full_name": "A Person",
        "email": f"{customer_id}@example.org",
        "phone": phone,
        "national_id": f"NI{customer_id}",
        "address_line": f"{customer_id} Road",
        "city": "Leeds",
        "postal_code": "LS1 1AA",
        "country": "GB",
        "created_at": datetime.fromtimestamp(T0 / 1000, UTC),
        "updated_at": datetime.fromtimestamp(T0 / 1000, UTC),
    }
    return RowChange(
        table="customers",
        op=op,  # type: ignore[arg-type]
        key={"customer_id": customer_id},
        row=row,
        lsn=customer_id,
        committed_at_ms=T0,
        position=Position("c", 0, customer_id),
    )


def test_a_changed_phone_is_seen_by_who_shares_the_old_and_the_new_one() -> None:
    builder = _builder()
    cache = _cache(MemoryHistory(builder), Clock())
    history = cache.source
    assert isinstance(history, MemoryHistory)
    first, second = (
        _customer_change(1, "+447700900001", op="c"),
        _customer_change(2, "+447700900002", op="c"),
    )
    for change in (first, second):
        assert change.row is not None
        history.add_rows("customers", [change.row])
    old_phone = next(i for i in builder.customer(first.row or {}).identities if i[0] == "Phone")
    new_phone = next(i for i in builder.customer(second.row or {}).identities if i[0] == "Phone")
    cache.customers.load([1])
    cache.sharing.load([old_phone, new_phone])
    assert cache.sharing.peek(new_phone) == [2]
    # Customer 1 takes customer 2's phone: both entries must be read again.
    moved = _customer_change(1, "+447700900002", op="u")
    cache.absorb([moved], builder)
    assert old_phone not in cache.sharing.held
    assert new_phone not in cache.sharing.held
    assert 1 not in cache.customers.held


def test_an_update_of_a_customer_not_held_forgets_every_sharing_entry() -> None:
    builder = _builder()
    cache = _cache(MemoryHistory(builder), Clock())
    cache.sharing.load([("Phone", "h1"), ("Email", "h2")])
    cache.absorb([_customer_change(9, "+447700900009", op="u")], builder)
    assert not cache.sharing.held


def _account_change(account: int, customer: int, *, op: str = "c") -> RowChange:
    row: dict[str, Any] = {
        "account_id": account,
        "customer_id": customer,
        "kind": "checking",
        "status": "active",
        "currency": "EUR",
        "opened_at": datetime.fromtimestamp(T0 / 1000, UTC),
    }
    return _change("accounts", "account_id", row, op=op, at=T0)


def test_an_account_change_forgets_only_the_owners_lists_it_can_touch() -> None:
    """Accounts open, freeze and close all day: forgetting every customer's list of
    accounts at each one cost a round trip per customer asked afterwards."""
    builder = _builder()
    history = MemoryHistory(builder)
    for account, customer in ((10, 1), (20, 2), (30, 3)):
        history.add_rows("accounts", [_account_change(account, customer).row or {}])
    cache = _cache(history, Clock())
    cache.accounts_of.load([1, 2, 3])
    opened = _account_change(11, 1)
    history.add_rows("accounts", [opened.row or {}])
    cache.absorb([opened], builder)
    assert set(cache.accounts_of.held) == {2, 3}
    assert cache.accounts_of.get(1) == [10, 11]
    # A delete does not say whose account it was: the list naming it is forgotten.
    cache.absorb([_account_change(20, 2, op="d")], builder)
    assert set(cache.accounts_of.held) == {1, 3}


def _login_change(login_id: int, customer: int, at: int, *, op: str = "c") -> RowChange:
    row: dict[str, Any] = {
        "login_id": login_id,
        "customer_id": customer,
        "device_id": None,
        "ip_address": None,
        "success": True,
        "occurred_at": datetime.fromtimestamp(at / 1000, UTC),
    }
    return _change("logins", "login_id", row, op=op, at=at)


def test_an_erased_login_forgets_only_the_timeline_holding_it() -> None:
    builder = _builder()
    history = MemoryHistory(builder)
    for login_id, customer in ((1, 7), (2, 7), (3, 8)):
        history.add_rows("logins", [_login_change(login_id, customer, T0).row or {}])
    cache = _cache(history, Clock())
    cache.logins.load([7, 8, 9], T0 - DAY_MS)
    cache.absorb([_login_change(2, 7, T0, op="d")], builder)
    assert set(cache.logins.held) == {8, 9}


def _report_change(report_id: int, customer: int, account: int, *, op: str = "c") -> RowChange:
    row: dict[str, Any] = {
        "report_id": report_id,
        "kind": "confirmed_fraud",
        "customer_id": customer,
        "account_id": account,
        "txn_id": None,
        "note": None,
        "reported_at": datetime.fromtimestamp(T0 / 1000, UTC),
    }
    return _change("fraud_reports", "report_id", row, op=op, at=T0)


def test_a_report_forgets_only_the_entries_it_belongs_in_or_was_in() -> None:
    """Reports arrive all day: forgetting every customer's and account's reports at
    each one made the next batch read all of them again."""
    builder = _builder()
    history = MemoryHistory(builder)
    history.add_rows("fraud_reports", [_report_change(1, 7, 70).row or {}])
    cache = _cache(history, Clock())
    keys = [("c", 7), ("a", 70), ("c", 8), ("a", 80), ("c", 9)]
    cache.reports.load(keys)
    new = _report_change(2, 8, 80)
    history.add_rows("fraud_reports", [new.row or {}])
    cache.absorb([new], builder)
    assert set(cache.reports.held) == {("c", 7), ("a", 70), ("c", 9)}
    assert [r.report_id for r in cache.reports.get(("c", 8)) or []] == [2]
    # An update may move a report (the source sends no before-image): the entries
    # holding it go, and those it now belongs in.
    cache.reports.load(keys)
    cache.absorb([_report_change(1, 9, 90, op="u")], builder)
    assert set(cache.reports.held) == {("c", 8), ("a", 80)}
    cache.reports.load(keys)
    cache.absorb([_change("fraud_reports", "report_id", {"report_id": 2}, op="d", at=T0)], builder)
    assert set(cache.reports.held) == {("c", 7), ("a", 70), ("c", 9)}


def test_a_truncate_forgets_what_the_table_held_and_the_graph_is_read_again() -> None:
    builder = _builder()
    history = MemoryHistory(builder)
    cache = _cache(history, Clock())
    _written(history, _txn_change(1, 7, T0))
    cache.sent.load([7], T0 - DAY_MS)
    cache.accounts.load([7])
    cache.truncated({"transactions"})
    assert cache.records == 0 and not cache.sent.held
    assert 7 in cache.accounts.held  # another table's entries stay
    history._sent.clear()  # the graph no longer holds the truncated payments
    assert cache.sent.window(7, T0 - DAY_MS, T0 + DAY_MS) == []
    cache.truncated({"accounts"})
    assert not cache.accounts.held


def test_a_window_a_detector_reads_further_back_than_configured_is_kept() -> None:
    """The relay rules read 30 days of what came in (who paid an intermediary), the
    configured history 21: the worker prefetches and keeps 30, so after a trim a
    batch's relay search reads nothing again from the graph (it was one round trip per
    intermediary and batch under a live load)."""
    builder = _builder()
    tables = scatter_gather_bank().tables()
    clock = Clock()
    history = MemoryHistory.from_tables(builder, tables)
    engine = DetectionEngine(
        history,
        DetectionConfig(),
        builder,
        [(ScatterGather(), False)],
        cache=_cache(history, clock),
    )
    assert engine.config.history.received_days < ScatterGather().params.mutual_days
    changes = changes_of(tables, "time")
    *before, second_last, last = changes
    engine.run(before)
    clock.now = TRIM_EVERY_SECONDS + 1
    engine.run([second_last])  # ... after which the windows are trimmed to what is kept
    clock.now = 2 * TRIM_EVERY_SECONDS + 2
    reads = engine.cache.received.reads
    result = engine.run([last])
    assert result.alerts  # the scatter-gather completed: the relays were searched
    assert engine.cache.received.reads == reads


def test_a_batchs_graph_reads_are_counted_per_index() -> None:
    """What the cache did not hold, by index: the operator's view of how often
    detection waits for Neo4j (fraudgraph_detection_graph_reads_total)."""
    builder = _builder()
    history = MemoryHistory(builder)
    engine = DetectionEngine(
        history,
        DetectionConfig(),
        builder,
        [(ScatterGather(), False)],
        cache=_cache(history, Clock()),
    )
    first = engine.run([_written(history, _txn_change(1, 7, T0))])
    assert first.graph_reads["sent"] == (1, 1)
    again = engine.run([_written(history, _txn_change(2, 7, T0 + 1))])
    assert "sent" not in again.graph_reads  # held since


def test_timelines_indexed_by_record_id_forget_what_a_full_scan_forgets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`drop_holding` looks only through the timelines its record-id index names. Run
    side by side with a full scan through random loads, writes, trims, evictions and
    erasures, both must hold the same, while the index is rebuilt as it goes stale."""
    monkeypatch.setattr(cache_module, "HOLDERS_SLACK", 0)
    rng = random.Random(5)
    graph: dict[int, list[Login]] = {c: [] for c in range(12)}
    next_id = iter(range(1, 10_000))

    def fetch(ids: Collection[int], since: int, until: int) -> dict[int, list[Login]]:
        return {i: [x for x in graph[i] if since <= x.at <= until] for i in ids}

    def index(by_record_id: bool) -> WindowIndex[Login]:
        return WindowIndex(
            fetch,
            lambda x: (x.at, x.login_id),
            refresh_seconds=math.inf,
            clock=lambda: 0.0,
            jitter=lambda: 1.0,
            by_record_id=by_record_id,
        )

    indexed, scanned = index(True), index(False)
    now = T0
    for _ in range(3_000):
        now += rng.randrange(60_000)
        step = rng.random()
        both = (indexed, scanned)
        if step < 0.3:
            wanted = rng.sample(range(12), 3)
            for held in both:
                held.load(wanted, now - DAY_MS)
        elif step < 0.7:
            customer = rng.randrange(12)
            login = Login(next(next_id), customer, None, None, True, now)
            graph[customer].append(login)
            for held in both:
                held.add(customer, login)
        elif step < 0.8:
            for held in both:
                held.trim(now - DAY_MS // 4)
        elif step < 0.85 and scanned.held:
            for held in both:
                held.evict_oldest()
        else:
            known = [x.login_id for logins in graph.values() for x in logins]
            erased = set(rng.sample(known, min(2, len(known))))
            for customer, logins in graph.items():
                graph[customer] = [x for x in logins if x.login_id not in erased]
            for held in both:
                held.drop_holding(erased)
        assert list(indexed.held) == list(scanned.held)
        assert all(indexed.held[c].items == scanned.held[c].items for c in scanned.held)
        assert indexed._holders is not None
        assert len(indexed._holders) <= 2 * indexed.records
    assert scanned.held  # the walk ended holding something to compare


def test_a_held_window_is_read_without_the_graph_and_kept_longest() -> None:
    """A fresh timeline is served as held (no round trip) and becomes the last one the
    memory bound would evict; one older than asked is read again."""
    builder = _builder()
    history = MemoryHistory(builder)
    _written(history, _txn_change(1, 7, T0))
    cache = _cache(history, Clock())
    cache.sent.load([7, 8], T0 - DAY_MS)
    reads = cache.sent.reads
    assert [t.txn_id for t in cache.sent.window(7, T0 - DAY_MS, T0)] == [1]
    assert cache.sent.reads == reads
    assert list(cache.sent.held) == [8, 7]
    cache.sent.window(8, T0 - 40 * DAY_MS, T0)
    assert cache.sent.reads == reads + 1


def test_a_timeline_cuts_the_same_windows_as_a_filter_through_adds_and_trims() -> None:
    """Windows are cut by bisecting event times kept beside the (time, id) order; after
    any mix of inserts (late ones and redeliveries too) and trims they hold exactly the
    records a plain filter finds, in order."""
    rng = random.Random(11)
    timeline: cache_module._Timeline[Login] = cache_module._Timeline(lo=0, expires=math.inf)
    kept: dict[tuple[int, int], Login] = {}
    for step in range(2_000):
        if step % 97 == 96:
            before = rng.randrange(timeline.lo, timeline.lo + 200)
            timeline.trim(before)
            kept = {p: x for p, x in kept.items() if p[0] >= before}
            continue
        at = timeline.lo + rng.randrange(400)
        login_id = rng.randrange(300)
        login = Login(login_id, 1, None, None, True, at)
        added = timeline.add((at, login_id), login)
        assert added == ((at, login_id) not in kept)
        kept.setdefault((at, login_id), login)
        since = rng.randrange(timeline.lo - 50, timeline.lo + 450)
        until = since + rng.randrange(-10, 300)
        expected = [kept[p] for p in sorted(kept) if since <= p[0] <= until]
        assert timeline.window(since, until) == expected

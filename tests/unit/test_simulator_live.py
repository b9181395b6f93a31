"""The live sink's clock and queue, without a database."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from fraudgraph.simulator.live import Clock, LiveSink
from fraudgraph.simulator.rows import Customer, Merchant, Transaction
from fraudgraph.simulator.sink import EraseLogins, Update

ORIGIN = 1_800_000_000.0


def dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def test_clock_compresses_simulated_time() -> None:
    clock = Clock(ORIGIN, 3600)
    assert clock.sim(ORIGIN + 2) == ORIGIN + 7200
    assert clock.wall(ORIGIN + 7200) == ORIGIN + 2
    assert clock.wall_dt(dt(ORIGIN + 3600)) == dt(ORIGIN + 1)


def test_events_fall_due_in_wall_time_with_rebased_event_times() -> None:
    sink = LiveSink(Clock(ORIGIN, 3600))
    later = Transaction(
        1,
        1,
        None,
        "GB00X",
        None,
        None,
        None,
        None,
        "transfer",
        Decimal("5.00"),
        "GBP",
        None,
        None,
        "posted",
        dt(ORIGIN + 3600),
        dt(ORIGIN + 3600),
    )
    sink.insert(later)
    sink.insert(Merchant(1, "Shop", "5411", "GB"))
    sink.insert(
        Customer(1, "A B", None, None, None, None, None, None, None, "GB", dt(ORIGIN), dt(ORIGIN))
    )
    sink.update(
        "transactions", 1, dt(ORIGIN + 7200), status="reversed", updated_at=dt(ORIGIN + 7200)
    )
    sink.erase_logins(1, dt(ORIGIN + 1800))
    now = sink.due(ORIGIN)
    assert [type(e).__name__ for e in now] == ["Merchant", "Customer"]
    assert [type(e).__name__ for e in sink.due(ORIGIN + 0.5)] == ["EraseLogins"]
    row, update = sink.due(ORIGIN + 2)
    assert isinstance(row, Transaction) and row.created_at == dt(ORIGIN + 1)
    assert isinstance(update, Update) and update.changes["updated_at"] == dt(ORIGIN + 2)
    assert sink.pending() == 0
    assert EraseLogins(1, dt(ORIGIN)).customer_id == 1

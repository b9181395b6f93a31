"""A truncate's fence in the planner: which changes it removed."""

from __future__ import annotations

from fraudgraph.cdc.changes import Position, RowChange
from fraudgraph.graph.plan import fenced_off


def _device(device_id: int, lsn: int) -> RowChange:
    row = {"device_id": device_id, "fingerprint": "fp", "platform": "ios", "user_agent": "ua"}
    return RowChange(
        table="devices",
        op="c",
        key={"device_id": device_id},
        row={**row, "first_seen_at": None},
        lsn=lsn,
        committed_at_ms=0,
        position=Position("t", 0, lsn),
    )


def _merchant_delete(merchant_id: int, lsn: int) -> RowChange:
    return RowChange(
        "merchants", "d", {"merchant_id": merchant_id}, None, lsn, 0, Position("m", 0, lsn)
    )


def test_the_fence_takes_changes_at_or_below_it_of_its_own_table_only() -> None:
    changes = [_device(1, 99), _device(2, 100), _device(3, 101), _merchant_delete(4, 50)]
    gone = fenced_off(changes, {"devices": 100})
    assert [c.key for c in gone] == [{"device_id": 1}, {"device_id": 2}]
    assert fenced_off(changes, {}) == []
    assert fenced_off(changes, {"merchants": 50}) == [changes[3]]

"""The connector's phase read from the offsets Connect stores (shapes seen with Debezium 3.7)."""

from __future__ import annotations

from fraudgraph.connectors.progress import Phase, phase

PARTITION = {"server": "bank"}
SNAPSHOTTING = {
    "last_snapshot_record": False,
    "lsn": 35877248,
    "snapshot": "INITIAL",
    "snapshot_completed": False,
    "ts_usec": 1796553631294900,
    "txId": 850,
}
STREAMING = {
    "lsn_proc": 27174600,
    "messageType": "COMMIT",
    "lsn_commit": 27174600,
    "lsn": 27174600,
    "txId": 841,
    "ts_usec": 1796553596094622,
}


def test_no_offset_yet_means_the_snapshot_is_starting() -> None:
    assert phase([]) is Phase.STARTING


def test_a_snapshot_offset_means_later_changes_wait() -> None:
    assert phase([{"partition": PARTITION, "offset": SNAPSHOTTING}]) is Phase.SNAPSHOT


def test_the_snapshots_last_record_or_a_streaming_offset_means_streaming() -> None:
    last = {**SNAPSHOTTING, "last_snapshot_record": True}
    assert phase([{"partition": PARTITION, "offset": last}]) is Phase.STREAMING
    assert phase([{"partition": PARTITION, "offset": STREAMING}]) is Phase.STREAMING

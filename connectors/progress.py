"""Whether a Debezium connector is still taking its initial snapshot or already streaming.

Read from the source offsets Connect stores for the connector: while Debezium
snapshots, its offset carries `snapshot` (e.g. "INITIAL") and
`snapshot_completed: false`; once it streams, neither (seen with Debezium 3.7).
Debezium sends a change committed during the snapshot only after the snapshot's
last row, which is why someone measuring commit -> Kafka wants to know.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from fraudgraph.connectors.rest import ConnectClient


class Phase(StrEnum):
    STARTING = "starting"  # no offset stored yet: the snapshot has not sent a row
    SNAPSHOT = "snapshot"
    STREAMING = "streaming"


def phase(offsets: Sequence[dict[str, Any]]) -> Phase:
    """The phase the stored offsets (GET /connectors/{name}/offsets) show."""
    if not offsets:
        return Phase.STARTING
    for entry in offsets:
        offset = entry.get("offset") or {}
        if "snapshot" in offset and not (
            offset.get("snapshot_completed") or offset.get("last_snapshot_record")
        ):
            return Phase.SNAPSHOT
    return Phase.STREAMING


def capture_phase(client: ConnectClient, topic_prefix: str) -> Phase | None:
    """The phase of the connector writing `<topic_prefix>.*` topics; None if none does."""
    for name in client.list_connectors():
        if (client.get_config(name) or {}).get("topic.prefix") == topic_prefix:
            return phase(client.offsets(name))
    return None

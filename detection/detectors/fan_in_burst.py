"""Detector `fan_in_burst`: many different customers pay one account within days, and
the account passes (most of) the pooled money on within days.

A landlord, a club's treasurer or a shop is paid by many people too, but keeps what
it is paid; what a collection account receives leaves again. Triggered by the hub's
transfer on; names the hub and every sender of the burst. See `_flow_shapes`.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from fraudgraph.detection.detectors._flow_shapes import (
    Layered,
    Owners,
    RelayParams,
    RelayShape,
    distinct_owners,
)


class FanInBurstParams(RelayParams):
    # Distinct paying customers inside the window (the account's own other accounts
    # never count): a household or a friend circle pays someone a few times a month.
    min_sources: int = Field(default=4, ge=2)


class FanInBurst(RelayShape):
    """Many senders -> one account that passes the pool on."""

    rule: ClassVar[str] = "fan_in_burst"
    what: ClassVar[str] = "Fan-in"
    params_model = FanInBurstParams
    params: FanInBurstParams

    def roles(self, found: Layered, owners: Owners) -> list[tuple[int, str]] | None:
        hub = found.relays[0]
        if distinct_owners(hub.sources, owners) < self.params.min_sources:
            return None
        return [(hub.account, "collector"), *((s, "sender") for s in hub.sources)]

    def anchor(self, found: Layered, roles: list[tuple[int, str]]) -> str:  # type: ignore[override]
        hub = found.relays[0]
        return f"{hub.account}:{hub.inbound[0].txn_id}:{len(hub.sources)}"


DETECTOR = FanInBurst

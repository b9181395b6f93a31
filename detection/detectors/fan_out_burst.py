"""Detector `fan_out_burst`: an account that was paid by other customers and, within
days, passed (most of) that money on to many different customers.

Payroll and a friend paying several friends back are fan-outs too, but funded by the
payer's own money (income from outside the bank, savings): what a distribution hub
pays out came in just before. Triggered by the hub's transfer on; names the hub and
every account it paid on. See `_flow_shapes`.
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


class FanOutBurstParams(RelayParams):
    # Distinct customers paid on inside the window (the hub's own accounts never
    # count; money out of the bank counts as none): a few friends is everyday life.
    min_sinks: int = Field(default=5, ge=2)


class FanOutBurst(RelayShape):
    """Funded hub -> many accounts."""

    rule: ClassVar[str] = "fan_out_burst"
    what: ClassVar[str] = "Fan-out"
    params_model = FanOutBurstParams
    params: FanOutBurstParams

    def roles(self, found: Layered, owners: Owners) -> list[tuple[int, str]] | None:
        hub = found.relays[0]
        if distinct_owners(hub.internal_sinks, owners) < self.params.min_sinks:
            return None
        return [(hub.account, "distributor"), *((s, "receiver") for s in hub.internal_sinks)]

    def anchor(self, found: Layered, roles: list[tuple[int, str]]) -> str:  # type: ignore[override]
        hub = found.relays[0]
        return f"{hub.account}:{hub.inbound[0].txn_id}:{len(hub.internal_sinks)}"


DETECTOR = FanOutBurst

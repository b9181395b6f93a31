"""Detector `gather_scatter`: several customers pay one account, which passes (most of)
the pooled money on within days to several others.

Triggered by the hub's transfer on; names the sources, the hub and the sinks. See
`_flow_shapes` for what counts as passing money on.
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


class GatherScatterParams(RelayParams):
    # Distinct paying customers, and distinct accounts paid on (money out of the bank
    # counts as one). One in and one out is a forward; many in and one out a fan-in.
    min_sources: int = Field(default=2, ge=2)
    min_sinks: int = Field(default=2, ge=2)


class GatherScatter(RelayShape):
    """Several sources -> one account that passes the pool on -> several sinks."""

    rule: ClassVar[str] = "gather_scatter"
    what: ClassVar[str] = "Gather-scatter"
    params_model = GatherScatterParams
    params: GatherScatterParams

    def roles(self, found: Layered, owners: Owners) -> list[tuple[int, str]] | None:
        hub = found.relays[0]
        p = self.params
        if distinct_owners(hub.sources, owners) < p.min_sources or len(hub.sinks) < p.min_sinks:
            return None
        return [
            (hub.account, "intermediary"),
            *((s, "originator") for s in hub.sources),
            *((s, "beneficiary") for s in hub.sinks),
        ]

    def anchor(self, found: Layered, roles: list[tuple[int, str]]) -> str:  # type: ignore[override]
        hub = found.relays[0]
        return f"{hub.account}:{hub.inbound[0].txn_id}:{len(hub.sources)}:{len(hub.sinks)}"


DETECTOR = GatherScatter

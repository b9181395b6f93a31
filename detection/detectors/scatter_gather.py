"""Detector `scatter_gather`: one account pays several intermediaries, each passes (most
of) it on within days, and the money meets again in one account.

Triggered by an intermediary's transfer on; it names the source, the intermediaries
seen so far and the sink (a new alert each time the shape grows). See `_flow_shapes`
for what counts as passing money on, and `RelayParams` for the thresholds.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from fraudgraph.detection.detectors._flow_shapes import Layered, Owners, RelayParams, RelayShape


class ScatterGatherParams(RelayParams):
    # Intermediaries between the one source and the one sink: one is a forward (an
    # honest collection passed on); two or more splitting and re-joining is layering.
    min_relays: int = Field(default=2, ge=2)


class ScatterGather(RelayShape):
    """One source -> several intermediaries that pass it on -> one sink."""

    rule: ClassVar[str] = "scatter_gather"
    what: ClassVar[str] = "Scatter-gather"
    params_model = ScatterGatherParams
    params: ScatterGatherParams

    def roles(self, found: Layered, owners: Owners) -> list[tuple[int, str]] | None:
        if len(found.relays) < self.params.min_relays:
            return None
        if len(found.sources) != 1 or len(found.sinks) != 1:
            return None
        return [
            (found.sources[0], "originator"),
            *((r.account, "intermediary") for r in found.relays),
            (found.sinks[0], "beneficiary"),
        ]


DETECTOR = ScatterGather

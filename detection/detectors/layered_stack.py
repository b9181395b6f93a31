"""Detector `layered_stack`: layers of intermediaries between sources and sinks — several
accounts, paid by the same sources, each pass (most of) what they received on within
days to the same sinks.

Triggered by an intermediary's transfer on; the one-source, one-sink case is
`scatter_gather`'s. See `_flow_shapes` for what counts as passing money on.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from fraudgraph.detection.detectors._flow_shapes import Layered, Owners, RelayParams, RelayShape


class LayeredStackParams(RelayParams):
    # Intermediaries that share a source and a sink with the triggering one.
    min_relays: int = Field(default=2, ge=2)


class LayeredStack(RelayShape):
    """Sources -> a layer of intermediaries passing the money on -> sinks."""

    rule: ClassVar[str] = "layered_stack"
    what: ClassVar[str] = "Layered flow"
    params_model = LayeredStackParams
    params: LayeredStackParams

    def roles(self, found: Layered, owners: Owners) -> list[tuple[int, str]] | None:
        if len(found.relays) < self.params.min_relays:
            return None
        if len(found.sources) == 1 and len(found.sinks) == 1:
            return None  # scatter_gather
        return [
            *((s, "originator") for s in found.sources),
            *((r.account, "intermediary") for r in found.relays),
            *((s, "beneficiary") for s in found.sinks),
        ]


DETECTOR = LayeredStack

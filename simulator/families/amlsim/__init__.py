"""The `amlsim` generator family: typologies written from the public AMLSim /
AMLGentex pattern descriptions and public accounts of identity and takeover fraud.

Money-flow typologies (fan_in, fan_out, cycle, bipartite, stack, scatter_gather,
gather_scatter) move ordinary, never-round amounts between existing customers over
1-30 days; `lookalike_*` are honest patterns of the same shapes (labelled with kind
"lookalike", never fraud); synthetic_identity and account_takeover vary which
signals are present. Default counts are per 10,000 customers, as in classic.
"""

from __future__ import annotations

from fraudgraph.simulator.families.amlsim import flows, identity, layered, normal, takeover
from fraudgraph.simulator.labels import LOOKALIKE
from fraudgraph.simulator.typologies import Typology

_ACCOUNTS = "accounts in the pattern"

TYPOLOGIES: dict[str, Typology] = {
    t.name: t
    for t in (
        Typology("fan_in", flows.fan_in, flows.SPAN, 8, 9, 3, _ACCOUNTS),
        Typology("fan_out", flows.fan_out, flows.SPAN, 8, 9, 3, _ACCOUNTS),
        Typology("cycle", flows.cycle, flows.SPAN, 8, 9, 3, _ACCOUNTS),
        Typology("bipartite", layered.bipartite, layered.SPAN, 6, 9, 4, _ACCOUNTS),
        Typology("stack", layered.stack, layered.SPAN, 6, 9, 3, _ACCOUNTS),
        Typology("scatter_gather", layered.scatter_gather, layered.SPAN, 6, 9, 3, _ACCOUNTS),
        Typology("gather_scatter", layered.gather_scatter, layered.SPAN, 6, 9, 3, _ACCOUNTS),
        Typology("synthetic_identity", identity.inject, identity.SPAN, 8, 6, 3, "members"),
        Typology("account_takeover", takeover.inject, takeover.SPAN, 15, 1, 1, "victims"),
        Typology("lookalike_single", normal.single, normal.SPAN, 40, 2, 2, "", LOOKALIKE),
        Typology("lookalike_fan_out", normal.fan_out, normal.SPAN, 25, 9, 3, _ACCOUNTS, LOOKALIKE),
        Typology("lookalike_fan_in", normal.fan_in, normal.SPAN, 25, 9, 3, _ACCOUNTS, LOOKALIKE),
        Typology("lookalike_forward", normal.forward, normal.SPAN, 30, 3, 3, "", LOOKALIKE),
        Typology("lookalike_mutual", normal.mutual, normal.SPAN, 30, 2, 2, "", LOOKALIKE),
        Typology("lookalike_periodic", normal.periodic, normal.SPAN, 30, 2, 2, "", LOOKALIKE),
    )
}

__all__ = ["TYPOLOGIES"]

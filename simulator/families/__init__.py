"""Generator families: independent sets of typologies over the same bank machinery.

A detector tuned on one family proves little about another (docs/product.md,
Detection): `classic` is the original simulator, `amlsim` is written from the public
AMLSim / AMLGentex pattern descriptions and from public accounts of synthetic-identity
and takeover fraud. Both share population, everyday life, rows, loader and live mode;
only the injected cases differ. `fraudgraph simulate --generator NAME` picks one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fraudgraph.simulator.errors import OptionError
from fraudgraph.simulator.families.amlsim import TYPOLOGIES as AMLSIM_TYPOLOGIES
from fraudgraph.simulator.typologies import TYPOLOGIES as CLASSIC_TYPOLOGIES
from fraudgraph.simulator.typologies import Typology


@dataclass(frozen=True)
class Family:
    name: str
    typologies: Mapping[str, Typology]
    # Prefixes of each typology's random seed and case ids. Classic keeps "" so its
    # banks stay byte-identical; others differ so a shared name ("cycle") never
    # shares a random stream or a case id with classic.
    seed_prefix: str
    case_prefix: str
    summary: str


DEFAULT_GENERATOR = "classic"

FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family("classic", CLASSIC_TYPOLOGIES, "", "", "the original typologies"),
        Family(
            "amlsim",
            AMLSIM_TYPOLOGIES,
            "amlsim:",
            "amlsim-",
            "AMLSim money flows, benign look-alikes, identity rings, takeovers",
        ),
    )
}


def get_family(name: str) -> Family:
    family = FAMILIES.get(name.strip().lower())
    if family is None:
        raise OptionError(f"--generator {name!r}: unknown (known: {', '.join(FAMILIES)})")
    return family


__all__ = ["DEFAULT_GENERATOR", "FAMILIES", "Family", "get_family"]

"""The one place that names which simulator seeds may be tuned on and which are frozen.

The rule (docs/product.md, Detection: "quality must hold on data nobody tuned to"):

* TUNING seeds are the only banks anybody may look at while choosing a detector's
  thresholds, windows, features or model. Validation inside tuning is a subset of them.
* TEST seeds are frozen: their figures are reported, never used to pick anything. A
  change that is tried against a test seed and kept because it scored better turns
  that seed into a tuning seed; then retire it and add fresh test seeds here, in the
  same change, rather than quietly keeping it.
* Cross-family: a detector tuned on one family's tuning seeds is reported on the other
  family's test seeds too. Today's detectors (detection/detectors.yaml and the learned
  scorer's model) were tuned on the tuning seeds of both families (TUNED_ON).

The sets are disjoint within a family and across families: the population and everyday
life come from the seed alone (a family only changes the injected cases), so one seed
number in two families would share every honest customer between tuning and test.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

from fraudgraph.evaluation.errors import EvaluationError

Split = Literal["tuning", "test"]
SPLITS: tuple[Split, ...] = get_args(Split)

# Classic's tuning seeds start at 1, the default seed detectors.yaml was written against.
SEEDS: dict[str, dict[Split, tuple[int, ...]]] = {
    "classic": {"tuning": (1, 2, 3, 4, 5), "test": (1001, 1002, 1003, 1004, 1005)},
    "amlsim": {"tuning": (201, 202, 203, 204, 205), "test": (2001, 2002, 2003, 2004, 2005)},
}

# What "tuned on" means for the detectors shipped today: shown next to every matrix.
# The rules' thresholds and the learned scorer were chosen on the tuning seeds of both
# families, so every test column is in-family; a cross-family figure needs a model or
# thresholds fitted on one family alone (`fraudgraph model train --generator classic`,
# then `fraudgraph analyze replay --matrix --model FILE`).
TUNED_ON: tuple[str, ...] = ("classic", "amlsim")


def seeds_for(generator: str, split: Split) -> tuple[int, ...]:
    family = SEEDS.get(generator)
    if family is None:
        raise EvaluationError(f"no seeds registered for generator {generator!r}")
    return family[split]


def parse_split(value: str) -> Split:
    for split in SPLITS:
        if value == split:
            return split
    raise EvaluationError(f"--split must be one of {', '.join(SPLITS)} (got {value!r})")


def describe(seeds: Sequence[int]) -> str:
    """`1001-1005` for a run of consecutive seeds, else a comma list."""
    ordered = sorted(seeds)
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{ordered[0]}-{ordered[-1]}"
    return ",".join(str(s) for s in ordered)

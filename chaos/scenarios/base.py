"""What every scenario is: a name, the fault it injects, and how many workers it needs."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fraudgraph.chaos.harness import ChaosRun


class Scenario(abc.ABC):
    name: str
    workers: int = 1
    default_outage_s: float = 30.0

    @abc.abstractmethod
    def describe(self, outage_s: float) -> str:
        """One line for the report: the fault as injected."""

    def min_load_s(self, outage_s: float) -> float:
        """Live load this scenario needs: a warm-up, the fault, and load after it."""
        return outage_s + 30.0

    @abc.abstractmethod
    def inject(self, run: ChaosRun, outage_s: float) -> None:
        """Break something during the live load; return once it is repaired
        (after `run.cleared()` has marked that moment)."""

    def check(self, run: ChaosRun) -> dict[str, Any]:
        """Scenario-specific findings after the run; a key ending in `_problems` fails it."""
        return {}


class NoFault(Scenario):
    """The control: the same load, workers and comparison, with nothing broken. What
    differs here differs because of batching alone, not because of a fault."""

    name = "none"

    def describe(self, outage_s: float) -> str:
        return "no fault (control run)"

    def inject(self, run: ChaosRun, outage_s: float) -> None:
        run.pause(outage_s)
        run.cleared()

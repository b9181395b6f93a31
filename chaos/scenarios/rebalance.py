"""Two workers share the partitions; one is killed and stays down, then comes back."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fraudgraph.chaos.scenarios.base import Scenario

if TYPE_CHECKING:
    from fraudgraph.chaos.harness import ChaosRun


class Rebalance(Scenario):
    name = "rebalance"
    workers = 2
    default_outage_s = 30.0

    def describe(self, outage_s: float) -> str:
        return f"2 workers in one group; kill -9 one, keep it down {outage_s:g}s, start it again"

    def inject(self, run: ChaosRun, outage_s: float) -> None:
        victim = run.supervisor.hold("worker-2")
        victim.kill()
        run.note("kill -9 worker-2 (held down: worker-1 must take its partitions)")
        run.pause(outage_s)
        run.supervisor.release("worker-2")
        run.note("worker-2 started again (partitions rebalanced back)")
        run.cleared()

"""kill -9 the stream worker again and again under load; the supervisor restarts it."""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING

from fraudgraph.chaos.scenarios.base import Scenario

if TYPE_CHECKING:
    from fraudgraph.chaos.harness import ChaosRun


class KillWorker(Scenario):
    name = "kill-worker"
    default_outage_s = 60.0  # the span over which kills happen
    every_s = (4.0, 12.0)

    def describe(self, outage_s: float) -> str:
        low, high = self.every_s
        return f"kill -9 the worker every {low:g}-{high:g}s for {outage_s:g}s (restarted at once)"

    def inject(self, run: ChaosRun, outage_s: float) -> None:
        timing = random.Random(run.options.seed)  # noqa: S311 - chaos timing, seeded to repeat
        end = time.monotonic() + outage_s
        while time.monotonic() < end:
            run.pause(timing.uniform(*self.every_s))
            run.kill_worker("worker-1")
        # The supervisor restarts it within half a second; the repair is that restart.
        run.cleared()

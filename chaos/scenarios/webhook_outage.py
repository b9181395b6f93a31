"""The webhook receiver down for a long while, then slow enough to time out every attempt."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fraudgraph.chaos.options import ENDPOINT_TIMEOUT_S
from fraudgraph.chaos.scenarios.base import Scenario

if TYPE_CHECKING:
    from fraudgraph.chaos.harness import ChaosRun


class WebhookOutage(Scenario):
    name = "webhook-outage"
    default_outage_s = 600.0
    slow_share = 0.25  # then slow for a quarter of the outage (at least 10 s)

    def slow_s(self, outage_s: float) -> float:
        return max(10.0, outage_s * self.slow_share)

    def describe(self, outage_s: float) -> str:
        return (
            f"webhook receiver down {outage_s:g}s, then {self.slow_s(outage_s):g}s slow "
            f"({2 * ENDPOINT_TIMEOUT_S:g}s per request against a {ENDPOINT_TIMEOUT_S:g}s timeout)"
        )

    def min_load_s(self, outage_s: float) -> float:
        return outage_s + self.slow_s(outage_s) + 30.0

    def inject(self, run: ChaosRun, outage_s: float) -> None:
        run.stop_receiver()
        run.pause(outage_s)
        run.start_receiver()
        run.slow_receiver(2 * ENDPOINT_TIMEOUT_S)
        run.pause(self.slow_s(outage_s))
        run.slow_receiver(0.0)
        run.cleared()

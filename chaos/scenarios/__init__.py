"""Every scenario by name."""

from __future__ import annotations

from fraudgraph.chaos.scenarios.base import NoFault, Scenario
from fraudgraph.chaos.scenarios.kill_worker import KillWorker
from fraudgraph.chaos.scenarios.poison import Poison
from fraudgraph.chaos.scenarios.rebalance import Rebalance
from fraudgraph.chaos.scenarios.services import (
    BrokerRestart,
    ConnectRestart,
    Neo4jDown,
    PostgresRestart,
)
from fraudgraph.chaos.scenarios.webhook_outage import WebhookOutage

SCENARIOS: dict[str, type[Scenario]] = {
    scenario.name: scenario
    for scenario in (
        KillWorker,
        Rebalance,
        Neo4jDown,
        BrokerRestart,
        ConnectRestart,
        PostgresRestart,
        WebhookOutage,
        Poison,
        NoFault,
    )
}

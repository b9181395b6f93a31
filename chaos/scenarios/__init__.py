"""Every scenario by name."""

from __future__ import annotations

from chaos.scenarios.base import NoFault, Scenario
from chaos.scenarios.kill_worker import KillWorker
from chaos.scenarios.poison import Poison
from chaos.scenarios.rebalance import Rebalance
from chaos.scenarios.services import BrokerRestart, ConnectRestart, Neo4jDown, PostgresRestart
from chaos.scenarios.webhook_outage import WebhookOutage

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

"""A change-capture connector of the run's own: own name, replication slot and topics.

Created after the bulk load, it snapshots the bank (op r) onto fresh topics and then
streams every change, so a run reads only its own events and the poison it puts
on its topics never reaches anyone else's consumers.
"""

from __future__ import annotations

from dataclasses import replace

import httpx

from fraudgraph.connectors.apply import apply_connector, parse_status
from fraudgraph.connectors.definitions import ConnectorDefinition, load_definitions
from fraudgraph.connectors.rest import ConnectClient
from fraudgraph.stack.manager import Stack
from fraudgraph.stack.services.postgres import PostgresService
from fraudgraph.stack.waiting import wait_for


def run_definition(prefix: str) -> ConnectorDefinition:
    (bank,) = load_definitions()
    return replace(
        bank,
        name=f"chaos-{prefix}",
        config={**bank.config, "topic.prefix": prefix, "slot.name": slot_name(prefix)},
    )


def slot_name(prefix: str) -> str:
    return prefix.replace("-", "_").replace(".", "_")


def create(client: ConnectClient, definition: ConnectorDefinition) -> None:
    apply_connector(client, definition)


def task_states(client: ConnectClient, name: str) -> list[str]:
    state = parse_status(name, client.status(name))
    return [state.state, *(task for _, task in state.tasks)]


def restart_task(client: ConnectClient, name: str, task: int = 0) -> None:
    """What an operator does for a failed task; here done to a running one mid-stream."""
    response = httpx.post(f"{client.base_url}/connectors/{name}/tasks/{task}/restart", timeout=30)
    response.raise_for_status()


def remove(client: ConnectClient, stack: Stack, definition: ConnectorDefinition) -> None:
    """Delete the connector, then its slot once Connect has let go (it would pin WAL)."""
    client.delete(definition.name)
    postgres = stack.service("postgres")
    assert isinstance(postgres, PostgresService)
    slot = definition.config["slot.name"]

    def dropped() -> bool:
        with postgres.superuser_connection() as admin:
            admin.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
                " WHERE slot_name = %s AND NOT active",
                (slot,),
            )
            row = admin.execute(
                "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (slot,)
            ).fetchone()
            return row is None

    wait_for(dropped, what=f"replication slot {slot} dropped", timeout=90)

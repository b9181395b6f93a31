"""Apply connector definitions idempotently and wait until they run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fraudgraph.connectors.definitions import ConnectorDefinition
from fraudgraph.connectors.errors import ConnectorRejectedError
from fraudgraph.connectors.rest import ConnectClient
from fraudgraph.stack.waiting import DeadlineExceeded, wait_for

RUNNING = "RUNNING"
FAILED = "FAILED"


@dataclass(frozen=True)
class ConnectorState:
    name: str
    state: str
    tasks: tuple[tuple[int, str], ...]
    worker: str
    trace: str | None = None

    @property
    def running(self) -> bool:
        return (
            self.state == RUNNING
            and bool(self.tasks)
            and all(state == RUNNING for _, state in self.tasks)
        )

    @property
    def failed(self) -> bool:
        return self.state == FAILED or any(state == FAILED for _, state in self.tasks)


@dataclass(frozen=True)
class ApplyResult:
    name: str
    action: str  # "created", "updated", "unchanged" or "restarted"
    state: ConnectorState


def parse_status(name: str, status: dict[str, Any] | None) -> ConnectorState:
    if status is None:
        return ConnectorState(name=name, state="ABSENT", tasks=(), worker="-")
    connector = status.get("connector", {})
    tasks = status.get("tasks", [])
    traces = [connector.get("trace")] + [task.get("trace") for task in tasks]
    return ConnectorState(
        name=name,
        state=connector.get("state", "UNKNOWN"),
        tasks=tuple((int(task.get("id", -1)), str(task.get("state"))) for task in tasks),
        worker=connector.get("worker_id", "-"),
        trace=next((trace for trace in traces if trace), None),
    )


def validate_connector(client: ConnectClient, definition: ConnectorDefinition) -> dict[str, str]:
    """The config Connect would run, once Connect's own validation accepts it."""
    desired = {**definition.config, "name": definition.name}
    errors = client.validate(definition.connector_class, desired)
    if errors:
        listed = "\n  ".join(errors)
        raise ConnectorRejectedError(
            f"{definition.name} ({definition.source.name}) has an invalid config:\n  {listed}"
        )
    return desired


def apply_connector(
    client: ConnectClient, definition: ConnectorDefinition, timeout: float = 120.0
) -> ApplyResult:
    """Create or update one connector, then wait until it and its tasks are RUNNING."""
    desired = validate_connector(client, definition)
    current = client.get_config(definition.name)
    if current == desired:
        action = "unchanged"
        if parse_status(definition.name, client.status(definition.name)).failed:
            client.restart(definition.name)
            action = "restarted"
    else:
        client.put_config(definition.name, definition.config)
        action = "created" if current is None else "updated"
    return ApplyResult(
        definition.name, action, wait_until_running(client, definition.name, timeout)
    )


def wait_until_running(client: ConnectClient, name: str, timeout: float) -> ConnectorState:
    """Wait for RUNNING everywhere; a FAILED connector or task ends the wait at once."""

    def probe() -> ConnectorState | None:
        state = parse_status(name, client.status(name))
        return state if state.running or state.failed else None

    try:
        state = wait_for(probe, what=f"connector {name}", timeout=timeout)
    except DeadlineExceeded as error:
        raise ConnectorRejectedError(f"connector {name} is not RUNNING: {error}") from error
    if state.failed:
        tasks = ", ".join(f"task {task_id} {task_state}" for task_id, task_state in state.tasks)
        raise ConnectorRejectedError(
            f"connector {name} {state.state} ({tasks or 'no tasks'}):\n{state.trace or ''}"
        )
    return state

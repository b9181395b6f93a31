from pathlib import Path

import orjson
import pytest

from fraudgraph.connectors.apply import parse_status
from fraudgraph.connectors.definitions import load_definition, load_definitions
from fraudgraph.connectors.errors import ConnectorDefinitionError
from fraudgraph.contract import BANK_TABLES
from fraudgraph.stack.pg_bootstrap import PUBLICATION


def test_bank_connector_captures_every_contract_table() -> None:
    (definition,) = load_definitions()
    config = definition.config
    assert config["plugin.name"] == "pgoutput"
    captured = set(config["table.include.list"].split(","))
    assert captured == {f"bank.{table}" for table in BANK_TABLES}
    assert config["publication.name"] == PUBLICATION
    assert config["publication.autocreate.mode"] == "disabled"


def test_bank_connector_keeps_secrets_out_of_the_file() -> None:
    (definition,) = load_definitions()
    assert definition.config["database.password"].startswith("${env:")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "expected an object"),
        (b'{"config": {"connector.class": "x"}}', "'name' must be"),
        (b'{"name": "a", "config": {}}', "'config' must be"),
        (b'{"name": "a", "config": {"connector.class": "x", "tasks.max": 1}}', "must be strings"),
        (b'{"name": "a", "config": {"tasks.max": "1"}}', "connector.class"),
    ],
)
def test_invalid_definitions_are_named(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(ConnectorDefinitionError, match=message):
        load_definition(path)


def test_status_parsing_finds_a_failed_task_and_its_trace() -> None:
    status = orjson.loads(
        b'{"name": "c", "connector": {"state": "RUNNING", "worker_id": "w:8083"},'
        b' "tasks": [{"id": 0, "state": "FAILED", "trace": "boom\\n at x"}]}'
    )
    state = parse_status("c", status)
    assert state.failed and not state.running
    assert state.trace == "boom\n at x"


def test_status_parsing_needs_every_task_running() -> None:
    running = {"connector": {"state": "RUNNING"}, "tasks": [{"id": 0, "state": "RUNNING"}]}
    no_tasks = {"connector": {"state": "RUNNING"}, "tasks": []}
    assert parse_status("c", running).running
    assert not parse_status("c", no_tasks).running
    assert parse_status("c", None).state == "ABSENT"

"""The native stack itself: health, auth, idempotent start, clear errors."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import neo4j
import pytest
from confluent_kafka.admin import AdminClient
from neo4j.exceptions import AuthError

from fraudgraph.connectors.definitions import load_definitions
from fraudgraph.connectors.rest import ConnectClient
from fraudgraph.settings import Settings
from fraudgraph.stack.manager import Stack
from fraudgraph.stack.services.neo4j import Neo4jService
from tests.support import run_cli

pytestmark = pytest.mark.integration


def test_every_service_is_healthy_and_reports_memory(stack: Stack) -> None:
    rows = {row.name: row for row in stack.status()}
    assert set(rows) == {
        "postgres",
        "kafka",
        "connect",
        "neo4j",
        "alert-receiver",
        "alertmanager",
        "exporter",
        "prometheus",
    }
    for row in rows.values():
        assert row.healthy, row.name
        assert row.pid is not None
        assert row.rss_mb > 10, row.name


def test_second_up_is_a_fast_no_op(stack: Stack) -> None:
    pids = {row.name: row.pid for row in stack.status()}
    started = time.monotonic()
    stack.up()
    assert time.monotonic() - started < 15
    assert {row.name: row.pid for row in stack.status()} == pids


def test_neo4j_answers_bolt_with_auth_and_rejects_a_wrong_password(settings: Settings) -> None:
    auth = (settings.neo4j_user, settings.neo4j_password.get_secret_value())
    with neo4j.GraphDatabase.driver(settings.neo4j_uri, auth=auth) as driver:
        records, _, _ = driver.execute_query("RETURN apoc.version() AS apoc")
        assert records[0]["apoc"].startswith("5.26")
    with (
        neo4j.GraphDatabase.driver(settings.neo4j_uri, auth=("neo4j", "wrong-password")) as driver,
        pytest.raises(AuthError),
    ):
        driver.verify_connectivity()


def test_neo4j_browser_is_served(stack: Stack) -> None:
    service = stack.service("neo4j")
    assert isinstance(service, Neo4jService)
    response = httpx.get(service.browser_url, timeout=10)
    assert response.status_code == 200
    assert "Neo4j Browser" in response.text


@pytest.fixture
def occupied_port() -> Iterator[int]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    yield listener.getsockname()[1]
    listener.close()


def test_stack_up_names_the_port_and_process_in_the_way(occupied_port: int, tmp_path: Path) -> None:
    done = run_cli(
        "stack",
        "up",
        "postgres",
        FRAUDGRAPH_STATE_DIR=str(tmp_path),
        FRAUDGRAPH_STACK_PG_PORT=str(occupied_port),
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    message = done.stderr.strip()
    assert f"port {occupied_port} is in use by pid" in message
    assert "python" in message


def test_connectors_apply_twice_leaves_one_connector_with_the_same_config(
    settings: Settings,
) -> None:
    first = run_cli("connectors", "apply", settings=settings)
    second = run_cli("connectors", "apply", settings=settings)
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert "unchanged, RUNNING" in second.stderr
    client = ConnectClient(settings.connect_url)
    (definition,) = load_definitions()
    assert client.list_connectors().count(definition.name) == 1
    assert client.get_config(definition.name) == {**definition.config, "name": definition.name}


def test_a_broken_connector_config_is_a_clear_error(settings: Settings, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text(
        '{"name": "broken-test", "config": {'
        '"connector.class": "io.debezium.connector.postgresql.PostgresConnector",'
        '"plugin.name": "no-such-plugin", "database.hostname": "127.0.0.1",'
        '"database.user": "debezium", "database.dbname": "bank", "topic.prefix": "broken",'
        '"table.include.list": "bank.customers",'
        '"topic.creation.default.partitions": "1",'
        '"topic.creation.default.replication.factor": "1"}}'
    )
    done = run_cli("connectors", "apply", str(broken), settings=settings)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "broken-test" in done.stderr and "invalid config" in done.stderr
    assert "plugin.name" in done.stderr
    assert "broken-test" not in ConnectClient(settings.connect_url).list_connectors()
    # Connect's verdict comes before any topic is created: a rejected file leaves none.
    topics = AdminClient({"bootstrap.servers": settings.kafka_bootstrap}).list_topics(timeout=10)
    assert "broken.bank.customers" not in topics.topics


def test_connectors_apply_without_connect_is_one_line(settings: Settings) -> None:
    done = run_cli(
        "connectors", "apply", settings=settings, FRAUDGRAPH_CONNECT_URL="http://127.0.0.1:9"
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "did not answer" in done.stderr

"""docker-compose.yml must be valid and agree with the native stack's ports and settings."""

import json
import os
import subprocess
import tempfile
from typing import Any

import pytest
import yaml

from connectors.definitions import load_definitions
from fraudgraph.paths import PROJECT_ROOT
from stack.config import StackConfig

SECRETS = {
    "FRAUDGRAPH_PG_SUPERUSER_PASSWORD": "s1",
    "FRAUDGRAPH_PG_PASSWORD": "s2",
    "FRAUDGRAPH_CDC_PASSWORD": "s3",
    "NEO4J_PASSWORD": "s4",
    "FRAUDGRAPH_PII_KEY": "s5",
    "GRAFANA_ADMIN_PASSWORD": "s6",
}


def _config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # An empty --env-file: a developer's .env must not change what is tested.
    with tempfile.NamedTemporaryFile("w", suffix=".env") as empty_env:
        return subprocess.run(
            [
                "docker-compose",
                "--env-file",
                empty_env.name,
                "-f",
                str(PROJECT_ROOT / "docker-compose.yml"),
                "config",
            ],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    done = _config({**os.environ, **SECRETS})
    assert done.returncode == 0, done.stderr
    loaded: dict[str, Any] = yaml.safe_load(done.stdout)
    return loaded


def _published(service: dict[str, Any]) -> dict[int, str]:
    """{host port: host ip} from either the short ("ip:host:container/tcp") or long syntax."""
    ports = {}
    for port in service.get("ports", []):
        if isinstance(port, str):
            host_ip, published, _ = port.split(":")
            ports[int(published)] = host_ip
        else:
            ports[int(port["published"])] = port.get("host_ip", "")
    return ports


def _binds(service: dict[str, Any]) -> list[tuple[str, bool]]:
    """(host path, read-only) of bind mounts, from the short ("src:dst:ro") or long syntax."""
    binds = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, _, *mode = volume.split(":")
            if source.startswith("/"):
                binds.append((source, mode == ["ro"]))
        elif volume["type"] == "bind":
            binds.append((volume["source"], bool(volume.get("read_only"))))
    return binds


def test_compose_requires_secrets_from_the_environment() -> None:
    done = _config({k: v for k, v in os.environ.items() if k not in SECRETS})
    assert done.returncode != 0
    assert "make compose-env" in done.stderr


def test_ports_match_the_native_stack_and_bind_loopback(compose: dict[str, Any]) -> None:
    native = StackConfig()
    expected = {
        "postgres": {native.pg_port},
        "kafka": {native.kafka_port},
        "connect": {native.connect_port},
        "neo4j": {native.neo4j_bolt_port, native.neo4j_http_port},
    }
    services = compose["services"]
    for name, ports in expected.items():
        published = _published(services[name])
        assert set(published) == ports, name
        assert set(published.values()) == {"127.0.0.1"}, name


def test_connector_settings_agree(compose: dict[str, Any]) -> None:
    native = StackConfig()
    (definition,) = load_definitions()
    connect_env = compose["services"]["connect"]["environment"]
    assert definition.config["topic.prefix"] == native.topic_prefix
    assert int(connect_env["FRAUDGRAPH_CDC_PARTITIONS"]) == native.kafka_partitions
    assert connect_env["CONNECT_CONFIG_PROVIDERS_ENV_CLASS"].endswith("EnvVarConfigProvider")
    referenced = {
        value[len("${env:") : -1]
        for value in definition.config.values()
        if value.startswith("${env:")
    }
    assert referenced <= set(connect_env), referenced - set(connect_env)
    worker_env = compose["services"]["connectors"]["environment"]
    assert worker_env["FRAUDGRAPH_TOPIC_PREFIX"] == native.topic_prefix


def test_postgres_runs_with_logical_decoding(compose: dict[str, Any]) -> None:
    command = " ".join(compose["services"]["postgres"]["command"])
    assert "wal_level=logical" in command


def test_observability_services_bind_loopback_on_the_native_ports(
    compose: dict[str, Any],
) -> None:
    native = StackConfig()
    expected = {
        "prometheus": {native.prometheus_port},
        "alertmanager": {native.alertmanager_port},
        "grafana": {3000},
        "jaeger": {16686, 4317, 4318},
    }
    services = compose["services"]
    for name, ports in expected.items():
        published = _published(services[name])
        assert set(published) == ports, name
        assert set(published.values()) == {"127.0.0.1"}, name


def test_grafana_needs_its_admin_password_from_the_environment() -> None:
    env = {**os.environ, **SECRETS}
    del env["GRAFANA_ADMIN_PASSWORD"]
    done = _config(env)
    assert done.returncode != 0
    assert "GRAFANA_ADMIN_PASSWORD" in done.stderr


def test_observability_mounts_exist_in_the_checkout(compose: dict[str, Any]) -> None:
    for name in ("prometheus", "alertmanager", "grafana"):
        binds = _binds(compose["services"][name])
        assert binds, name
        for source, read_only in binds:
            assert os.path.exists(source), source
            assert read_only, source
    command = " ".join(compose["services"]["prometheus"]["command"])
    assert "/etc/prometheus/fraudgraph/prometheus-compose.yml" in command
    assert (PROJECT_ROOT / "observability/prometheus/prometheus-compose.yml").is_file()


def test_grafana_dashboard_parses_and_uses_the_provisioned_datasource() -> None:
    dashboard = json.loads(
        (PROJECT_ROOT / "observability/grafana/dashboards/fraudgraph.json").read_text()
    )
    provisioned = yaml.safe_load(
        (
            PROJECT_ROOT / "observability/grafana/provisioning/datasources/datasources.yml"
        ).read_text()
    )
    uids = {source["uid"] for source in provisioned["datasources"]}
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    assert dashboard["uid"] == "fraudgraph"
    assert len(panels) >= 10
    for panel in panels:
        assert panel["datasource"]["uid"] in uids, panel["title"]
        assert panel["targets"] and all(target["expr"] for target in panel["targets"])

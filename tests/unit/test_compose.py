"""docker-compose.yml must be valid and agree with the native stack's ports and settings."""

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from fraudgraph.alerts.webhooks.config import secret_signer
from fraudgraph.connectors.definitions import load_definitions
from fraudgraph.stack.config import StackConfig
from tests.repo import PROJECT_ROOT

SECRETS = {
    "FRAUDGRAPH_PG_SUPERUSER_PASSWORD": "s1",
    "FRAUDGRAPH_PG_PASSWORD": "s2",
    "FRAUDGRAPH_CDC_PASSWORD": "s3",
    "NEO4J_PASSWORD": "s4",
    "FRAUDGRAPH_PII_KEY": "s5",
    "GRAFANA_ADMIN_PASSWORD": "s6",
    "FRAUDGRAPH_WEBHOOK_SECRET": "whsec_czc=",
    "FRAUDGRAPH_ALERTMANAGER_TOKEN": "s8",
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


def _run_compose_env(checkout: Path) -> dict[str, str]:
    done = subprocess.run(
        [str(checkout / "scripts" / "compose-env")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    env_file = checkout / ".env"
    assert env_file.stat().st_mode & 0o777 == 0o600
    pairs = (line.split("=", 1) for line in env_file.read_text().splitlines())
    return dict(pairs)


def test_compose_env_generates_every_secret_compose_requires(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    shutil.copy2(PROJECT_ROOT / "scripts" / "compose-env", tmp_path / "scripts")
    required = set(
        re.findall(r"\$\{([A-Z_]+):\?", (PROJECT_ROOT / "docker-compose.yml").read_text())
    )
    assert {"FRAUDGRAPH_WEBHOOK_SECRET", "FRAUDGRAPH_ALERTMANAGER_TOKEN"} <= required
    written = _run_compose_env(tmp_path)
    assert required <= set(written), required - set(written)
    secret_signer(written["FRAUDGRAPH_WEBHOOK_SECRET"], ".env")  # raises if not whsec_<base64>
    # Compose accepts the generated file as it is.
    with_env = subprocess.run(
        [
            "docker-compose",
            "--env-file",
            str(tmp_path / ".env"),
            "-f",
            str(PROJECT_ROOT / "docker-compose.yml"),
            "config",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if k not in SECRETS},
    )
    assert with_env.returncode == 0, with_env.stderr
    # A second run keeps every value; an older .env only gains what it lacks.
    assert _run_compose_env(tmp_path) == written
    older = {k: v for k, v in written.items() if k != "FRAUDGRAPH_ALERTMANAGER_TOKEN"}
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in older.items()))
    again = _run_compose_env(tmp_path)
    assert {k: again[k] for k in older} == older
    assert again["FRAUDGRAPH_ALERTMANAGER_TOKEN"]


def test_only_the_simulator_image_carries_an_extra(compose: dict[str, Any]) -> None:
    """The worker's image has neither Spark nor Faker; the one-shot simulator adds Faker."""
    services = compose["services"]
    built = {name: s["build"].get("target") for name, s in services.items() if "build" in s}
    assert built["worker"] == "runtime"
    assert built["simulator-load"] == "simulator"
    assert {t for n, t in built.items() if n != "simulator-load"} == {"runtime"}
    stages = re.split(r"^FROM ", (PROJECT_ROOT / "Dockerfile").read_text(), flags=re.M)
    runtime = next(s for s in stages if " AS runtime" in s.splitlines()[0])
    simulator = next(s for s in stages if " AS simulator" in s.splitlines()[0])
    assert "[" not in "".join(re.findall(r"pip install .*", runtime))  # no extras
    assert "[simulator]" in simulator
    assert "--constraint" in runtime  # the tested versions


def test_the_webhook_endpoints_are_mounted_from_the_checkout() -> None:
    """The runtime image holds the installed wheel only: no checkout under /app to read."""
    text = (PROJECT_ROOT / "docker-compose.yml").read_text()
    assert "/app/" not in text
    webhooks = yaml.safe_load(text)["services"]["webhooks"]
    (mount,) = webhooks["volumes"]
    source, target, mode = mount.split(":")
    assert (PROJECT_ROOT / source).is_file()
    assert webhooks["environment"]["FRAUDGRAPH_WEBHOOKS_FILE"] == target
    assert mode == "ro"

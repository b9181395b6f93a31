"""Alerting rules, Prometheus and Alertmanager configs, checked by the real promtool/amtool.

The tools come with Debian's `prometheus` and `prometheus-alertmanager` packages
(.ci/run installs them). A missing tool fails these tests: skipping would let a
broken rule file pass unnoticed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from fraudgraph.stack.config import StackConfig
from fraudgraph.stack.secrets import load_or_create
from fraudgraph.stack.services.alertmanager import AlertmanagerService, AlertReceiverService
from fraudgraph.stack.services.prometheus import (
    EXPORTER_JOB,
    RULES_FILE,
    WEBHOOKS_JOB,
    WORKER_JOB,
    PrometheusService,
    targets,
)
from tests.repo import PROJECT_ROOT

OBSERVABILITY = PROJECT_ROOT / "observability"


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: apt-get install -y {package} (as .ci/run does)")
    return path


def _check(argv: list[str], cwd: Path | None = None) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def promtool(*args: str, cwd: Path | None = None) -> str:
    return _check([_tool("promtool", "prometheus"), *args], cwd)


def amtool(*args: str) -> str:
    return _check([_tool("amtool", "prometheus-alertmanager"), *args])


@pytest.fixture
def native(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StackConfig:
    monkeypatch.setenv("FRAUDGRAPH_STATE_DIR", str(tmp_path))
    return StackConfig()


def test_rules_pass_promtool_check() -> None:
    assert "SUCCESS" in promtool("check", "rules", str(RULES_FILE))


def test_rule_unit_tests_pass() -> None:
    # rules_test.yml names rules.yml relative to itself.
    output = promtool("test", "rules", "rules_test.yml", cwd=RULES_FILE.parent)
    assert "SUCCESS" in output


def test_native_prometheus_config_is_valid_and_scrapes_loopback(native: StackConfig) -> None:
    service = PrometheusService(native, load_or_create(native.state_dir))
    assert service.write_config()
    assert not service.write_config()  # unchanged: `stack up` will not reload for nothing
    config_file = service.config_file
    assert "SUCCESS: 1 rule files found" in promtool("check", "config", str(config_file))
    config = yaml.safe_load(config_file.read_text())
    jobs = {
        job["job_name"]: job["static_configs"][0]["targets"]
        for job in config["scrape_configs"]
        if "static_configs" in job
    }
    assert jobs[WORKER_JOB] == ["127.0.0.1:9108"]
    assert jobs[WEBHOOKS_JOB] == ["127.0.0.1:9109"]
    assert jobs[EXPORTER_JOB] == ["127.0.0.1:9111"]
    # Drop-in targets and rules live in the state folder, never in the checkout.
    (extra,) = [job for job in config["scrape_configs"] if "file_sd_configs" in job]
    assert extra["file_sd_configs"][0]["files"] == [str(service.targets_dir / "*.json")]
    assert config["rule_files"] == [str(RULES_FILE), str(service.rules_dir / "*.yml")]
    assert {"prometheus", "alertmanager"} <= set(jobs)
    assert all(target.startswith("127.0.0.1:") for found in jobs.values() for target in found)


def test_native_alertmanager_config_is_valid(native: StackConfig) -> None:
    service = AlertmanagerService(native, load_or_create(native.state_dir))
    assert service.write_config()
    config_file = service.config_file
    amtool("check-config", str(config_file))
    config = yaml.safe_load(config_file.read_text())
    (receiver,) = config["receivers"]
    (webhook,) = receiver["webhook_configs"]
    assert webhook["url"] == native.alertmanager_webhook_url
    # The bearer token is read from a private file: the config itself holds no secret.
    authorization = webhook["http_config"]["authorization"]
    token_file = Path(authorization["credentials_file"])
    assert authorization["type"] == "Bearer"
    assert token_file.read_text() == service.secrets.alertmanager_token
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert service.secrets.alertmanager_token not in config_file.read_text()


def test_compose_configs_are_valid() -> None:
    promtool("check", "config", str(OBSERVABILITY / "prometheus" / "prometheus-compose.yml"))
    amtool("check-config", str(OBSERVABILITY / "alertmanager" / "alertmanager-compose.yml"))


def test_every_dashboard_query_parses(tmp_path: Path) -> None:
    """Each panel's PromQL, as a recording rule, through promtool's parser."""
    dashboard = json.loads(
        (OBSERVABILITY / "grafana" / "dashboards" / "fraudgraph.json").read_text()
    )
    exprs = [
        target["expr"].replace("$__rate_interval", "1m")
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]
    assert exprs
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:q{i}", "expr": expr} for i, expr in enumerate(exprs)
                ],
            }
        ]
    }
    rules_file = tmp_path / "dashboard-rules.yml"
    rules_file.write_text(yaml.safe_dump(rules))
    assert f"SUCCESS: {len(exprs)} rules found" in promtool("check", "rules", str(rules_file))


def test_scrape_targets_accept_a_comma_separated_list() -> None:
    assert targets("127.0.0.1:9108, 127.0.0.1:9118,") == ["127.0.0.1:9108", "127.0.0.1:9118"]
    assert targets("") == []


def test_the_stack_receiver_listens_where_alertmanager_posts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRAUDGRAPH_STATE_DIR", str(tmp_path))
    secrets = load_or_create(tmp_path)
    assert AlertReceiverService(StackConfig(), secrets).ports == (9110,)
    # A second stack moves the URL: the receiver follows it.
    moved = StackConfig(alertmanager_webhook_url="http://127.0.0.1:9210/alertmanager")
    assert AlertReceiverService(moved, secrets).ports == (9210,)
    # A URL elsewhere: the local receiver keeps its own port.
    remote = StackConfig(alertmanager_webhook_url="https://pager.example.com/hook")
    assert AlertReceiverService(remote, secrets).ports == (9110,)

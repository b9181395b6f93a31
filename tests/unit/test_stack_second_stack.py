"""A second native stack (e.g. for chaos runs) must not collide with the first one."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraudgraph.stack.client_env import client_environment, first_port
from fraudgraph.stack.config import StackConfig
from fraudgraph.stack.secrets import load_or_create


def test_a_second_stack_points_its_workers_at_its_own_metrics_ports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("FRAUDGRAPH_PG_PASSWORD", "FRAUDGRAPH_CDC_PASSWORD", "NEO4J_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FRAUDGRAPH_STATE_DIR", str(tmp_path))
    secrets = load_or_create(tmp_path)
    second = StackConfig(
        worker_metrics="127.0.0.1:9208, 127.0.0.1:9218",
        webhooks_metrics="127.0.0.1:9209",
    )
    env = client_environment(second, secrets)
    assert env["FRAUDGRAPH_METRICS_PORT"] == "9208"
    assert env["FRAUDGRAPH_WEBHOOKS_METRICS_PORT"] == "9209"
    assert env["FRAUDGRAPH_STATE_DIR"] == str(tmp_path)
    first = client_environment(StackConfig(), secrets)
    assert first["FRAUDGRAPH_METRICS_PORT"] == "9108"


def test_first_port_of_a_target_list() -> None:
    assert first_port("localhost:1") == 1
    assert first_port(" 127.0.0.1:9208 ,127.0.0.1:9218") == 9208

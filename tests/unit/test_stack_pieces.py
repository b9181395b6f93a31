import os
import shlex
import stat
import subprocess
import time
from pathlib import Path

import pytest

from fraudgraph.stack.client_env import export_lines
from fraudgraph.stack.secrets import load_or_create
from fraudgraph.stack.waiting import DeadlineExceeded, wait_for


def test_secrets_are_generated_once_and_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NEO4J_PASSWORD", raising=False)
    first = load_or_create(tmp_path)
    second = load_or_create(tmp_path)
    assert first.neo4j_password == second.neo4j_password
    assert len(first.neo4j_password) >= 24
    assert stat.S_IMODE(os.stat(first.file).st_mode) == 0o600


def test_environment_overrides_a_generated_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_or_create(tmp_path)
    monkeypatch.setenv("NEO4J_PASSWORD", "from-env")
    secrets = load_or_create(tmp_path)
    assert secrets.neo4j_password == "from-env"
    assert secrets.sources["neo4j_password"] == "environment $NEO4J_PASSWORD"


def test_export_lines_survive_the_shell() -> None:
    tricky = {"FRAUDGRAPH_X": "a b'c\"$HOME;`x`"}
    script = export_lines(tricky) + 'printf %s "$FRAUDGRAPH_X"'
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout == tricky["FRAUDGRAPH_X"]
    assert shlex.split(export_lines(tricky))[1] == "FRAUDGRAPH_X=" + tricky["FRAUDGRAPH_X"]


def test_wait_for_returns_the_first_truthy_value() -> None:
    calls = iter([None, False, "ready"])
    assert wait_for(lambda: next(calls), what="x", timeout=5, interval=0) == "ready"


def test_wait_for_reports_the_last_error_at_the_deadline() -> None:
    def probe() -> None:
        raise ConnectionError("refused")

    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="refused"):
        wait_for(probe, what="svc", timeout=0.2, interval=0.05)
    assert time.monotonic() - started < 2


def test_wait_for_stops_early_when_aborted() -> None:
    with pytest.raises(DeadlineExceeded, match="process exited"):
        wait_for(lambda: None, what="svc", timeout=30, abort=lambda: "process exited")

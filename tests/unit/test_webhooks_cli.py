"""`fraudgraph webhooks …`: invalid input is one line on stderr and exit code 2."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fraudgraph.alerts.webhooks.testing import new_secret


def webhooks(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FRAUDGRAPH_WEBHOOKS")}
    return subprocess.run(
        [sys.executable, "-m", "fraudgraph", "webhooks", *args],
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_deliver_without_an_endpoints_file(tmp_path: Path) -> None:
    line = one_line_error(webhooks("deliver", FRAUDGRAPH_STATE_DIR=str(tmp_path)))
    assert "FRAUDGRAPH_WEBHOOKS_FILE" in line


def test_deliver_with_a_broken_endpoints_file(tmp_path: Path) -> None:
    broken = tmp_path / "endpoints.yaml"
    broken.write_text("endpoints: [{name: a, url: 'http://x', secret_env: NOPE_SECRET}]\n")
    line = one_line_error(webhooks("deliver", "--file", str(broken)))
    assert "NOPE_SECRET is not set" in line


def test_check_lists_endpoints_and_retry_topics(tmp_path: Path) -> None:
    path = tmp_path / "endpoints.yaml"
    path.write_text(
        "endpoints: [{name: a, url: 'http://x/h?token=t', secret_env: A_SECRET, kinds: [link]}]\n"
    )
    done = webhooks(
        "check", "--file", str(path), A_SECRET=new_secret(), FRAUDGRAPH_STATE_DIR=str(tmp_path)
    )
    assert done.returncode == 0, done.stderr
    assert "a: http://x/h kinds=link min_severity=low enabled" in done.stdout
    assert "token" not in done.stdout
    assert "fraudgraph.webhooks.retry.5s" in done.stdout


def test_enable_an_endpoint_that_is_not_disabled(tmp_path: Path) -> None:
    line = one_line_error(webhooks("enable", "nope", FRAUDGRAPH_STATE_DIR=str(tmp_path)))
    assert "nope is not disabled" in line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "between 0 and 65535"),
        (["--port", "0", "--host", "192.0.2.1"], "cannot listen on 192.0.2.1"),
        (["--port", "0", "--out", "/proc/none/out.jsonl"], "--out /proc/none/out.jsonl"),
    ],
)
def test_receive_rejects_bad_options(tmp_path: Path, args: list[str], message: str) -> None:
    options = {"--out": str(tmp_path / "out.jsonl"), "--secret-env": "R_SECRET"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        options[flag] = value
    flat = [part for pair in options.items() for part in pair]
    line = one_line_error(webhooks("receive", *flat, R_SECRET=new_secret()))
    assert message in line

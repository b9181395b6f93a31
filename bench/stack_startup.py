"""Cold install, warm start and idle memory of the native stack, on spare ports."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from fraudgraph.stack.config import StackConfig
from fraudgraph.stack.manager import Stack

PORT_SHIFT = 20000  # run beside a live stack without touching its ports


def measure_stack_startup(settle_s: float = 20.0) -> dict[str, Any]:
    """A fresh state folder and an empty Maven repository: the first `up` downloads everything."""
    scratch = Path(tempfile.mkdtemp(prefix="fraudgraph-cold-"))
    scratch.chmod(0o755)  # PostgreSQL runs as `postgres` and must enter it
    defaults = StackConfig()
    config = StackConfig(
        FRAUDGRAPH_STATE_DIR=scratch / "state",  # type: ignore[call-arg]
        pg_port=defaults.pg_port + PORT_SHIFT,
        kafka_port=defaults.kafka_port + PORT_SHIFT,
        kafka_controller_port=defaults.kafka_controller_port + PORT_SHIFT,
        connect_port=defaults.connect_port + PORT_SHIFT,
        neo4j_bolt_port=defaults.neo4j_bolt_port + PORT_SHIFT,
        neo4j_http_port=defaults.neo4j_http_port + PORT_SHIFT,
        prometheus_port=defaults.prometheus_port + PORT_SHIFT,
        alertmanager_port=defaults.alertmanager_port + PORT_SHIFT,
    )
    previous_opts = os.environ.get("MAVEN_OPTS")
    os.environ["MAVEN_OPTS"] = f"-Dmaven.repo.local={scratch / 'm2'}"
    figures: dict[str, Any] = {}
    stack = Stack(config)
    try:
        started = time.monotonic()
        stack.up()
        figures["cold_install_and_up_s"] = round(time.monotonic() - started, 1)
        started = time.monotonic()
        stack.up()
        figures["up_when_running_s"] = round(time.monotonic() - started, 2)
        time.sleep(settle_s)  # idle memory is what a stack holds after start-up settles
        for row in stack.status():
            figures[f"idle_rss_mb_{row.name}"] = round(row.rss_mb)
        stack.down()
        started = time.monotonic()
        stack.up()
        figures["warm_up_from_stopped_s"] = round(time.monotonic() - started, 1)
        figures["downloads_mb"] = round(_size(config.downloads_dir) / 2**20)
    finally:
        stack.down()
        if previous_opts is None:
            os.environ.pop("MAVEN_OPTS", None)
        else:
            os.environ["MAVEN_OPTS"] = previous_opts
        shutil.rmtree(scratch, ignore_errors=True)
    return figures


def _size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())

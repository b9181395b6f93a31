"""The pipeline exporter (`fraudgraph exporter`) as a stack service.

It measures the demo worker group's consumer lag and polls Kafka Connect's
status, on 127.0.0.1:9111 (job `fraudgraph-exporter`). A stack service rather
than part of the worker: its whole point is to keep reporting while no worker runs.
"""

from __future__ import annotations

import os
import sys

import httpx

from fraudgraph.stack.client_env import client_environment
from fraudgraph.stack.service import Service


class ExporterService(Service):
    name = "exporter"
    stop_timeout_s = 15.0

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.config.exporter_port,)

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.config.exporter_port}"

    def install(self) -> None:
        return None  # our own code, in the venv that runs the stack

    def launch(self) -> None:
        self.process.start(
            [
                sys.executable,
                "-m",
                "fraudgraph",
                "exporter",
                "--host",
                self.config.host,
                "--port",
                str(self.config.exporter_port),
            ],
            env={**os.environ, **client_environment(self.config, self.secrets)},
        )

    def is_healthy(self) -> bool:
        response = httpx.get(f"{self.url}/metrics", timeout=10)
        return response.status_code == 200 and "fraudgraph_connect_up" in response.text

    def detail(self) -> str:
        return f"{self.url}/metrics  lag + Connect status"

"""Bring the native services up in order, report their state, and stop them."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterable

from fraudgraph.stack.config import StackConfig
from fraudgraph.stack.errors import PortInUseError, StackError
from fraudgraph.stack.ports import describe_port_owner, port_is_free
from fraudgraph.stack.process import ManagedProcess, ProcessFiles
from fraudgraph.stack.secrets import StackSecrets, load_or_create
from fraudgraph.stack.service import Service, ServiceStatus
from fraudgraph.stack.services.alertmanager import AlertmanagerService, AlertReceiverService
from fraudgraph.stack.services.connect import ConnectService
from fraudgraph.stack.services.exporter import ExporterService
from fraudgraph.stack.services.kafka import KafkaService
from fraudgraph.stack.services.neo4j import Neo4jService
from fraudgraph.stack.services.postgres import PostgresService
from fraudgraph.stack.services.prometheus import PrometheusService
from fraudgraph.stack.waiting import DeadlineExceeded, wait_for

Report = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


class Stack:
    """The services in start order; stopped in reverse."""

    def __init__(self, config: StackConfig, secrets: StackSecrets | None = None) -> None:
        self.config = config
        self.secrets = secrets or load_or_create(config.state_dir)
        self.services: list[Service] = _build_services(config, self.secrets)

    def service(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        known = ", ".join(s.name for s in self.services)
        raise StackError(f"unknown service {name!r} (known: {known})")

    def up(
        self, names: Iterable[str] | None = None, report: Report = _quiet, stage: Report = _quiet
    ) -> None:
        """Start `names` (default: all) in order. `report` gets one line per service when
        it is healthy; `stage` gets what is happening now, for a progress display (a first
        run downloads hundreds of MB before anything starts)."""
        wanted = set(names) if names else {s.name for s in self.services}
        for service in self.services:
            if service.name in wanted:
                self._bring_up(service, report, stage)

    def _bring_up(self, service: Service, report: Report, stage: Report) -> None:
        started = time.monotonic()
        stage(f"{service.name}: installing what is missing (first run: downloads)")
        service.install()
        if service.process.process() is None:
            stage(f"{service.name}: starting")
            for port in service.ports:
                if not port_is_free(port, self.config.host):
                    raise PortInUseError(
                        f"cannot start {service.name}: port {port} is in use by "
                        f"{describe_port_owner(port)}"
                    )
            service.launch()
            action = "started"
        else:
            action = "already running"
        stage(f"{service.name}: waiting for it to answer")
        self._wait(service, service.is_ready, "to answer")
        service.after_healthy()
        stage(f"{service.name}: waiting for it to become healthy")
        self._wait(service, service.is_healthy, "to become healthy")
        report(f"{service.name}: {action}, healthy in {time.monotonic() - started:.1f}s")

    def _wait(self, service: Service, probe: Callable[[], bool], what: str) -> None:
        def died() -> str | None:
            return None if service.process.process() else "process exited"

        try:
            wait_for(
                probe,
                what=f"{service.name} {what}",
                timeout=self.config.start_timeout_s,
                abort=died,
            )
        except DeadlineExceeded as error:
            raise StackError(
                f"{service.name} failed to start: {error}\n"
                f"last lines of {service.process.files.log_file}:\n{service.process.log_tail()}"
            ) from error

    def down(self, report: Report = _quiet, wipe: bool = False) -> None:
        if demo_worker(self.config).stop():
            report("worker: stopped")
        for service in reversed(self.services):
            if service.process.stop(timeout=service.stop_timeout_s):
                report(f"{service.name}: stopped")
        if wipe:
            for service in self.services:
                shutil.rmtree(service.home, ignore_errors=True)
            (self.config.state_dir / "secrets.env").unlink(missing_ok=True)
            report(f"state wiped under {self.config.state_dir} (downloads kept)")

    def status(self) -> list[ServiceStatus]:
        rows = []
        for service in self.services:
            process = service.process.process()
            healthy = False
            if process is not None:
                try:
                    healthy = bool(service.is_healthy())
                except Exception:  # noqa: BLE001 - any failed probe reads as unhealthy
                    healthy = False
            rows.append(
                ServiceStatus(
                    name=service.name,
                    pid=process.pid if process else None,
                    ports=service.ports,
                    healthy=healthy,
                    rss_mb=service.process.rss_bytes() / 2**20,
                    detail=service.detail(),
                )
            )
        return rows


def demo_worker(config: StackConfig) -> ManagedProcess:
    """The stream worker `make demo` starts; stopped with the stack it depends on."""
    return ManagedProcess(
        "worker",
        ProcessFiles(
            pid_file=config.run_dir / "worker.pid", log_file=config.logs_dir / "worker.log"
        ),
    )


def _build_services(config: StackConfig, secrets: StackSecrets) -> list[Service]:
    return [
        PostgresService(config, secrets),
        KafkaService(config, secrets),
        ConnectService(config, secrets),
        Neo4jService(config, secrets),
        # Monitoring last: it watches the others, and nothing else waits for it.
        AlertReceiverService(config, secrets),
        AlertmanagerService(config, secrets),
        ExporterService(config, secrets),
        PrometheusService(config, secrets),
    ]

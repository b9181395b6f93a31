"""What every native service offers the stack manager."""

from __future__ import annotations

import abc
import signal
from dataclasses import dataclass

from fraudgraph.stack.config import StackConfig
from fraudgraph.stack.process import ManagedProcess, ProcessFiles
from fraudgraph.stack.secrets import StackSecrets


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    pid: int | None
    ports: tuple[int, ...]
    healthy: bool
    rss_mb: float
    detail: str = ""


class Service(abc.ABC):
    """One native service. Constructors store configuration; no I/O happens here."""

    name: str
    stop_timeout_s: float = 60.0

    def __init__(self, config: StackConfig, secrets: StackSecrets) -> None:
        self.config = config
        self.secrets = secrets
        self.home = config.service_dir(self.name)
        self.process = ManagedProcess(
            self.name,
            ProcessFiles(
                pid_file=config.run_dir / f"{self.name}.pid",
                log_file=config.logs_dir / f"{self.name}.log",
            ),
            stop_signal=self.stop_signal(),
        )

    def stop_signal(self) -> int:
        return signal.SIGTERM

    @property
    @abc.abstractmethod
    def ports(self) -> tuple[int, ...]:
        """Ports the service listens on (all on the stack's host)."""

    @abc.abstractmethod
    def install(self) -> None:
        """Fetch binaries/jars if missing. Idempotent and fast when done."""

    @abc.abstractmethod
    def launch(self) -> None:
        """Write configuration, initialise storage on first run, start the process."""

    @abc.abstractmethod
    def is_healthy(self) -> bool:
        """A real check that the service answers (may raise; counts as unhealthy)."""

    def is_ready(self) -> bool:
        """Answers enough for `after_healthy` to run; by default the health check."""
        return self.is_healthy()

    def after_healthy(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Idempotent set-up once the service answers (roles, schemas)."""

    def detail(self) -> str:
        """Extra status text (URLs, where the password lives)."""
        return ""

"""fraudgraph child processes under a supervisor that restarts them when they exit.

The stream worker exits 70 on an internal error and expects a supervisor
(systemd, compose `restart:`) to start it again; during a chaos run the harness
plays that supervisor, and records every exit it saw.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ArgvFactory = Callable[[], Sequence[str]]


def fraudgraph_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "fraudgraph", *args]


@dataclass(frozen=True)
class Exit:
    child: str
    code: int
    at: float  # time.monotonic()


class Child:
    """One `fraudgraph …` subprocess, its output appended to a log file."""

    def __init__(
        self,
        name: str,
        argv: ArgvFactory,
        env: Mapping[str, str],
        log_dir: Path,
        *,
        restart_on_success: bool = True,
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = dict(env)
        self.log_path = log_dir / f"{name}.log"
        # Workers and the deliverer run until stopped; the load driver ends on its own
        # with 0 and is restarted only when it failed (e.g. PostgreSQL went away).
        self.restart_on_success = restart_on_success
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                list(self.argv()),
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C of the harness is handled by the harness
            )
        self.starts += 1

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no chance to finish a batch or commit anything."""
        if self.running():
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, then SIGKILL after `timeout`."""
        if not self.running():
            return
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.output().splitlines()[-lines:])


@dataclass
class Supervisor:
    """Restarts supervised children that exit; a background thread checks twice a second."""

    children: dict[str, Child] = field(default_factory=dict)
    exits: list[Exit] = field(default_factory=list)
    held: set[str] = field(default_factory=set)  # stopped on purpose: not restarted
    interval_s: float = 0.5

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="chaos-supervisor", daemon=True)

    def add(self, child: Child) -> Child:
        with self._lock:
            self.children[child.name] = child
            child.start()
        return child

    def begin(self) -> None:
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.check()

    def check(self) -> None:
        with self._lock:
            for child in self.children.values():
                code = child.returncode()
                if code is None or child.name in self.held:
                    continue
                if code == 0 and not child.restart_on_success:
                    continue
                self.exits.append(Exit(child.name, code, time.monotonic()))
                child.start()

    def hold(self, name: str) -> Child:
        """Stop restarting `name` (the caller kills or stops it)."""
        with self._lock:
            self.held.add(name)
            return self.children[name]

    def release(self, name: str) -> None:
        """Restart `name` now and supervise it again."""
        with self._lock:
            self.held.discard(name)
            child = self.children[name]
            if not child.running():
                child.start()

    def remove(self, name: str, timeout: float = 30.0) -> None:
        with self._lock:
            child = self.children.pop(name)
        child.stop(timeout)

    def exits_of(self, prefix: str) -> list[Exit]:
        return [e for e in self.exits if e.child.startswith(prefix)]

    def shutdown(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        with self._lock:
            children = list(self.children.values())
        for child in children:
            with contextlib.suppress(Exception):
                child.stop()

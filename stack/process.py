"""A long-running service process started detached, tracked by a pid file.

The pid file records the process start time too, so a recycled pid is never
mistaken for our service and never sent a signal.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from fraudgraph.stack.errors import StackError


@dataclass(frozen=True)
class ProcessFiles:
    pid_file: Path
    log_file: Path


class ManagedProcess:
    """Start, find, measure and stop one service process."""

    def __init__(self, name: str, files: ProcessFiles, stop_signal: int = signal.SIGTERM) -> None:
        self.name = name
        self.files = files
        self.stop_signal = stop_signal

    def start(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> psutil.Process:
        if self.process() is not None:
            raise StackError(f"{self.name} is already running")
        self.files.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.files.pid_file.parent.mkdir(parents=True, exist_ok=True)
        # The shell starts the service in the background and exits at once: the
        # service is adopted by init, outlives this process, and never lingers as an
        # un-waited child of ours. A new session lets `stop` signal its whole group.
        launcher = subprocess.run(
            ["sh", "-c", '"$@" >>"$FRAUDGRAPH_LOG" 2>&1 </dev/null & echo $!', "sh", *argv],
            env={
                **(env if env is not None else os.environ),
                "FRAUDGRAPH_LOG": str(self.files.log_file),
            },
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
            start_new_session=True,
        )
        try:
            process = psutil.Process(int(launcher.stdout.strip()))
        except (ValueError, psutil.Error) as error:
            raise StackError(f"could not start {self.name}: {launcher.stderr.strip()}") from error
        self.files.pid_file.write_text(f"{process.pid} {process.create_time()}\n")
        return process

    def process(self) -> psutil.Process | None:
        """Our running process, or None when it is not running (stale pid files ignored)."""
        try:
            pid_text, created_text = self.files.pid_file.read_text().split()
            process = psutil.Process(int(pid_text))
            if abs(process.create_time() - float(created_text)) > 0.01:
                return None
            if process.status() == psutil.STATUS_ZOMBIE:
                return None
        except (FileNotFoundError, ValueError, psutil.Error):
            return None
        return process

    def rss_bytes(self) -> int:
        """Resident memory of the service including its children (postgres backends)."""
        process = self.process()
        if process is None:
            return 0
        total = 0
        for member in [process, *process.children(recursive=True)]:
            try:
                total += member.memory_info().rss
            except psutil.Error:
                continue
        return total

    def stop(self, timeout: float = 60.0) -> bool:
        """Ask the service to stop, escalate to SIGKILL after `timeout`. True if it was running."""
        process = self.process()
        if process is None:
            self.files.pid_file.unlink(missing_ok=True)
            return False
        group = _process_group(process)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, self.stop_signal)
        try:
            process.wait(timeout=timeout)
        except psutil.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
            process.wait(timeout=10)
        self.files.pid_file.unlink(missing_ok=True)
        return True

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.files.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log yet)"
        return "\n".join(text.splitlines()[-lines:])


def _process_group(process: psutil.Process) -> int:
    """The service's process group (its launcher's session), to signal helpers too."""
    try:
        return os.getpgid(process.pid)
    except ProcessLookupError:
        return process.pid

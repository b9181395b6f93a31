"""Run the real `fraudgraph worker` on the bench topics and time it through its commits.

The worker runs as its own process, started exactly as in production, so its
memory can be measured as a whole and py-spy can attach to it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from fraudgraph.bench.observe import CpuMark, CpuWatch, GroupProgress, TreeMemory, find_service
from fraudgraph.bench.pyspy import Recording, find_py_spy
from fraudgraph.errors import FraudgraphError

POLL_SECONDS = 0.5
Progress = Callable[[int, int], None]


class WorkerRunError(FraudgraphError):
    """The worker died or did not commit every event before the deadline."""


@dataclass(frozen=True)
class WorkerRun:
    events: int  # events counted in the rate's window
    seconds: float
    window: str  # "first-commit" or, when one commit covered everything, "from-assignment"
    peak_rss_mb: float
    cpu: dict[str, float]
    profile_file: Path | None  # busy samples only
    wall_profile_file: Path | None  # idle samples too

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


@dataclass
class _Marks:
    assigned: tuple[float, int, CpuMark] | None = None
    first_commit: tuple[float, int, CpuMark] | None = None


def run_worker(
    env: dict[str, str],
    progress: GroupProgress,
    *,
    events: int,
    log_file: Path,
    profile_file: Path | None,
    on_progress: Progress,
    timeout: float,
) -> WorkerRun:
    """Start the worker, wait until it has committed `events`, then kill it.

    events/s is counted from the first commit the worker makes to the sample that
    sees all events committed (start-up and the first batch's fill are excluded);
    if a single commit covered everything (a tiny run) the window starts when the
    group was assigned instead.
    """
    command = [str(Path(sys.executable).parent / "fraudgraph"), "worker", "--log-level", "WARNING"]
    with log_file.open("wb") as log:
        worker = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        return _watch(
            worker,
            progress,
            events=events,
            log_file=log_file,
            profile_file=profile_file,
            on_progress=on_progress,
            timeout=timeout,
        )
    finally:
        _kill_tree(worker)


def _watch(
    worker: subprocess.Popen[bytes],
    progress: GroupProgress,
    *,
    events: int,
    log_file: Path,
    profile_file: Path | None,
    on_progress: Progress,
    timeout: float,
) -> WorkerRun:
    memory = TreeMemory(worker.pid)
    cpu = CpuWatch(
        psutil.Process(worker.pid),
        {"neo4j": find_service("org.neo4j.server"), "kafka": find_service("kafka.Kafka")},
    )
    py_spy = find_py_spy()
    recordings: list[Recording] = []
    marks = _Marks()
    deadline = time.monotonic() + timeout
    committed = 0
    while committed < events:
        memory.sample()
        if worker.poll() is not None:
            raise WorkerRunError(f"worker exited ({worker.returncode}): {_tail(log_file)}")
        if time.monotonic() > deadline:
            raise WorkerRunError(f"worker committed {committed} of {events} in {timeout:.0f}s")
        committed = progress.committed()
        now = time.perf_counter()
        if marks.assigned is None and (committed > 0 or progress.assigned()):
            marks.assigned = (now, 0, cpu.mark())
            if py_spy is not None and profile_file is not None:
                recordings = [
                    Recording(py_spy, worker.pid, profile_file),
                    Recording(py_spy, worker.pid, _wall(profile_file), idle=True),
                ]
                for recording in recordings:
                    recording.start()
        if marks.first_commit is None and committed > 0:
            marks.first_commit = (now, committed, cpu.mark())
        on_progress(committed, events)
        if committed < events:
            time.sleep(POLL_SECONDS)
    end = cpu.mark()
    finished = time.perf_counter()
    memory.sample()
    profiled = [recording.stop() for recording in recordings]
    assert marks.assigned is not None and marks.first_commit is not None
    window, (began, already, start_mark) = (
        ("first-commit", marks.first_commit)
        if marks.first_commit[1] < events
        else ("from-assignment", marks.assigned)
    )
    return WorkerRun(
        events=events - already,
        seconds=finished - began,
        window=window,
        peak_rss_mb=memory.peak_bytes / 2**20,
        cpu=CpuWatch.percent(start_mark, end),
        profile_file=profile_file if profile_file and any(profiled[:1]) else None,
        wall_profile_file=_wall(profile_file) if profile_file and any(profiled[1:]) else None,
    )


def _wall(profile_file: Path) -> Path:
    return profile_file.with_name(f"{profile_file.name}.wall")


def _kill_tree(worker: subprocess.Popen[bytes]) -> None:
    """SIGKILL the worker and its children: its graceful shutdown can hang (known issue)."""
    try:
        children = psutil.Process(worker.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    for process in [*children]:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    if worker.poll() is None:
        os.kill(worker.pid, signal.SIGKILL)
    worker.wait()


def _tail(log_file: Path, lines: int = 5) -> str:
    text = log_file.read_text(errors="replace").strip().splitlines()
    return " | ".join(text[-lines:])[-1500:] or "no output"


def worker_environment(settings_env: dict[str, str], overrides: dict[str, str]) -> dict[str, str]:
    """The caller's environment plus the stack's client settings and the run's own names."""
    return {**os.environ, **settings_env, **overrides}

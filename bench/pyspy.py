"""Sampling the worker with py-spy while it runs, and a short account of where its time went.

py-spy attaches from outside (no change to the worker) and, without --idle, keeps
only samples of threads that are running: so the shares below are of the
worker's busy time, not of the wall clock spent waiting for Neo4j.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

# Where a busy sample is charged: the innermost frame that matches one of these
# (checked from the leaf outwards), so e.g. json parsing inside decode_record
# counts as decoding and packing inside the driver as the Neo4j driver.
AREAS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("pii_hashing", re.compile(r"\(graph/pii\.py")),
    ("plan_rows", re.compile(r"\(graph/plan\.py")),
    ("decode_events", re.compile(r"\(cdc/")),
    ("neo4j_driver", re.compile(r"\(neo4j/")),
    ("kafka_client", re.compile(r"\((aiokafka|kafka)/")),
    # A leaf in mode's worker or thread start-up is the uvloop/C loop itself running.
    (
        "event_loop",
        re.compile(r"\((mode/worker|mode/threads|asyncio/|uvloop/|concurrent/|threading)"),
    ),
    ("faust_streams", re.compile(r"\((faust|mode)/")),
    ("stream_processor", re.compile(r"\(stream/")),
)
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^():]*)(:\d+)?\)$")


def find_py_spy() -> Path | None:
    beside = Path(sys.executable).parent / "py-spy"
    if beside.exists():
        return beside
    found = shutil.which("py-spy")
    return Path(found) if found else None


class Recording:
    """`py-spy record` on one process until stopped; raw (collapsed stacks) output."""

    def __init__(self, py_spy: Path, pid: int, out: Path, *, idle: bool = False) -> None:
        self.command = [
            str(py_spy), "record", "-p", str(pid), "-f", "raw", "-o", str(out),
            "--nonblocking", "--function", "--rate", "100",
        ]  # fmt: skip
        if idle:
            self.command.append("--idle")
        self.out = out
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def stop(self) -> bool:
        """Ask py-spy to write its file (SIGINT, as Ctrl-C would); True if it did."""
        if self._process is None:
            return False
        self._process.send_signal(signal.SIGINT)
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        return self.out.exists()


@dataclass(frozen=True)
class ProfileSummary:
    samples: int
    areas: dict[str, float]  # area -> percent of busy samples
    top_functions: list[tuple[str, float]]  # innermost function -> percent of busy samples


def summarise(raw: str, top: int = 8) -> ProfileSummary:
    """Shares of busy samples per area and per innermost function, from collapsed stacks."""
    areas: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        leaves[_short(frames[-1])] += count
        areas[_area(frames)] += count
    if total == 0:
        return ProfileSummary(0, {}, [])
    return ProfileSummary(
        samples=total,
        areas={name: 100 * n / total for name, n in areas.most_common()},
        top_functions=[(name, 100 * n / total) for name, n in leaves.most_common(top)],
    )


# The graph-writer thread (stream/app.py) is the worker's pipeline: a batch is
# decoded, planned and written there while the event loop fetches the next one.
# Its wall clock (idle samples included) says whether Neo4j or the worker paces it.
WRITER_THREAD = "_worker (concurrent/futures/thread.py"
WRITER_PHASES: tuple[tuple[str, str], ...] = (
    ("decode", "decode_record (cdc/decode.py"),
    ("plan", "WritePlanner.plan (graph/plan.py"),
    ("neo4j_write", "GraphWriter.apply (graph/writer.py"),
    ("processor_other", "BatchProcessor.process (stream/processor.py"),
)


def writer_wall_shares(raw: str) -> dict[str, float]:
    """Percent of the graph-writer thread's wall clock per phase; `waiting` = no batch to do.

    Needs a recording with idle samples. `neo4j_write` is the round trips to Neo4j
    (sending, Neo4j executing the Cypher, committing) less the planning inside them.
    """
    phases: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if WRITER_THREAD not in stack or not count_text.isdigit():
            continue
        phase = next((name for name, frame in WRITER_PHASES if frame in stack), "waiting")
        phases[phase] += int(count_text)
    total = sum(phases.values())
    return {name: 100 * n / total for name, n in phases.most_common()} if total else {}


def _area(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, pattern in AREAS:
            if pattern.search(frame):
                return name
    return "other"


def _short(frame: str) -> str:
    match = _FRAME.match(frame)
    if match is None:
        return frame
    return f"{match['function']} ({match['file']})"

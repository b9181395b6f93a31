"""Watching a run from outside: a consumer group's committed offsets, memory and CPU.

The worker is measured as a black box, through what it commits to Kafka, so the
figure is what a downstream reader could rely on: events durably in the graph.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import psutil
from confluent_kafka import Consumer, ConsumerGroupState, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient


class GroupProgress:
    """Committed offsets of one consumer group over a fixed set of fresh partitions.

    The topics were created empty for the run, so the sum of committed offsets is
    the number of events the group has finished with.
    """

    def __init__(self, bootstrap: str, group: str, partitions: Sequence[tuple[str, int]]) -> None:
        self.bootstrap = bootstrap
        self.group = group
        self.partitions = list(partitions)
        self._consumer: Consumer | None = None
        self._admin: AdminClient | None = None

    def start(self) -> None:
        # Never subscribes, so it reads the group's offsets without joining the group.
        self._consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": self.group,
                "enable.auto.commit": False,
            }
        )
        self._admin = AdminClient({"bootstrap.servers": self.bootstrap})

    def committed(self) -> int:
        assert self._consumer is not None, "start() first"
        try:
            offsets = self._consumer.committed(
                [TopicPartition(topic, partition) for topic, partition in self.partitions],
                timeout=5,
            )
        except KafkaException:
            return 0  # the group does not exist yet
        return sum(max(tp.offset, 0) for tp in offsets)

    def assigned(self) -> bool:
        """The group has settled with a member: consumption can begin."""
        assert self._admin is not None, "start() first"
        future = self._admin.describe_consumer_groups([self.group])[self.group]
        try:
            description = future.result(timeout=5)
        except KafkaException:
            return False
        return bool(description.state == ConsumerGroupState.STABLE and description.members)

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    def delete_group(self) -> None:
        """Drop the group's stored offsets (its members must be gone)."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        for future in admin.delete_consumer_groups([self.group], request_timeout=10).values():
            # Best effort: a SIGKILLed worker stays a member until its session times
            # out (then the group, its topics deleted, is empty and expires by itself).
            with contextlib.suppress(KafkaException):
                future.result(timeout=15)


class TreeMemory:
    """Peak resident memory of a process and all its children, sampled on demand."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.peak_bytes = 0

    def sample(self) -> None:
        try:
            processes = [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        total = 0
        for process in processes:
            try:
                total += process.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        self.peak_bytes = max(self.peak_bytes, total)


class MemorySampler:
    """A `TreeMemory` sampled every `interval` seconds on a thread of its own, for a
    bench whose main thread waits on something else meanwhile (a live simulator)."""

    def __init__(self, pid: int, interval: float = 1.0) -> None:
        self.memory = TreeMemory(pid)
        self.interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)

    def start(self) -> MemorySampler:
        self.memory.sample()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        return round(self.memory.peak_bytes / 2**20, 1)

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            self.memory.sample()


def find_service(marker: str) -> psutil.Process | None:
    """The running process whose command line contains `marker` (a JVM main class)."""
    for process in psutil.process_iter(["cmdline"]):
        if marker in " ".join(process.info["cmdline"] or ()):
            return process
    return None


@dataclass(frozen=True)
class CpuMark:
    at: float
    busy: dict[str, float]  # CPU seconds used so far, per watched party
    machine_busy: float  # CPU seconds of all cores


class CpuWatch:
    """CPU used over a window by the worker, the services and this bench, in % of one core.

    `bench` is this process and its helpers (py-spy, a live simulator, also once they
    have ended) but not the worker it started;
    `other` is everything else on the machine (other people's runs, the OS, the
    stack's other services); machine_cpu_percent alone is of all cores.
    """

    def __init__(self, worker: psutil.Process, services: dict[str, psutil.Process | None]) -> None:
        self.worker = worker
        self.services = services
        self.own = psutil.Process()

    def mark(self) -> CpuMark:
        worker_seconds, worker_pids = _tree_cpu(self.worker, frozenset())
        busy = {"worker": worker_seconds}
        for name, process in self.services.items():
            busy[name] = _tree_cpu(process, frozenset())[0] if process is not None else 0.0
        # Children that ended (a live simulator run) are in the bench's children times.
        ended = self.own.cpu_times()
        busy["bench"] = _tree_cpu(self.own, worker_pids)[0] + ended.children_user
        busy["bench"] += ended.children_system
        times = psutil.cpu_times()
        return CpuMark(time.monotonic(), busy, times.user + times.system + times.nice)

    @staticmethod
    def percent(start: CpuMark, end: CpuMark) -> dict[str, float]:
        wall = max(end.at - start.at, 1e-9)
        used = {name: end.busy[name] - start.busy[name] for name in start.busy}
        shares = {f"{name}_cpu_percent": 100 * seconds / wall for name, seconds in used.items()}
        machine = end.machine_busy - start.machine_busy
        shares["other_cpu_percent"] = max(0.0, 100 * (machine - sum(used.values())) / wall)
        shares["machine_cpu_percent"] = 100 * machine / wall / (psutil.cpu_count() or 1)
        return shares


def _tree_cpu(process: psutil.Process, skip: frozenset[int]) -> tuple[float, frozenset[int]]:
    """CPU seconds of a process and its descendants (except `skip`), and their pids."""
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0, frozenset()
    total = 0.0
    for member in members:
        if member.pid in skip:
            continue
        try:
            times = member.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total, frozenset(member.pid for member in members)

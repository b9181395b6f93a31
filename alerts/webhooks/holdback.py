"""Retry records fetched before they are due, held in memory per partition, in offset order.

Why not pause-and-seek back to a record that is not due? librdkafka takes about a
second to start fetching a resumed partition again, so every retry would come
about a second late. Instead a partition whose head is not due keeps its fetched
records here and is paused only while that head is further away than `lead_ms`
(or too many records are held); it is resumed `lead_ms` before the head is due,
so the records behind it are fetched by then. Nothing held is committed: after a
crash or a rebalance the records are read again from the committed offset.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from fraudgraph.alerts.webhooks.records import Incoming, RetryState

TP = tuple[str, int]


@dataclass(frozen=True)
class Held:
    record: Incoming
    state: RetryState

    @property
    def tp(self) -> TP:
        return (self.record.topic, self.record.partition)


class Holdback:
    def __init__(self, lead_ms: int = 1500, max_held: int = 1000) -> None:
        self.lead_ms = lead_ms
        self.max_held = max_held
        self._queues: dict[TP, deque[Held]] = {}

    def holding(self, tp: TP) -> bool:
        return tp in self._queues

    def hold(self, held: Held) -> None:
        """Keep `held` behind whatever its partition already holds."""
        self._queues.setdefault(held.tp, deque()).append(held)

    def take_due(self, now_ms: int) -> list[Held]:
        """Every record now due, in offset order per partition; a later record never
        overtakes an earlier one of its partition."""
        due: list[Held] = []
        for tp in list(self._queues):
            queue = self._queues[tp]
            while queue and queue[0].state.due_ms <= now_ms:
                due.append(queue.popleft())
            if not queue:
                del self._queues[tp]
        return due

    def first_offset(self, tp: TP) -> int | None:
        """The offset to commit for a holding partition: its oldest held record."""
        queue = self._queues.get(tp)
        return queue[0].record.offset if queue else None

    def to_pause(self, now_ms: int) -> set[TP]:
        """Partitions that should not fetch now: head far off, or enough held already."""
        return {
            tp
            for tp, queue in self._queues.items()
            if queue[0].state.due_ms > now_ms + self.lead_ms or len(queue) >= self.max_held
        }

    def next_event_ms(self, now_ms: int, paused: set[TP]) -> int | None:
        """When something is next to do: a head falls due, or a paused partition resumes."""
        times = []
        for tp, queue in self._queues.items():
            due = queue[0].state.due_ms
            resume = due - self.lead_ms
            # A partition paused because it holds too much resumes when its head goes.
            times.append(resume if tp in paused and resume > now_ms else due)
        return min(times, default=None)

    def count(self) -> int:
        return sum(len(queue) for queue in self._queues.values())

    def drop(self, tps: set[TP]) -> None:
        """Forget partitions this worker no longer owns (their new owner re-reads them)."""
        for tp in tps:
            self._queues.pop(tp, None)

"""When a failed delivery is tried again, and on which retry topic it waits meanwhile.

Pending retries live in Kafka, one topic per delay tier (`<prefix>.5s`,
`<prefix>.30s`, …). Every record of a tier waits about as long as its neighbours,
so records become due in offset order and a consumer only ever waits for the head
of a partition. Jitter stretches or shrinks each delay by a bounded fraction; a
record due a little later than the next one holds that one back by at most that
fraction of the tier, never longer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from fraudgraph.alerts.webhooks.config import RetryPolicy


@dataclass(frozen=True)
class RetryAt:
    topic: str
    tier_seconds: int
    due_ms: int
    next_attempt: int


@dataclass(frozen=True)
class GiveUp:
    attempts: int


def tier_label(seconds: int) -> str:
    """5 -> '5s', 120 -> '2m', 3600 -> '1h': readable topic suffixes."""
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


@dataclass(frozen=True)
class RetryTopics:
    prefix: str
    policy: RetryPolicy

    def topic(self, tier_seconds: int) -> str:
        return f"{self.prefix}.{tier_label(tier_seconds)}"

    def all(self) -> list[str]:
        """One topic per distinct delay of the schedule, shortest first."""
        return [self.topic(s) for s in sorted(set(self.policy.schedule_seconds))]

    def is_retry_topic(self, topic: str) -> bool:
        # Any tier under the prefix counts, including tiers of an earlier schedule:
        # their records carry their own due time and are drained like the rest.
        return topic.startswith(f"{self.prefix}.")


def delay_for(policy: RetryPolicy, failed_attempt: int) -> int:
    """Nominal delay after attempt number `failed_attempt` (1 = the first try) failed."""
    schedule = policy.schedule_seconds
    return schedule[min(failed_attempt, len(schedule)) - 1]


def jittered_ms(policy: RetryPolicy, tier_seconds: int, rng: random.Random) -> int:
    low, high = 1 - policy.jitter, 1 + policy.jitter
    return round(tier_seconds * 1000 * rng.uniform(low, high))


def next_step(
    topics: RetryTopics,
    *,
    failed_attempt: int,
    first_attempt_ms: int,
    now_ms: int,
    rng: random.Random,
) -> RetryAt | GiveUp:
    """Retry on the right tier, or give up once the give-up window has passed."""
    policy = topics.policy
    if now_ms - first_attempt_ms >= policy.give_up_after_seconds * 1000:
        return GiveUp(attempts=failed_attempt)
    tier = delay_for(policy, failed_attempt)
    return RetryAt(
        topic=topics.topic(tier),
        tier_seconds=tier,
        due_ms=now_ms + jittered_ms(policy, tier, rng),
        next_attempt=failed_attempt + 1,
    )

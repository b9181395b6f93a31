"""Backoff schedule, jitter bounds, tier topics and giving up."""

import random

import pytest

from fraudgraph.alerts.webhooks.config import RetryPolicy
from fraudgraph.alerts.webhooks.retry import (
    GiveUp,
    RetryAt,
    RetryTopics,
    delay_for,
    jittered_ms,
    next_step,
    tier_label,
)

DEFAULT = RetryPolicy()
TOPICS = RetryTopics("hooks.retry", DEFAULT)
HOUR_MS = 3_600_000


@pytest.mark.parametrize(
    ("seconds", "label"),
    [(1, "1s"), (5, "5s"), (30, "30s"), (90, "90s"), (120, "2m"), (3600, "1h"), (7200, "2h")],
)
def test_tier_labels(seconds: int, label: str) -> None:
    assert tier_label(seconds) == label


def test_one_topic_per_distinct_tier_shortest_first() -> None:
    assert TOPICS.all() == [
        "hooks.retry.5s",
        "hooks.retry.30s",
        "hooks.retry.2m",
        "hooks.retry.10m",
        "hooks.retry.30m",
        "hooks.retry.1h",
    ]
    repeated = RetryTopics("p", RetryPolicy(schedule_seconds=(2, 1, 2)))
    assert repeated.all() == ["p.1s", "p.2s"]


def test_retry_topics_are_recognised_by_prefix_even_from_an_older_schedule() -> None:
    assert TOPICS.is_retry_topic("hooks.retry.5s")
    assert TOPICS.is_retry_topic("hooks.retry.45s")
    assert not TOPICS.is_retry_topic("hooks.retryx.5s")
    assert not TOPICS.is_retry_topic("fraud.alerts")


def test_delays_follow_the_schedule_then_repeat_the_last() -> None:
    delays = [delay_for(DEFAULT, attempt) for attempt in range(1, 12)]
    assert delays == [5, 30, 120, 600, 1800, 3600, 3600, 3600, 3600, 3600, 3600]


def test_jitter_stays_within_bounds_and_varies() -> None:
    rng = random.Random(7)
    draws = [jittered_ms(DEFAULT, 30, rng) for _ in range(2000)]
    assert min(draws) >= 24_000
    assert max(draws) <= 36_000
    assert max(draws) - min(draws) > 10_000  # actually spread, not constant


def test_no_jitter_gives_the_nominal_delay() -> None:
    policy = RetryPolicy(jitter=0)
    assert jittered_ms(policy, 5, random.Random()) == 5000


@pytest.mark.parametrize(
    ("failed", "tier"), [(1, "5s"), (2, "30s"), (3, "2m"), (6, "1h"), (40, "1h")]
)
def test_the_failed_attempt_picks_its_tier(failed: int, tier: str) -> None:
    step = next_step(
        TOPICS, failed_attempt=failed, first_attempt_ms=0, now_ms=1000, rng=random.Random(1)
    )
    assert isinstance(step, RetryAt)
    assert step.topic == f"hooks.retry.{tier}"
    assert step.next_attempt == failed + 1
    nominal = step.tier_seconds * 1000
    assert 1000 + 0.8 * nominal <= step.due_ms <= 1000 + 1.2 * nominal


def test_retries_go_on_for_at_least_eight_hours_then_give_up() -> None:
    """Simulate an endpoint that is down for good, honouring every due time."""
    rng = random.Random(3)
    now, attempt = 0, 1
    while True:
        step = next_step(TOPICS, failed_attempt=attempt, first_attempt_ms=0, now_ms=now, rng=rng)
        if isinstance(step, GiveUp):
            break
        now, attempt = step.due_ms, step.next_attempt
    assert step.attempts == attempt
    assert now >= 8 * HOUR_MS
    assert now < 8 * HOUR_MS + 1.2 * HOUR_MS
    assert 10 <= attempt <= 15


def test_give_up_window_is_configurable() -> None:
    topics = RetryTopics("p", RetryPolicy(schedule_seconds=(1, 2), give_up_after_seconds=10))
    rng = random.Random()
    assert isinstance(
        next_step(topics, failed_attempt=3, first_attempt_ms=0, now_ms=9_999, rng=rng), RetryAt
    )
    step = next_step(topics, failed_attempt=4, first_attempt_ms=0, now_ms=10_000, rng=rng)
    assert step == GiveUp(attempts=4)

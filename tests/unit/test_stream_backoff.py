"""Capped exponential backoff with full jitter."""

from __future__ import annotations

import random

import pytest

from fraudgraph.stream.backoff import Backoff


class Ceiling(random.Random):
    """Always the top of the jitter range, so the schedule is exact."""

    def uniform(self, a: float, b: float) -> float:
        return b


class Floor(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return a


def test_delays_double_until_the_cap() -> None:
    backoff = Backoff(initial_s=0.2, cap_s=30.0, _random=Ceiling())
    delays = [backoff.next_delay() for _ in range(12)]
    assert delays == pytest.approx(
        [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0, 30.0, 30.0]
    )


def test_jitter_never_goes_below_half_the_ceiling() -> None:
    backoff = Backoff(initial_s=1.0, cap_s=8.0, _random=Floor())
    assert [backoff.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_jittered_delays_stay_within_their_band() -> None:
    backoff = Backoff(initial_s=0.2, cap_s=30.0, _random=random.Random(1234))
    for attempt in range(40):
        ceiling = min(30.0, 0.2 * 2**attempt)
        delay = backoff.next_delay()
        assert ceiling / 2 <= delay <= ceiling
    assert backoff.attempt == 40


def test_default_backoff_starts_small_and_is_capped() -> None:
    backoff = Backoff()
    first = backoff.next_delay()
    assert 0.1 <= first <= 0.2
    assert max(backoff.next_delay() for _ in range(30)) <= 30.0


def test_reset_starts_the_schedule_over() -> None:
    backoff = Backoff(initial_s=0.2, cap_s=30.0, _random=Ceiling())
    for _ in range(5):
        backoff.next_delay()
    backoff.reset()
    assert backoff.attempt == 0
    assert backoff.next_delay() == pytest.approx(0.2)
    assert backoff.next_delay() == pytest.approx(0.4)


def test_workers_do_not_share_one_jitter_sequence() -> None:
    # Each Backoff has its own Random, so reconnecting workers spread out.
    delays = {Backoff().next_delay() for _ in range(20)}
    assert len(delays) > 1


def test_a_very_long_outage_keeps_returning_capped_delays() -> None:
    backoff = Backoff(initial_s=0.2, cap_s=30.0, _random=Ceiling())
    delays = [backoff.next_delay() for _ in range(1100)]
    assert delays[-1] == 30.0

"""The worker's garbage collector: start-up objects frozen, sweeps made rarer."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from fraudgraph.stream.garbage import YOUNG_ALLOCATIONS, settle_for_streaming


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_collector")
def test_what_start_up_allocated_is_never_walked_again() -> None:
    kept_for_life = [[n] for n in range(1000)]
    settle_for_streaming()
    assert gc.get_freeze_count() >= len(kept_for_life)
    assert gc.get_threshold()[0] == YOUNG_ALLOCATIONS
    # Cycles made afterwards are still collected.
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1

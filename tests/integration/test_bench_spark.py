"""`fraudgraph bench spark`, short: rings against networkx, and the backfill against the
stream worker in a Neo4j of the benchmark's own. The figures are not judged here (speed
is the benchmark's business); that every part ran and agreed is."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from fraudgraph.settings import Settings
from tests.support import run_cli

pytestmark = [pytest.mark.integration]
EVENTS = 3_000


def test_short_run_measures_rings_backfill_and_stream(settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "spark.json"
    result = run_cli(
        "bench", "spark", "--events", str(EVENTS), "--edges", "1000", "--scale", "1",
        "--partitions", "4", "--json", str(out), settings=settings,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    figures = orjson.loads(out.read_bytes())["figures"]
    assert figures["x1_same_components"] is True
    assert figures["x1_same_rings"] is True
    # The benchmark empties its Neo4j after the stream: the backfill is a load.
    assert figures["backfill_mode"] == "load"
    assert figures["backfill_events"] == EVENTS
    assert figures["backfill_rows_written"] == EVENTS  # every bench event is its own row
    assert figures["backfill_events_per_s"] > 0
    assert figures["stream_events"] > 0
    assert figures["stream_events_per_s"] > 0

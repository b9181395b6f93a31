"""`fraudgraph bench ingest --short` end to end: preload, baseline, the real worker, clean-up."""

from __future__ import annotations

from pathlib import Path

import neo4j
import orjson
import pytest

from fraudgraph.bench.ingest import clear_shared_graph
from fraudgraph.bench.preload import BENCH_ID_BASE
from fraudgraph.settings import Settings
from tests.repo import PROJECT_ROOT
from tests.support import run_cli

pytestmark = pytest.mark.integration


def test_short_run_measures_both_and_the_worker_really_writes(
    settings: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "ingest.json"
    auth = (settings.neo4j_user, settings.neo4j_password.get_secret_value())
    with neo4j.GraphDatabase.driver(settings.neo4j_uri, auth=auth) as driver:
        try:
            _check_short_run(settings, driver, out)
        finally:
            clear_shared_graph(driver)


def _check_short_run(settings: Settings, driver: neo4j.Driver, out: Path) -> None:
    """Run the bench, keep the worker's graph, and check it against the JSON."""
    result = run_cli(
        "bench", "ingest", "--short", "--keep-graph", "--json", str(out), settings=settings
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    figures = orjson.loads(out.read_bytes())["figures"]
    assert figures["events"] == 5_000
    assert figures["events_per_s"] > 0
    assert figures["baseline_events_per_s"] > 0
    assert figures["ratio"] > 1
    assert figures["peak_rss_mb"] > 0
    assert figures["dead_letters"] == 0
    # Counted here, independently of the bench: the worker's writes are in Neo4j.
    records, _, _ = driver.execute_query(
        "MATCH (t:Transaction) WHERE t.txn_id > $base RETURN count(t) AS n",
        base=BENCH_ID_BASE,
    )
    assert records[0]["n"] == figures["expected_transaction_nodes"] > 0


def test_short_run_with_detection_compares_two_detector_sets(
    settings: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "ingest.json"
    before = PROJECT_ROOT / "bench" / "detectors_before_issue_19.yaml"
    result = run_cli(
        "bench", "ingest", "--short", "--detection", "--compare-detectors", str(before),
        "--json", str(out), settings=settings,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    figures = orjson.loads(out.read_bytes())["figures"]
    assert figures["detection"].startswith("on")
    assert figures["dead_letters"] == 0
    assert figures["events_per_s"] > 0
    assert figures["compared_events_per_s"] > 0
    assert figures["worker_cpu_ratio_vs_compared"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--events", "5"), "--events must be between"),
        (("--short", "--baseline-events", "9000"), "--baseline-events must be between"),
        (("--batch-size", "0"), "--batch-size must be between"),
        (("--detectors-file", "detectors.yaml"), "need --detection"),
        (("--detection", "--compare-detectors", "/nowhere/d.yaml"), "no detectors file at"),
    ],
)
def test_invalid_options_are_one_line(args: tuple[str, ...], message: str) -> None:
    result = run_cli("bench", "ingest", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1

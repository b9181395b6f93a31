"""What every benchmark prints and writes: nested figures as dotted rows, the JSON as is."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import orjson
from rich.console import Console

from fraudgraph.bench.report import publish


def test_nested_figures_print_as_dotted_rows_and_are_written_nested(tmp_path: Path) -> None:
    figures = {"customers": 1000, "1000_tx_s": {"p99_ms": 812.5, "hops": {"kafka → worker": 3}}}
    out = StringIO()
    publish("latency", figures, tmp_path / "latency.json", Console(file=out, width=200))
    printed = out.getvalue()
    assert "1000_tx_s.p99_ms" in printed and "812.5" in printed
    assert "1000_tx_s.hops.kafka → worker" in printed
    assert "{" not in printed  # no dict dumped into a cell
    written = orjson.loads((tmp_path / "latency.json").read_bytes())
    assert written["figures"] == figures
    assert written["machine"]["cores"] >= 1

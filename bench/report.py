"""Machine facts and the JSON/table output every benchmark shares."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psutil
from rich.console import Console
from rich.table import Table


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def _flat(figures: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested figures as dotted rows (`1000_tx_s.p99_ms`), so the table stays readable."""
    rows: list[tuple[str, Any]] = []
    for key, value in figures.items():
        if isinstance(value, dict) and value:
            rows += _flat(value, f"{prefix}{key}.")
        else:
            rows.append((f"{prefix}{key}", value))
    return rows


def figures_table(name: str, figures: dict[str, Any]) -> Table:
    # Dotted names and paths have no space to wrap at: in 80 columns they fold onto the
    # next line, whole, instead of being cut to `…`.
    table = Table(title=name, show_header=True)
    table.add_column("figure", overflow="fold")
    table.add_column("value", justify="right", overflow="fold")
    for key, value in _flat(figures):
        shown = f"{value:,.1f}" if isinstance(value, float) else str(value)
        table.add_row(key, shown)
    return table


def publish(name: str, figures: dict[str, Any], out: Path | None, console: Console) -> None:
    """Print the figures as a table and write them (with the machine) to `out`."""
    console.print(figures_table(name, figures))
    if out is not None:
        document = {
            "benchmark": name,
            "measured_at": datetime.now(UTC).isoformat(),
            "machine": machine(),
            "figures": figures,
        }
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
        console.print(f"written to {out}")

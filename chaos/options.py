"""What a chaos run is asked to do."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# The chaos endpoint's per-attempt timeout: short, so a slow receiver times out quickly.
ENDPOINT_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class ChaosOptions:
    rate: float = 200.0  # everyday transactions per second of the live load
    duration: float = 150.0  # seconds of live load (a scenario may need more)
    customers: int = 300  # the simulated bank (bulk-loaded, then live)
    days: int = 2
    seed: int = 1
    outage: float | None = None  # seconds the fault lasts; None: the scenario's own
    work_dir: Path | None = None  # logs, ledger, endpoints file (default: under the state dir)
    recovery_timeout: float = 900.0
    keep_topics: bool = False  # keep the run's topics, groups and connector for inspection

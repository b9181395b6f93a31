"""What each detector costs per event, in memory: `fraudgraph bench detectors`.

A simulated bank of a tuning seed is replayed through the real engine with every
enabled detector (as `fraudgraph analyze replay` does), and the engine's own per-detector
clock is summed. The learned scorer is split into its two halves: computing a transfer's
features and the model's prediction. No service is involved, so this is the detectors'
own CPU, without Neo4j reads (the worker's cache misses come on top).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fraudgraph.detection.detectors.learned_risk import LearnedRisk
from fraudgraph.detection.engine import DetectionEngine
from fraudgraph.detection.memory_history import MemoryHistory
from fraudgraph.detection.offline import changes_of
from fraudgraph.detection.records import RecordBuilder
from fraudgraph.detection.registry import build_detectors
from fraudgraph.detection.settings import load_detection_config
from fraudgraph.graph.mapping import default_mapping
from fraudgraph.graph.pii import PiiHasher
from fraudgraph.simulator.generator import generate
from fraudgraph.simulator.options import make_options

_OFFLINE_KEY = "offline-replay-key-not-a-secret"


def measure_detector_cost(
    *,
    generator: str,
    seed: int,
    customers: int,
    days: int,
    detectors_file: Path | None = None,
    batch_size: int = 2000,
) -> dict[str, Any]:
    bank = generate(make_options(seed=seed, customers=customers, days=days, generator=generator))
    builder = RecordBuilder(default_mapping(), PiiHasher(_OFFLINE_KEY))
    history = MemoryHistory.from_tables(builder, bank.tables)
    config = load_detection_config(detectors_file)
    detectors = build_detectors(config)
    engine = DetectionEngine(history, config, builder, detectors, clock_ms=lambda: 0)
    changes = changes_of(bank.tables, "snapshot")
    spent: dict[str, float] = {}
    events = 0
    began = time.perf_counter()
    for start in range(0, len(changes), batch_size):
        result = engine.run(changes[start : start + batch_size])
        engine.confirm(result)
        events += result.events
        for rule, seconds in result.seconds_by_detector.items():
            spent[rule] = spent.get(rule, 0.0) + seconds
    wall = time.perf_counter() - began
    transactions = len(bank.tables.get("transactions", ()))
    figures: dict[str, Any] = {
        "generator": generator,
        "seed": seed,
        "customers": customers,
        "days": days,
        "detectors": str(detectors_file or "packaged"),
        "events": events,
        "transactions": transactions,
        "engine_wall_s": round(wall, 2),
        "engine_us_per_event": round(wall / events * 1e6, 1) if events else None,
    }
    for rule, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        figures[f"{rule}_us_per_event"] = round(seconds / events * 1e6, 1)
    scorer = next((d for d, _ in detectors if isinstance(d, LearnedRisk)), None)
    if scorer is not None and scorer.scored:
        figures["learned_risk_transfers_scored"] = scorer.scored
        figures["learned_risk_features_us_per_transfer"] = round(
            scorer.seconds_features / scorer.scored * 1e6, 1
        )
        figures["learned_risk_model_us_per_transfer"] = round(
            scorer.seconds_model / scorer.scored * 1e6, 1
        )
    return figures

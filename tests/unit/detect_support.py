"""What the detector unit tests share: a hand-made bank through the real engine."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from detection.detector import Detector
from detection.offline import Order, replay
from detection.settings import DetectionConfig
from graph.mapping import default_mapping
from graph.pii import PiiHasher

TEST_HASHER = PiiHasher("k" * 16)


def run(
    tables: dict[str, Sequence[Any]], detector: Detector, order: Order = "time", batch: int = 1000
) -> list[dict[str, Any]]:
    """Every alert `detector` raises over the tables, through the real engine."""
    return replay(
        tables,
        default_mapping(),
        TEST_HASHER,
        DetectionConfig(),
        order=order,
        batch_size=batch,
        detectors=[(detector, False)],
    )


def ids(alerts: list[dict[str, Any]]) -> list[str]:
    return [a["alert_id"] for a in alerts]

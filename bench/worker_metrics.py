"""The worker's own Prometheus figures between two moments of a run: where its
detection time went, per change event it took in.

The CPU per process (bench/observe.py) says how much the worker spent; these say on
what. Detection reads windows of each entity's history, so its cost per event grows
as a live load fills them: a phase's figure is worth comparing with the next's.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from fraudgraph.errors import FraudgraphError

EVENTS = "fraudgraph_events_total"
DETECTOR_SECONDS = "fraudgraph_detector_seconds_sum"
COSTLIEST = 5  # detectors a phase names, the costliest first


class WorkerMetricsError(FraudgraphError):
    pass


@dataclass(frozen=True)
class MetricsMark:
    events: float  # change events the worker has taken in
    detector_seconds: dict[str, float]  # time spent judging, per detector


def parse_mark(text: str) -> MetricsMark:
    """A mark from the text of the worker's /metrics."""
    events = 0.0
    seconds: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == EVENTS:
                events += sample.value
            elif sample.name == DETECTOR_SECONDS:
                seconds[sample.labels["detector"]] = sample.value
    return MetricsMark(events, seconds)


def read_mark(port: int, *, timeout: float = 5.0) -> MetricsMark:
    """A mark from the worker serving its metrics on this loopback port."""
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return parse_mark(response.read().decode())
    except (urllib.error.URLError, OSError) as error:
        raise WorkerMetricsError(f"cannot read the worker's metrics at {url}: {error}") from error


def detection_per_event(start: MetricsMark, end: MetricsMark) -> dict[str, Any]:
    """Detection µs per change event between two marks, in all and for the costliest
    detectors. A detector absent from the start mark had spent nothing yet."""
    events = end.events - start.events
    spent = {
        name: seconds - start.detector_seconds.get(name, 0.0)
        for name, seconds in end.detector_seconds.items()
    }

    def per_event(seconds: float) -> float:
        return round(1e6 * seconds / events, 1) if events > 0 else 0.0

    costliest = sorted(spent.items(), key=lambda item: item[1], reverse=True)[:COSTLIEST]
    return {
        "events": int(events),
        "us_per_event": per_event(sum(spent.values())),
        "costliest_us_per_event": {name: per_event(seconds) for name, seconds in costliest},
    }

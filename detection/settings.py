"""Detector configuration: which detectors run, live or in shadow, and their thresholds.

The packaged `detectors.yaml` is the default; `FRAUDGRAPH_DETECTORS_FILE` points at
another. A detector in shadow mode runs on live traffic but its alerts go to the
shadow topic and never to webhooks, so a new rule can be compared before it goes live.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fraudgraph.errors import ConfigError
from fraudgraph.paths import DETECTORS_YAML

DEFAULT_DETECTORS_FILE = DETECTORS_YAML


class HistoryWindows(BaseModel):
    """How far back a batch's history is fetched (the widest window any detector uses)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    sent_days: float = Field(default=35, gt=0)
    # The flow-shape rules' relay window, and the learned scorer's slow collections
    # (detection/learned/features.py, LONG_RECEIVED_DAYS).
    received_days: float = Field(default=21, gt=0)
    card_hours: float = Field(default=48, gt=0)
    login_days: float = Field(default=30, gt=0)

    def stretched(self, reaches: Iterable[Mapping[str, float]]) -> HistoryWindows:
        """These windows, each as far back as the farthest of `reaches` (what detectors
        read: `Detector.reach`) where that is further."""
        widest = self.model_dump()
        for reach in reaches:
            for name, value in reach.items():
                if name not in widest:
                    raise ValueError(f"no history window named {name!r}")
                widest[name] = max(widest[name], value)
        return HistoryWindows.model_validate(widest)


class CacheConfig(BaseModel):
    """The worker's memory of entity histories (detection/cache.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # Re-read an entity from the graph after this long while the worker is alone in its
    # group. Never, by default: a lone worker writes every change it reads, so what it
    # holds is what the graph holds. A bound was kept here (300 s) until it was measured
    # re-reading every entry the worker had loaded at start, all within a minute, five
    # minutes later: at 1,000 tx/s the reads ran into the concurrent writes ("outdated
    # read", retried after a second each) and the worker fell a minute behind. Set it
    # only if something other than the workers writes the graph.
    refresh_seconds: float = Field(default=math.inf, gt=0)
    # ... and when the worker shares its group's partitions with other workers: their
    # writes (half of a card's payments, a mule's next hop) are then what the detectors
    # need, so entries live about one batch (measured: a 300 s bound let two workers
    # miss 21 of 242 alerts one worker raises). It is also how long a shared group's
    # batch waits for its second judgement, and so for its offsets to be committed
    # (DetectionEngine.recheck).
    shared_refresh_seconds: float = Field(default=1.0, gt=0)
    # Payments and logins held at most (~250 bytes each); least recently used go first.
    max_records: int = Field(default=2_000_000, ge=1000)


class DetectorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = True
    shadow: bool = False
    params: dict[str, Any] = Field(default_factory=dict)


class LateArrivalConfig(BaseModel):
    """How far a payment that arrives late (after later payments of the same accounts)
    makes those later payments be judged again; see detection/late.py."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # Structuring looks back a week, the longest of the money rules.
    horizon_hours: float = Field(default=168.0, ge=0)
    # A busy account (a business, a live load's) pays dozens of times an hour: a late
    # row bears on all of them; the batch's budget (8x this) bounds a backlog's work.
    max_payments: int = Field(default=256, ge=0, description="Per account and late row.")


class DetectionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    history: HistoryWindows = HistoryWindows()
    cache: CacheConfig = CacheConfig()
    # An analyst's false_positive verdict on a customer or account quiets later alerts
    # that implicate it (verdicts reported at or before the triggering event).
    suppress_false_positives: bool = True
    late: LateArrivalConfig = LateArrivalConfig()
    detectors: dict[str, DetectorConfig] = Field(default_factory=dict)


def load_detection_config(path: Path | None = None) -> DetectionConfig:
    source = path or DEFAULT_DETECTORS_FILE
    try:
        data = yaml.safe_load(source.read_text()) or {}
    except OSError as error:
        raise ConfigError(f"cannot read detectors file {source}: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: not valid YAML: {str(error).splitlines()[0]}") from error
    try:
        return DetectionConfig.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"{source}: {where}: {first['msg']}") from error


def with_model_file(config: DetectionConfig, model_file: Path) -> DetectionConfig:
    """`config` with the learned scorer reading `model_file` (enabling it if it was off)."""
    current = config.detectors.get("learned_risk", DetectorConfig())
    params = {**current.params, "model_file": str(model_file)}
    scorer = current.model_copy(update={"params": params, "enabled": True})
    return config.model_copy(update={"detectors": {**config.detectors, "learned_risk": scorer}})

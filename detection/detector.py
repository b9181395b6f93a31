"""The shape every detector has: which events it reacts to, and what it concludes."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from fraudgraph.alerts.model import Finding, Kind
from fraudgraph.detection.context import Context
from fraudgraph.detection.events import Event, EventKind
from fraudgraph.errors import ConfigError


class Params(BaseModel):
    """Thresholds of a detector; subclasses declare theirs with defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Detector(ABC):
    rule: ClassVar[str]  # the alert's `rule`; also the detector's name in detectors.yaml
    kind: ClassVar[Kind]
    handles: ClassVar[frozenset[EventKind]]
    params_model: ClassVar[type[Params]] = Params

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        try:
            self.params = self.params_model.model_validate(dict(params or {}))
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ConfigError(f"detector {self.rule}: params.{where}: {first['msg']}") from error

    def reach(self) -> Mapping[str, float]:
        """How far before an event this detector reads a history, by the name of its
        `HistoryWindows` field (e.g. {"received_days": 30}), where that is further than
        the configured window. The worker prefetches and keeps each history at least
        as far back as any detector reads it: a read beyond what it keeps is a Neo4j
        round trip per account, every time the cache is trimmed back."""
        return {}

    def judged_before(self, event: Event, ctx: Context) -> Iterable[Event]:
        """Earlier rows whose judgement by this rule reads `event`'s row (a report reads
        the payments of the weeks before it), as events of their own time. Should
        `event` arrive after one of them was judged, the engine judges it again with
        this batch (detection/late.py): a rule names what depends on a row, and never
        repairs late arrivals itself. Most rules read only the past of the row they
        judge, and name nothing."""
        del event, ctx
        return ()

    def prepare(self, events: Sequence[Event], ctx: Context) -> None:
        """Called once per batch, before its events are judged one by one, with all of
        them: work that is cheaper for many events at once (a model's prediction) is
        done here. Whatever it computes must be what `detect` would compute alone."""
        del events, ctx

    @abstractmethod
    def detect(self, event: Event, ctx: Context) -> Iterable[Finding]:
        """Findings about `event`, judged only on what happened up to its event time."""

"""Exponential backoff with full jitter, capped: retries go on for as long as it takes."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    initial_s: float = 0.2
    cap_s: float = 30.0
    attempt: int = field(default=0, init=False)
    _random: random.Random = field(default_factory=random.Random, repr=False)

    def next_delay(self) -> float:
        # Past the cap the exponent stops growing: hours of retries must not overflow.
        ceiling = min(self.cap_s, self.initial_s * 2 ** min(self.attempt, 32))
        self.attempt += 1
        # Full jitter spreads reconnecting workers so they do not stampede Neo4j.
        return self._random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0

"""Small statistics the behaviour detectors share: distances, robust location and
spread, and a streaming quantile sketch for "compared with its peers".

Pure functions and one bounded-memory class; no numpy (a few dozen values per call).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

EARTH_RADIUS_KM = 6371.0
# MAD x 1.4826 estimates the standard deviation of normally distributed data.
MAD_TO_SIGMA = 1.4826


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("median of nothing")
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def mad(values: Sequence[float], centre: float | None = None) -> float:
    """Median absolute deviation from `centre` (default: the median)."""
    centre = median(values) if centre is None else centre
    return median([abs(v - centre) for v in values])


def robust_z(value: float, history: Sequence[float], min_sigma: float) -> float:
    """How many robust standard deviations `value` lies above the history's median.

    `min_sigma` floors the spread: an account that always pays the same amount has
    MAD 0, and any other amount would otherwise be infinitely unusual.
    """
    centre = median(history)
    sigma = max(MAD_TO_SIGMA * mad(history, centre), min_sigma)
    return (value - centre) / sigma


class LogHistogram:
    """Streaming quantiles of positive values in logarithmic buckets (bounded memory).

    Buckets are `1 / per_decade` of a decade wide (about 12 % apart at 20 per
    decade), so a quantile is known to that relative precision: plenty to say
    "above 99.9 % of its peers' payments". Values <= `floor` share the first bucket.
    """

    def __init__(self, per_decade: int = 20, floor: float = 0.01) -> None:
        self.per_decade = per_decade
        self.floor = floor
        self.counts: dict[int, int] = {}
        self.total = 0

    def _bucket(self, value: float) -> int:
        return math.floor(math.log10(max(value, self.floor) / self.floor) * self.per_decade)

    def add(self, value: float) -> None:
        bucket = self._bucket(value)
        self.counts[bucket] = self.counts.get(bucket, 0) + 1
        self.total += 1

    def quantile(self, q: float) -> float | None:
        """The upper edge of the bucket holding the q-quantile (None while empty)."""
        if self.total == 0:
            return None
        rank = q * self.total
        seen = 0
        for bucket in sorted(self.counts):
            seen += self.counts[bucket]
            if seen >= rank:
                return float(self.floor * 10 ** ((bucket + 1) / self.per_decade))
        last = max(self.counts)
        return float(self.floor * 10 ** ((last + 1) / self.per_decade))

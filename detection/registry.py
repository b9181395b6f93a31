"""Every detector the service knows, by rule name."""

from __future__ import annotations

from fraudgraph.detection.detector import Detector
from fraudgraph.detection.detectors import behaviour, identity, money
from fraudgraph.detection.settings import DetectionConfig
from fraudgraph.errors import ConfigError


def known_detectors() -> dict[str, type[Detector]]:
    found: dict[str, type[Detector]] = {}
    for module in (money, behaviour, identity):
        for detector in module.DETECTORS:
            if detector.rule in found:
                raise RuntimeError(f"two detectors named {detector.rule}")
            found[detector.rule] = detector
    return found


def build_detectors(config: DetectionConfig) -> list[tuple[Detector, bool]]:
    """(detector, shadow) for every enabled detector; unknown names are a config error."""
    known = known_detectors()
    unknown = sorted(set(config.detectors) - set(known))
    if unknown:
        raise ConfigError(
            f"detectors file names unknown detectors {', '.join(unknown)} "
            f"(known: {', '.join(sorted(known))})"
        )
    built: list[tuple[Detector, bool]] = []
    for name, detector_class in sorted(known.items()):
        settings = config.detectors.get(name)
        if settings is not None and not settings.enabled:
            continue
        params = settings.params if settings is not None else {}
        built.append((detector_class(params), settings.shadow if settings else False))
    return built

"""Every detector the service knows, by rule name, found in `fraudgraph.detection.detectors`.

One rule, one module: each module of the package (its name not starting with "_") is
named after its rule and ends with `DETECTOR = TheClass`, a `Detector` subclass whose
`rule` is the module's name (`fan_in.py` holds `fan_in`). Modules whose names start with
"_" hold what several rules share and are skipped. A new detector is one file there plus
its configuration in detection/detectors.yaml; nothing here lists them.
"""

from __future__ import annotations

import importlib
import pkgutil

from fraudgraph.detection import detectors as detectors_package
from fraudgraph.detection.detector import Detector
from fraudgraph.detection.settings import DetectionConfig
from fraudgraph.errors import ConfigError


def rule_modules() -> list[str]:
    """The names of the package's rule modules (not the "_" ones), sorted."""
    return sorted(
        module.name
        for module in pkgutil.iter_modules(detectors_package.__path__)
        if not module.name.startswith("_")
    )


def _detector_of(name: str) -> type[Detector]:
    """The `DETECTOR` of rule module `name`, checked to be the rule of that name."""
    module_name = f"{detectors_package.__name__}.{name}"
    module = importlib.import_module(module_name)
    detector = getattr(module, "DETECTOR", None)
    if not (isinstance(detector, type) and issubclass(detector, Detector)):
        raise RuntimeError(  # noqa: TRY004 - a broken module, not a bad argument
            f"detector module {module_name} has no DETECTOR (a Detector subclass): "
            f"end it with `DETECTOR = TheClass`, or start its name with _ if it holds "
            "shared code"
        )
    rule = getattr(detector, "rule", None)
    if rule != name:
        raise RuntimeError(
            f"detector module {module_name}: DETECTOR {detector.__name__} has rule "
            f"{rule!r}, not {name!r}: a rule module is named after its rule"
        )
    return detector


def known_detectors() -> dict[str, type[Detector]]:
    found: dict[str, type[Detector]] = {}
    for name in rule_modules():
        detector = _detector_of(name)
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

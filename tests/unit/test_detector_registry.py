"""The registry finds detectors by module: one rule per module, named after the rule."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fraudgraph.detection import detectors as detectors_package
from fraudgraph.detection import registry
from fraudgraph.detection.detector import Detector
from fraudgraph.detection.settings import load_detection_config

PACKAGE = detectors_package.__name__


def rule_module_names() -> list[str]:
    return sorted(
        m.name
        for m in pkgutil.iter_modules(detectors_package.__path__)
        if not m.name.startswith("_")
    )


def test_every_rule_module_holds_the_detector_of_its_name() -> None:
    names = rule_module_names()
    assert len(names) >= 13
    for name in names:
        module = importlib.import_module(f"{PACKAGE}.{name}")
        detector = getattr(module, "DETECTOR", None)
        assert isinstance(detector, type), name
        assert issubclass(detector, Detector), name
        assert detector.rule == name


def test_known_detectors_are_exactly_the_rule_modules() -> None:
    known = registry.known_detectors()
    assert sorted(known) == rule_module_names()
    assert all(detector.rule == name for name, detector in known.items())
    # the shared modules are not rules
    shared = [m.name for m in pkgutil.iter_modules(detectors_package.__path__)]
    assert {n for n in shared if n.startswith("_")}.isdisjoint(known)


def test_the_packaged_configuration_names_only_known_detectors() -> None:
    config = load_detection_config(None)
    assert set(config.detectors) <= set(registry.known_detectors())
    assert registry.build_detectors(config)


# -- a module that breaks the rule: in a temporary folder added to the package ------------


@pytest.fixture
def extra_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder whose modules count as the detectors package's (nothing in the repo)."""
    monkeypatch.setattr(detectors_package, "__path__", [*detectors_package.__path__, str(tmp_path)])
    before = set(sys.modules)
    importlib.invalidate_caches()
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith(f"{PACKAGE}."):
            del sys.modules[name]


def test_a_module_without_detector_is_an_error_naming_it(extra_modules: Path) -> None:
    (extra_modules / "no_detector_here.py").write_text("RULE = 'no_detector_here'\n")
    with pytest.raises(RuntimeError, match=rf"{PACKAGE}\.no_detector_here has no DETECTOR"):
        registry.known_detectors()


def test_a_detector_that_is_not_a_detector_class_is_an_error(extra_modules: Path) -> None:
    (extra_modules / "not_a_class.py").write_text("DETECTOR = 'not_a_class'\n")
    with pytest.raises(RuntimeError, match=r"not_a_class has no DETECTOR \(a Detector subclass\)"):
        registry.known_detectors()


def test_a_detector_named_unlike_its_module_is_an_error(extra_modules: Path) -> None:
    (extra_modules / "fan_in_copy.py").write_text(
        f"from {PACKAGE}.fan_in import FanIn\n\nDETECTOR = FanIn\n"
    )
    with pytest.raises(RuntimeError, match=r"fan_in_copy: DETECTOR FanIn has rule 'fan_in'"):
        registry.known_detectors()


def test_shared_modules_are_skipped(extra_modules: Path) -> None:
    (extra_modules / "_helpers_of_some_rules.py").write_text("X = 1\n")
    known = registry.known_detectors()
    assert sorted(known) == rule_module_names()
    assert "_helpers_of_some_rules" not in known


def test_a_new_rule_module_is_found(extra_modules: Path) -> None:
    (extra_modules / "always_quiet.py").write_text(
        "from typing import ClassVar\n\n"
        "from fraudgraph.detection.detector import Detector\n\n\n"
        "class AlwaysQuiet(Detector):\n"
        "    rule: ClassVar[str] = 'always_quiet'\n"
        "    kind = 'anomaly'\n"
        "    handles = frozenset({'transaction'})\n\n"
        "    def detect(self, event, ctx):\n"
        "        return []\n\n\n"
        "DETECTOR = AlwaysQuiet\n"
    )
    known = registry.known_detectors()
    assert known["always_quiet"].__name__ == "AlwaysQuiet"
    assert "always_quiet" in rule_module_names()

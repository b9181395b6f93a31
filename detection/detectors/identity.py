"""Detectors: identity."""

from __future__ import annotations

from detection.detector import Detector

DETECTORS: list[type[Detector]] = []

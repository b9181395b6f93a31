"""Helpers for tests of webhook delivery (shipped in the package, like structlog.testing)."""

from __future__ import annotations

import base64
import os
from typing import Any

from fraudgraph.alerts.model import Entity, Finding, Kind, Severity, to_alert


def new_secret() -> str:
    """A fresh Standard Webhooks secret."""
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def make_alert(
    anchor: str,
    *,
    kind: Kind = "link",
    severity: Severity = "high",
    shadow: bool = False,
    detected_at_ms: int = 1_700_000_000_000,
) -> dict[str, Any]:
    """A contract-valid alert whose alert_id follows from `anchor`."""
    finding = Finding(
        rule=f"test-{kind}",
        kind=kind,
        anchor=anchor,
        score=0.8,
        severity=severity,
        entities=[Entity("customer", anchor, role="subject")],
        explanation=f"test finding {anchor}",
        evidence={"anchor": anchor},
    )
    return to_alert(finding, detected_at_ms, shadow=shadow)

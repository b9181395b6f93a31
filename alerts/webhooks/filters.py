"""Which alerts an endpoint receives: plain functions over the alert's JSON."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fraudgraph.alerts.model import severity_at_least
from fraudgraph.alerts.webhooks.config import Endpoint


def wants(endpoint: Endpoint, alert: Mapping[str, Any]) -> bool:
    """True when `endpoint` should receive `alert` (the alert is contract-valid)."""
    # Shadow alerts go to their own topic; this guards against one reaching the
    # alerts topic anyway (a misconfigured topic name): they are never delivered.
    if alert.get("shadow") is True:
        return False
    if endpoint.kinds is not None and alert["kind"] not in endpoint.kinds:
        return False
    return endpoint.min_severity is None or severity_at_least(
        alert["severity"], endpoint.min_severity
    )

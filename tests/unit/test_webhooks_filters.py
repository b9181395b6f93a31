"""Per-endpoint filters: kinds, minimum severity, and shadow alerts never delivered."""

import pytest

from fraudgraph.alerts.model import Kind, Severity
from fraudgraph.alerts.webhooks.config import Endpoint
from fraudgraph.alerts.webhooks.filters import wants
from fraudgraph.alerts.webhooks.testing import make_alert


def endpoint(**fields: object) -> Endpoint:
    return Endpoint.model_validate(
        {"name": "e", "url": "http://127.0.0.1/", "secret_env": "S", **fields}
    )


def test_no_filter_wants_everything() -> None:
    for kind in ("link", "anomaly", "cluster"):
        for severity in ("low", "medium", "high", "critical"):
            assert wants(endpoint(), make_alert("a", kind=kind, severity=severity))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "wanted"), [("link", True), ("cluster", True), ("anomaly", False)]
)
def test_kinds(kind: Kind, wanted: bool) -> None:
    assert wants(endpoint(kinds=["link", "cluster"]), make_alert("a", kind=kind)) is wanted


@pytest.mark.parametrize(
    ("severity", "wanted"), [("low", False), ("medium", False), ("high", True), ("critical", True)]
)
def test_min_severity(severity: Severity, wanted: bool) -> None:
    assert wants(endpoint(min_severity="high"), make_alert("a", severity=severity)) is wanted


def test_both_filters_must_hold() -> None:
    strict = endpoint(kinds=["cluster"], min_severity="critical")
    assert wants(strict, make_alert("a", kind="cluster", severity="critical"))
    assert not wants(strict, make_alert("a", kind="cluster", severity="high"))
    assert not wants(strict, make_alert("a", kind="link", severity="critical"))


def test_shadow_alerts_are_never_wanted() -> None:
    assert not wants(endpoint(), make_alert("a", shadow=True))
    assert wants(endpoint(), {**make_alert("a"), "shadow": False})

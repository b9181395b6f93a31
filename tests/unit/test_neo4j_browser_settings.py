"""Neo4j Browser reports no usage and reaches no outside host, natively and in compose.

`dbms.usage_report.enabled=false` is the server's own reporting; the Browser has
two more: product analytics (`client.allow_telemetry`, also behind its consent
banner) and the scripts, widgets and fonts it loads from outside hosts on every page
load, which only the Content-Security-Policy served with its files stops. Both
files are read directly (docker-compose need not be installed).
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from fraudgraph.paths import STACK_ASSETS_DIR
from tests.repo import PROJECT_ROOT

# The image's own variables, not settings.
IMAGE_VARIABLES = {"NEO4J_AUTH", "NEO4J_PLUGINS"}
TEMPLATE = STACK_ASSETS_DIR / "neo4j" / "neo4j.conf.template"
CSP = "dbms.security.http_static_content_security_policy_header"
# Where the Browser may connect or load from: itself, and Bolt on the loopback.
LOOPBACK_SOURCES = {
    "'self'",
    "'none'",
    "'unsafe-inline'",
    "data:",
    "ws://127.0.0.1:*",
    "ws://localhost:*",
    "http://127.0.0.1:*",
    "http://localhost:*",
}


def _template_settings() -> dict[str, str]:
    settings = {}
    for line in TEMPLATE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            settings[name.strip()] = value.strip()
    return settings


def _setting_name(variable: str) -> str:
    """The official image's convention backwards: NEO4J_ prefix, '_' for '.', '__' for '_'."""
    words = variable.removeprefix("NEO4J_").split("__")
    return "_".join(word.replace("_", ".") for word in words)


def _compose_settings() -> dict[str, str]:
    compose: dict[str, Any] = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    environment = compose["services"]["neo4j"]["environment"]
    return {
        _setting_name(name): str(value)
        for name, value in environment.items()
        if name.startswith("NEO4J_") and name not in IMAGE_VARIABLES
    }


SOURCES = {"neo4j.conf.template": _template_settings, "docker-compose.yml": _compose_settings}


def test_the_image_convention_is_read_back() -> None:
    assert _setting_name("NEO4J_client_allow__telemetry") == "client.allow_telemetry"
    assert _setting_name("NEO4J_server_memory_heap_max__size") == "server.memory.heap.max_size"


@pytest.mark.parametrize("source", SOURCES)
def test_the_browser_sends_no_usage_data(source: str) -> None:
    settings = SOURCES[source]()
    assert settings["client.allow_telemetry"] == "false"


@pytest.mark.parametrize("source", SOURCES)
def test_the_browser_may_load_and_connect_only_to_this_server(source: str) -> None:
    policy = SOURCES[source]()[CSP]
    directives = {
        name: sources for name, *sources in (d.split() for d in policy.split(";") if d.strip())
    }
    # Everything a page load fetches falls under one of these (default-src for the rest).
    assert {"default-src", "script-src", "style-src", "font-src", "img-src", "connect-src"} <= set(
        directives
    )
    outside = {
        f"{name} {source}"
        for name, sources in directives.items()
        for source in sources
        if source not in LOOPBACK_SOURCES
    }
    assert outside == set()


def test_both_stacks_serve_the_same_policy() -> None:
    assert _template_settings()[CSP] == _compose_settings()[CSP]


@pytest.mark.parametrize("source", SOURCES)
def test_no_setting_community_neo4j_refuses_to_start_with(source: str) -> None:
    """Neo4j 5.26 Community does not declare browser.allow_outgoing_connections (an
    Enterprise setting; the Browser ignores it on Community anyway): with strict
    validation, the default, a conf naming it stops Neo4j at startup."""
    assert "browser.allow_outgoing_connections" not in SOURCES[source]()

"""Every setting the native neo4j.conf names is one this Neo4j declares.

Neo4j validates its configuration strictly: an undeclared setting (an Enterprise
one such as browser.allow_outgoing_connections, say) stops it at startup, and the
running instance would only find out at its next restart. SHOW SETTINGS lists what
this build declares, whatever values the running instance was started with.
"""

from __future__ import annotations

from pathlib import Path

import neo4j
import pytest

from fraudgraph.graph.connection import open_driver
from fraudgraph.paths import STACK_ASSETS_DIR
from fraudgraph.settings import Settings
from fraudgraph.stack.config import StackConfig
from fraudgraph.stack.java import java_binary
from fraudgraph.stack.manager import Stack
from fraudgraph.stack.secrets import load_or_create
from fraudgraph.stack.services.neo4j import Neo4jService

pytestmark = pytest.mark.integration

TEMPLATE = STACK_ASSETS_DIR / "neo4j" / "neo4j.conf.template"


def test_every_setting_of_the_native_conf_is_declared(settings: Settings) -> None:
    named = {
        line.partition("=")[0].strip()
        for line in TEMPLATE.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    }
    with open_driver(settings) as driver:
        records, _, _ = driver.execute_query(
            "SHOW SETTINGS YIELD name RETURN collect(name) AS names",
            routing_=neo4j.RoutingControl.READ,
        )
    assert named - set(records[0]["names"]) == set()


def test_a_password_starting_with_a_dash_is_set(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """token_urlsafe starts a generated password with "-" one time in 64; neo4j-admin
    must read it as the password, not as an option (a fresh `make test` once failed so)."""
    monkeypatch.setenv("FRAUDGRAPH_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("NEO4J_PASSWORD", "-Wdash-first-password")
    config = StackConfig()
    (tmp_path / "downloads").symlink_to(stack.config.downloads_dir)
    neo4j_admin = Neo4jService(config, load_or_create(tmp_path))
    root = config.downloads_dir / "neo4j"
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    neo4j_admin.home.mkdir()
    # The install step alone: a second Neo4j server would need ports of its own.
    neo4j_admin._set_initial_password(
        java_binary(), f"{root / 'plugins'}/*:{conf_dir}/*:{root / 'lib'}/*", conf_dir
    )
    assert (neo4j_admin.home / "data" / "dbms" / "auth.ini").exists()

"""Every setting the native neo4j.conf names is one this Neo4j declares.

Neo4j validates its configuration strictly: an undeclared setting (an Enterprise
one such as browser.allow_outgoing_connections, say) stops it at startup, and the
running instance would only find out at its next restart. SHOW SETTINGS lists what
this build declares, whatever values the running instance was started with.
"""

from __future__ import annotations

import neo4j
import pytest

from fraudgraph.graph.connection import open_driver
from fraudgraph.paths import STACK_ASSETS_DIR
from fraudgraph.settings import Settings

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

"""Both stacks give Neo4j the same replanning threshold (see neo4j.conf.template)."""

from __future__ import annotations

from tests.unit.test_neo4j_browser_settings import _compose_settings, _template_settings

THRESHOLD = "dbms.cypher.statistics_divergence_threshold"


def test_both_stacks_plan_again_only_when_counts_grow_tenfold() -> None:
    native, compose = _template_settings(), _compose_settings()
    assert float(native[THRESHOLD]) == float(compose[THRESHOLD]) == 0.9

"""The graph writer's statements find their rows by key.

Every row is found by a unique key's index (or by expanding from a node so found) and
nothing is scanned, in the plans Neo4j makes on the test stack's graph as it is when
the test runs. Plans depend on the graph's counts, so the writer lets Neo4j plan again
as they drift (graph/writer.py: a plan kept from an empty graph scanned).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from fraudgraph.graph.connection import open_driver
from fraudgraph.graph.cypher import READ_GUARDS, TRUNCATED_LABEL, Statement, build_statements
from fraudgraph.graph.mapping import default_mapping
from fraudgraph.settings import Settings

pytestmark = pytest.mark.integration


def _operators(plan: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(operator, its details) of every step of the plan."""
    yield str(plan["operatorType"]).split("@")[0], str(plan.get("args", {}).get("Details", ""))
    for child in plan.get("children", []):
        yield from _operators(child)


def _writer_statements() -> list[Statement]:
    found: list[Statement] = [READ_GUARDS]  # run before a batch's upserts
    for statements in build_statements(default_mapping()).values():
        found += [s for s in (statements.upsert, statements.delete) if s is not None]
    return found


@pytest.mark.parametrize("statement", _writer_statements(), ids=lambda s: s.name)
def test_a_writer_statement_seeks_by_key_and_never_scans(
    settings: Settings, statement: Statement
) -> None:
    with open_driver(settings) as driver, driver.session() as session:
        summary = session.run(f"EXPLAIN {statement.cypher}", rows=[], tombs=[]).consume()
    assert summary.plan is not None
    operators = list(_operators(summary.plan))
    # The one scan allowed: the truncate fences, a node per truncated table.
    scans = [(op, d) for op, d in operators if "Scan" in op and f":{TRUNCATED_LABEL}" not in d]
    assert scans == []
    assert any("Seek" in op or "Merge" in op for op, _ in operators)

"""A deleted row stays deleted whatever arrives after: the writer reads the batch's
delete markers in the batch's own transaction and drops the upserts they are as new
as (graph/cypher.py `READ_GUARDS`), on the real Neo4j."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import neo4j
import orjson
import pytest

from fraudgraph.cdc.changes import Position, RowChange
from fraudgraph.cdc.decode import decode_record
from fraudgraph.graph.connection import graph_writer, open_driver
from fraudgraph.graph.cypher import DELETED_LABEL, TRUNCATED_LABEL
from fraudgraph.graph.mapping import default_mapping
from fraudgraph.graph.writer import GraphWriter
from fraudgraph.settings import Settings

pytestmark = pytest.mark.integration

# Ids no simulated bank uses, removed again after each test.
MERCHANTS = (990_000_001, 990_000_002)


def merchant(merchant_id: int, name: str) -> dict[str, Any]:
    return {"merchant_id": merchant_id, "name": name, "country": "DE", "mcc": "5411"}


def change(image: dict[str, Any], *, op: str, lsn: int, offset: int) -> RowChange:
    document = {
        "before": image if op == "d" else None,
        "after": None if op == "d" else image,
        "source": {"table": "merchants", "lsn": lsn, "ts_ms": 1},
        "op": op,
    }
    decoded = decode_record(
        orjson.dumps(document), Position("test.bank.merchants", 0, offset), default_mapping()
    )
    assert isinstance(decoded, RowChange)
    return decoded


@pytest.fixture
def writer(settings: Settings) -> Iterator[tuple[GraphWriter, neo4j.Driver, int]]:
    """The writer, its driver, and an LSN past every truncate fence the graph holds (a
    bench resets the demo bank by truncating): the tests' LSNs count from there."""
    with open_driver(settings) as driver:
        records, _, _ = driver.execute_query(
            f"MATCH (cut:{TRUNCATED_LABEL}) RETURN coalesce(max(cut.lsn), 0) AS lsn"
        )
        try:
            yield graph_writer(settings, driver), driver, records[0]["lsn"]
        finally:
            tombs = [f"merchants:{m}" for m in MERCHANTS]
            driver.execute_query(
                "MATCH (m:Merchant) WHERE m.merchant_id IN $ids DETACH DELETE m",
                ids=list(MERCHANTS),
            )
            driver.execute_query(
                f"MATCH (gone:{DELETED_LABEL}) WHERE gone.id IN $tombs DELETE gone", tombs=tombs
            )


def names(driver: neo4j.Driver) -> dict[int, str]:
    records, _, _ = driver.execute_query(
        "MATCH (m:Merchant) WHERE m.merchant_id IN $ids RETURN m.merchant_id AS id, m.name AS name",
        ids=list(MERCHANTS),
    )
    return {r["id"]: r["name"] for r in records}


def test_an_older_change_delivered_after_the_delete_does_not_bring_the_row_back(
    writer: tuple[GraphWriter, neo4j.Driver, int],
) -> None:
    graph, driver, base = writer
    gone, kept = MERCHANTS
    graph.apply(
        [
            change(merchant(gone, "first"), op="c", lsn=base + 10, offset=0),
            change(merchant(kept, "first"), op="c", lsn=base + 11, offset=1),
        ]
    )
    graph.apply([change(merchant(gone, "first"), op="d", lsn=base + 20, offset=2)])
    assert names(driver) == {kept: "first"}
    # Another partition's older update of the deleted row, in a batch with a live one.
    result = graph.apply(
        [
            change(merchant(gone, "stale"), op="u", lsn=base + 15, offset=3),
            change(merchant(kept, "second"), op="u", lsn=base + 21, offset=4),
        ]
    )
    assert names(driver) == {kept: "second"}
    assert result.rows_written == 1
    # The same row inserted again later (a reused id) is a new row.
    graph.apply([change(merchant(gone, "again"), op="c", lsn=base + 30, offset=5)])
    assert names(driver) == {gone: "again", kept: "second"}

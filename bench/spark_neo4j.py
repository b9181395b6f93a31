"""A Neo4j of one's own for a measurement or a test, beside the shared stack.

Others write to the shared Neo4j while a benchmark times writes or a test compares
whole-graph checksums; this one starts from the installed download (no new
download), on free loopback ports, with the stack's password, and is stopped and
left in a temporary folder afterwards.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fraudgraph.bench.pipeline import free_port
from fraudgraph.settings import Settings
from fraudgraph.stack.config import StackConfig
from fraudgraph.stack.manager import Stack


@contextmanager
def own_neo4j(settings: Settings, shared: Stack, folder: Path | None = None) -> Iterator[Settings]:
    """`settings` pointing at a fresh Neo4j until the block ends."""
    with tempfile.TemporaryDirectory(prefix="fraudgraph-neo4j-", dir=folder) as scratch:
        state = Path(scratch)
        (state / "downloads").symlink_to(shared.config.downloads_dir)
        config = StackConfig(
            FRAUDGRAPH_STATE_DIR=state,  # type: ignore[call-arg]  # the field's alias
            neo4j_bolt_port=free_port(),
            neo4j_http_port=free_port(),
        )
        own = Stack(config, shared.secrets)
        own.up(["neo4j"])
        try:
            yield settings.model_copy(
                update={"neo4j_uri": f"bolt://127.0.0.1:{config.neo4j_bolt_port}"}
            )
        finally:
            own.service("neo4j").process.stop(timeout=60)

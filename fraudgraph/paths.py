"""Where fraudgraph's data files and its state live.

Every file the code reads at run time (the contracts, the connector definitions,
the graph mapping, the detector settings, the stack's assets, ...) is package
data of `fraudgraph`, found through importlib.resources: an installed wheel finds
them exactly as a source checkout does. Nothing here knows where the repository is.

The services the stack launches (Java, Prometheus) and the readers take file paths.
An install is files already; a zipped package (Spark ships one to its executors)
has its data files copied out once per process, into a folder removed at exit.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from fraudgraph.errors import ConfigError


def package_path(*parts: str) -> Path:
    """The file or folder `parts` inside the installed fraudgraph package."""
    resource = _package_root().joinpath(*parts)
    if not resource.exists():
        raise ConfigError(f"fraudgraph's data file {'/'.join(parts)} is missing from the install")
    return resource


@cache
def _package_root() -> Path:
    root = files("fraudgraph")
    if isinstance(root, Path):
        return root
    copy = Path(tempfile.mkdtemp(prefix="fraudgraph-data-"))
    atexit.register(shutil.rmtree, copy, ignore_errors=True)
    _copy_data(root, copy)
    return copy


def _copy_data(source: Traversable, target: Path) -> None:
    for entry in source.iterdir():
        if entry.is_dir():
            (target / entry.name).mkdir()
            _copy_data(entry, target / entry.name)
        elif not entry.name.endswith((".py", ".pyc")):
            (target / entry.name).write_bytes(entry.read_bytes())


CONTRACTS_DIR = package_path("contracts")
CONNECTORS_DIR = package_path("connectors")
BANK_SCHEMA_SQL = package_path("contracts", "bank.sql")
ALERT_SCHEMA_JSON = package_path("contracts", "alert.schema.json")
GRAPH_MAPPING_YAML = package_path("graph", "mapping.yaml")
SAVED_QUERIES_CYPHER = package_path("graph", "saved-queries.cypher")
GRAPH_STYLE_GRASS = package_path("graph", "fraudgraph.grass")
DETECTORS_YAML = package_path("detection", "detectors.yaml")
RULE_TYPOLOGIES_JSON = package_path("evaluation", "rule_typologies.json")
STACK_ASSETS_DIR = package_path("stack", "assets")
PROMETHEUS_RULES_YML = package_path("observability", "prometheus", "rules.yml")

# The stack's data, logs, secrets and downloads: FRAUDGRAPH_STATE_DIR, or `.state`
# in the folder fraudgraph runs from (as docker compose keeps a project per folder).
DEFAULT_STATE_DIR = Path.cwd() / ".state"

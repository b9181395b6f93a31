"""Where fraudgraph's data files and its state live.

Every file the code reads at run time (the contracts, the connector definitions,
the graph mapping, the detector settings, the stack's assets, ...) is package
data of `fraudgraph`, found through importlib.resources: an installed wheel finds
them exactly as a source checkout does. Nothing here knows where the repository is.

The services the stack launches (Java, Prometheus) take file paths, so the package
must be installed as files; a zipped install is refused with one line here rather
than failing later inside a service.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fraudgraph.errors import ConfigError


def package_path(*parts: str) -> Path:
    """The file or folder `parts` inside the installed fraudgraph package."""
    resource = files("fraudgraph").joinpath(*parts)
    if not isinstance(resource, Path):
        raise ConfigError(f"fraudgraph must be installed as files, not zipped ({resource})")
    if not resource.exists():
        raise ConfigError(f"fraudgraph's data file {'/'.join(parts)} is missing from the install")
    return resource


CONTRACTS_DIR = package_path("contracts")
CONNECTORS_DIR = package_path("connectors")
BANK_SCHEMA_SQL = package_path("contracts", "bank.sql")
ALERT_SCHEMA_JSON = package_path("contracts", "alert.schema.json")
GRAPH_MAPPING_YAML = package_path("graph", "mapping.yaml")
SAVED_QUERIES_CYPHER = package_path("graph", "saved-queries.cypher")
DETECTORS_YAML = package_path("detection", "detectors.yaml")
RULE_TYPOLOGIES_JSON = package_path("evaluation", "rule_typologies.json")
STACK_ASSETS_DIR = package_path("stack", "assets")
PROMETHEUS_RULES_YML = package_path("observability", "prometheus", "rules.yml")

# The stack's data, logs, secrets and downloads: FRAUDGRAPH_STATE_DIR, or `.state`
# in the folder fraudgraph runs from (as docker compose keeps a project per folder).
DEFAULT_STATE_DIR = Path.cwd() / ".state"

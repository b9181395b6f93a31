"""Connector definitions: one JSON file per connector under connectors/."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson

from fraudgraph.connectors.errors import ConnectorDefinitionError
from fraudgraph.paths import CONNECTORS_DIR


@dataclass(frozen=True)
class ConnectorDefinition:
    name: str
    config: dict[str, str]
    source: Path

    @property
    def connector_class(self) -> str:
        return self.config["connector.class"]


def load_definition(path: Path) -> ConnectorDefinition:
    try:
        document = orjson.loads(path.read_bytes())
    except FileNotFoundError as error:
        raise ConnectorDefinitionError(f"{path}: no such file") from error
    except orjson.JSONDecodeError as error:
        raise ConnectorDefinitionError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(document, dict):
        raise ConnectorDefinitionError(f"{path}: expected an object with 'name' and 'config'")
    name, config = document.get("name"), document.get("config")
    if not isinstance(name, str) or not name:
        raise ConnectorDefinitionError(f"{path}: 'name' must be a non-empty string")
    if not isinstance(config, dict) or not config:
        raise ConnectorDefinitionError(f"{path}: 'config' must be a non-empty object")
    bad = [key for key, value in config.items() if not isinstance(value, str)]
    if bad:
        # Connect accepts only string values; saying so here beats its 500 error.
        raise ConnectorDefinitionError(f"{path}: config values must be strings: {', '.join(bad)}")
    if "connector.class" not in config:
        raise ConnectorDefinitionError(f"{path}: config lacks 'connector.class'")
    return ConnectorDefinition(name=name, config=dict(config), source=path)


def load_definitions(folder: Path = CONNECTORS_DIR) -> list[ConnectorDefinition]:
    definitions = [load_definition(path) for path in sorted(folder.glob("*.json"))]
    if not definitions:
        raise ConnectorDefinitionError(f"no connector files (*.json) in {folder}")
    return definitions

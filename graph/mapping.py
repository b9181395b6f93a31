"""The declarative table -> graph mapping (graph/mapping.yaml), loaded and validated.

Labels, relationship types and property names end up in Cypher text (Cypher
cannot parameterise them), so every identifier is checked against a strict
pattern here; row values are only ever passed as parameters.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fraudgraph.errors import ConfigError
from fraudgraph.paths import GRAPH_MAPPING_YAML

MAPPING_FILE = GRAPH_MAPPING_YAML

Identifier = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
ColumnType = Literal["bigint", "text", "bool", "float", "decimal", "timestamptz", "date", "inet"]
Normaliser = Literal["email", "phone", "token", "address"]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NodeRef(_Strict):
    """A node a link points at: found by a column's value, or by a keyed hash of columns."""

    label: Identifier
    key: Identifier = "hash"
    column: Identifier | None = None
    hash: Annotated[tuple[Identifier, ...], Field(min_length=1)] | None = None
    normalise: Normaliser = "token"

    @model_validator(mode="after")
    def _one_source(self) -> NodeRef:
        if (self.column is None) == (self.hash is None):
            raise ValueError(f"{self.label}: give exactly one of 'column' or 'hash'")
        return self

    @property
    def columns(self) -> tuple[str, ...]:
        return self.hash if self.hash is not None else (self.column or "",)


# How many of a column's past values a `history` property keeps (the newest).
HISTORY_LIMIT = 16


class NodeSpec(_Strict):
    label: Identifier
    key: Identifier
    properties: tuple[Identifier, ...] = ()
    hashed: dict[Identifier, Identifier] = Field(default_factory=dict)
    # property -> column: every value the column has taken, newest first (at most
    # HISTORY_LIMIT), for facts a later version overwrites (a customer's change times).
    history: dict[Identifier, Identifier] = Field(default_factory=dict)


class LinkSpec(_Strict):
    """A relationship owned by the row: `self` is the row's own node."""

    type: Identifier
    from_: Literal["self"] | NodeRef = Field(alias="from")
    to: Literal["self"] | NodeRef
    key: Identifier | None = None
    properties: dict[Identifier, Identifier] = Field(default_factory=dict)

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class TableMapping(_Strict):
    key: Identifier
    columns: dict[Identifier, ColumnType]
    node: NodeSpec | None = None
    links: tuple[LinkSpec, ...] = ()


class GraphMapping(_Strict):
    tables: dict[Identifier, TableMapping]

    @model_validator(mode="after")
    def _columns_exist(self) -> GraphMapping:
        for name, table in self.tables.items():
            known = set(table.columns)
            used: set[str] = {table.key}
            if table.node is not None:
                used |= {table.node.key, *table.node.properties, *table.node.hashed.values()}
                used |= set(table.node.history.values())
            for link in table.links:
                for end in (link.from_, link.to):
                    if isinstance(end, NodeRef):
                        used |= set(end.columns)
                    elif table.node is None:
                        raise ValueError(f"{name}: link {link.type} uses 'self' but has no node")
                used |= set(link.properties.values())
                if link.key is not None and link.key != table.key:
                    # A keyed relationship is owned by its row and identified by the
                    # row's own key (the planner sends only that).
                    raise ValueError(
                        f"{name}: link {link.type} is keyed by {link.key}, "
                        f"not by the table key {table.key}"
                    )
            if unknown := used - known:
                raise ValueError(f"{name}: unknown columns {sorted(unknown)}")
        return self

    def table(self, name: str) -> TableMapping | None:
        return self.tables.get(name)

    def node_properties(self) -> dict[str, frozenset[str]]:
        """Each label and every property its nodes can carry, as graph/cypher.py writes
        them: a row's node its key, columns, hashes, histories and `_lsn`; a node known
        only by reference (a stub, an identity node, an IP) its key alone."""
        found: dict[str, set[str]] = {}
        for table in self.tables.values():
            if (node := table.node) is not None:
                found.setdefault(node.label, set()).update(
                    {node.key, "_lsn", *node.properties, *node.hashed, *node.history}
                )
            for link in table.links:
                for end in (link.from_, link.to):
                    if isinstance(end, NodeRef):
                        found.setdefault(end.label, set()).add(end.key)
        return {label: frozenset(props) for label, props in found.items()}

    def relationship_properties(self) -> dict[str, frozenset[str]]:
        """Each relationship type and every property it can carry (a keyed one its key
        and `_lsn` too)."""
        found: dict[str, set[str]] = {}
        for table in self.tables.values():
            for link in table.links:
                props = found.setdefault(link.type, set())
                props.update(link.properties)
                if link.key is not None:
                    props.update({link.key, "_lsn"})
        return {rel: frozenset(props) for rel, props in found.items()}


def load_mapping(path: Path = MAPPING_FILE) -> GraphMapping:
    try:
        document = yaml.safe_load(path.read_text())
        return GraphMapping.model_validate(document)
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read graph mapping {path}: {error}") from error
    except ValidationError as error:
        raise ConfigError(f"invalid graph mapping {path}:\n{error}") from error


@lru_cache(maxsize=1)
def default_mapping() -> GraphMapping:
    return load_mapping()

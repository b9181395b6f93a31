"""All Cypher the writer runs, built once from the mapping.

Labels, types and property names come from the validated mapping file (Cypher
cannot take them as parameters); every value arrives in `$rows`. Each statement
is one `UNWIND $rows AS row …` over a batch.

Guarantees the statements encode:
- A node carries `_lsn`, the source LSN of the change it reflects; a change with a
  lower LSN never overwrites it (`coalesce(n._lsn, -1) <= row.lsn`; equal LSNs are
  replays and rewrite the same values).
- A delete leaves a `_Deleted {id: "<table>:<key>", lsn}` marker, so an older
  change delivered later cannot bring the row back.
- Relationships are owned by the row that implies them: an upsert removes the
  ones the row no longer implies; a delete removes them with the node, and
  identity nodes (Email, Phone, …) nobody else links to go with it.
- Nodes known only by reference (e.g. the account of a payment not yet seen)
  are created as stubs without `_lsn`; their own row fills them when it arrives.
"""

from __future__ import annotations

from dataclasses import dataclass

from graph.mapping import GraphMapping, LinkSpec, NodeRef, TableMapping

DELETED_LABEL = "_Deleted"


@dataclass(frozen=True)
class Statement:
    """One parameterised statement and the name of the parameter set it takes."""

    name: str
    cypher: str


@dataclass(frozen=True)
class TableStatements:
    upserts: tuple[Statement, ...]
    deletes: tuple[Statement, ...]


def link_is_keyed(link: LinkSpec) -> bool:
    return link.key is not None


def _ref_pattern(var: str, ref: NodeRef, param: str) -> str:
    return f"({var}:{ref.label} {{{ref.key}: row.{param}}})"


def _registry_guard() -> str:
    return (
        f"OPTIONAL MATCH (gone:{DELETED_LABEL} {{id: row.tomb}})\n"
        "WITH row WHERE gone IS NULL OR gone.lsn < row.lsn\n"
    )


def _node_upsert(table: TableMapping) -> str:
    assert table.node is not None
    node = table.node
    return (
        "UNWIND $rows AS row\n"
        + _registry_guard()
        + f"MERGE (n:{node.label} {{{node.key}: row.key}})\n"
        "WITH n, row WHERE coalesce(n._lsn, -1) <= row.lsn\n"
        "SET n += row.props, n._lsn = row.lsn"
    )


def _owned_link_upsert(table: TableMapping, index: int, link: LinkSpec) -> str:
    """A link between the row's node and one referenced node, replaced when it changes."""
    assert table.node is not None
    node = table.node
    outgoing = link.from_ == "self"
    ref = link.to if outgoing else link.from_
    assert isinstance(ref, NodeRef)
    # The planner names a reference's value by its end: f<i> for `from`, t<i> for `to`.
    target = f"row.t{index}" if outgoing else f"row.f{index}"
    arrow_old = (
        f"(n)-[r:{link.type}]->(old:{ref.label})"
        if outgoing
        else (f"(old:{ref.label})-[r:{link.type}]->(n)")
    )
    arrow_new = f"(n)-[r:{link.type}]->(m)" if outgoing else f"(m)-[r:{link.type}]->(n)"
    orphan_cleanup = (
        "  WITH old WHERE old IS NOT NULL AND NOT EXISTS { (old)--() }\n  DELETE old\n"
        if ref.hash is not None
        else ""
    )
    set_properties = f"\nSET r += row.p{index}" if link.properties else ""
    return (
        "UNWIND $rows AS row\n"
        f"MATCH (n:{node.label} {{{node.key}: row.key}}) WHERE n._lsn = row.lsn\n"
        "CALL (n, row) {\n"
        f"  OPTIONAL MATCH {arrow_old}\n"
        f"  WHERE {target} IS NULL OR old.{ref.key} <> {target}\n"
        "  DELETE r\n"
        f"{orphan_cleanup}"
        "}\n"
        f"WITH n, row WHERE {target} IS NOT NULL\n"
        f"MERGE (m:{ref.label} {{{ref.key}: {target}}})\n"
        f"MERGE {arrow_new}"
        f"{set_properties}"
    )


def _keyed_link_upsert(table: TableMapping, index: int, link: LinkSpec) -> str:
    """A relationship identified by a column of the row (a transfer, a login)."""
    assert link.key is not None
    ends = []
    for var, end, param in (("a", link.from_, f"f{index}"), ("b", link.to, f"t{index}")):
        if end == "self":
            raise ValueError(f"keyed link {link.type} must join two referenced nodes")
        assert isinstance(end, NodeRef)
        ends.append((var, end, param))
    (_, from_ref, from_param), (_, to_ref, to_param) = ends
    rel = f"[{{}}:{link.type} {{{{{link.key}: row.key}}}}]"
    if table.node is not None:
        node = table.node
        guard = f"MATCH (n:{node.label} {{{node.key}: row.key}}) WHERE n._lsn = row.lsn\n"
        carry = "n, row"
    else:
        # No node holds the LSN: the relationships carry it, plus the delete registry.
        guard = _registry_guard() + (
            "WITH row WHERE NOT EXISTS { ()-" + rel.format("x") + "->() WHERE x._lsn > row.lsn }\n"
        )
        carry = "row"
    return (
        "UNWIND $rows AS row\n" + guard + f"CALL ({carry}) {{\n"
        f"  OPTIONAL MATCH (a)-{rel.format('old')}->(b)\n"
        f"  WHERE row.{from_param} IS NULL OR row.{to_param} IS NULL\n"
        f"     OR a.{from_ref.key} <> row.{from_param} OR b.{to_ref.key} <> row.{to_param}\n"
        "  DELETE old\n"
        "}\n"
        f"WITH row WHERE row.{from_param} IS NOT NULL AND row.{to_param} IS NOT NULL\n"
        f"MERGE {_ref_pattern('a', from_ref, from_param)}\n"
        f"MERGE {_ref_pattern('b', to_ref, to_param)}\n"
        f"MERGE (a)-{rel.format('r')}->(b)\n"
        f"SET r += row.p{index}, r._lsn = row.lsn"
    )


def _node_delete(table: TableMapping) -> str:
    assert table.node is not None
    node = table.node
    identity_labels = sorted(
        {
            end.label
            for link in table.links
            for end in (link.from_, link.to)
            if isinstance(end, NodeRef) and end.hash is not None
        }
    )
    statement = (
        "UNWIND $rows AS row\n"
        f"MERGE (gone:{DELETED_LABEL} {{id: row.tomb}})\n"
        "SET gone.lsn = CASE WHEN coalesce(gone.lsn, -1) < row.lsn THEN row.lsn ELSE gone.lsn END\n"
        "WITH row\n"
        f"MATCH (n:{node.label} {{{node.key}: row.key}}) WHERE coalesce(n._lsn, -1) <= row.lsn\n"
    )
    if not identity_labels:
        return statement + "DETACH DELETE n"
    # Erasure: identity nodes (Email, Phone, ...) go too unless someone else links to them.
    label_test = " OR ".join(f"pii:{label}" for label in identity_labels)
    return statement + (
        f"OPTIONAL MATCH (n)--(pii) WHERE {label_test}\n"
        "WITH n, collect(DISTINCT pii) AS identities\n"
        "DETACH DELETE n\n"
        "WITH identities UNWIND identities AS pii\n"
        "WITH DISTINCT pii WHERE NOT EXISTS { (pii)--() }\n"
        "DELETE pii"
    )


def _keyed_links_delete(table: TableMapping) -> str | None:
    keyed = [link for link in table.links if link_is_keyed(link)]
    if not keyed:
        return None
    keys = {link.key for link in keyed}
    if len(keys) != 1:
        raise ValueError("keyed links of one table must share one key column")
    (key,) = keys
    types = "|".join(sorted({link.type for link in keyed}))
    registry = ""
    if table.node is None:
        registry = (
            f"MERGE (gone:{DELETED_LABEL} {{id: row.tomb}})\n"
            "SET gone.lsn = CASE WHEN coalesce(gone.lsn, -1) < row.lsn "
            "THEN row.lsn ELSE gone.lsn END\n"
            "WITH row\n"
        )
    return (
        "UNWIND $rows AS row\n" + registry + f"MATCH ()-[r:{types} {{{key}: row.key}}]->()\n"
        "WHERE coalesce(r._lsn, -1) <= row.lsn\n"
        "DELETE r"
    )


def build_statements(mapping: GraphMapping) -> dict[str, TableStatements]:
    statements: dict[str, TableStatements] = {}
    for name, table in mapping.tables.items():
        upserts: list[Statement] = []
        if table.node is not None:
            upserts.append(Statement(f"{name}.node", _node_upsert(table)))
        for index, link in enumerate(table.links):
            cypher = (
                _keyed_link_upsert(table, index, link)
                if link_is_keyed(link)
                else _owned_link_upsert(table, index, link)
            )
            upserts.append(Statement(f"{name}.{link.type}.{index}", cypher))
        deletes: list[Statement] = []
        if table.node is not None:
            deletes.append(Statement(f"{name}.delete", _node_delete(table)))
        if (edges := _keyed_links_delete(table)) is not None:
            deletes.append(Statement(f"{name}.delete_edges", edges))
        statements[name] = TableStatements(tuple(upserts), tuple(deletes))
    return statements


def schema_statements(mapping: GraphMapping) -> list[str]:
    """Uniqueness constraints for every node key and indexes for keyed relationships."""
    keys: set[tuple[str, str]] = {(DELETED_LABEL, "id")}
    rel_keys: set[tuple[str, str]] = set()
    for table in mapping.tables.values():
        if table.node is not None:
            keys.add((table.node.label, table.node.key))
        for link in table.links:
            for end in (link.from_, link.to):
                if isinstance(end, NodeRef):
                    keys.add((end.label, end.key))
            if link.key is not None:
                rel_keys.add((link.type, link.key))
    statements = [
        f"CREATE CONSTRAINT {label.lower()}_{key}_unique IF NOT EXISTS "
        f"FOR (n:{label}) REQUIRE n.{key} IS UNIQUE"
        for label, key in sorted(keys)
    ]
    statements += [
        f"CREATE INDEX {rel_type.lower()}_{key} IF NOT EXISTS FOR ()-[r:{rel_type}]-() ON (r.{key})"
        for rel_type, key in sorted(rel_keys)
    ]
    return statements

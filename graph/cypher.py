"""All Cypher the writer runs, built once from the mapping.

Labels, types and property names come from the validated mapping file (Cypher
cannot take them as parameters); every value arrives in `$rows`. Each statement
is one `UNWIND $rows AS row …` over a batch.

Guarantees the statements encode:
- A node carries `_lsn`, the source LSN of the change it reflects; a change with a
  lower LSN never overwrites it (`coalesce(n._lsn, -1) <= row.lsn`; equal LSNs are
  replays and rewrite the same values).
- A delete leaves a `_Deleted {id: "<table>:<key>", lsn}` marker, so an older
  change delivered later cannot bring the row back: `GraphWriter.apply` reads the
  markers of a batch's rows in the batch's own transaction (`READ_GUARDS`) and
  drops the rows at or below them before the upserts run.
- Relationships are owned by the row that implies them: an upsert removes the
  ones the row no longer implies; a delete removes them with the node, and
  identity nodes (Email, Phone, …) nobody else links to go with it.
- A truncate leaves a `_Truncated {table, lsn}` marker: `GraphWriter.apply` reads the
  markers in the batch's own transaction and drops changes at or below them before
  planning, so a row change older than the truncate, delivered after it from another
  partition, cannot bring a removed row back. The truncate itself removes the table's nodes
  and the relationships its rows own in bounded batches (`TruncateStatements`).
- Nodes known only by reference (e.g. the account of a payment not yet seen)
  are created as stubs without `_lsn`; their own row fills them when it arrives.
  A stub left without relationships when a row lets go of it is removed, so the
  graph does not depend on batch boundaries (a login inserted then erased in one
  batch creates no IP node; in two batches it must leave none either).
"""

from __future__ import annotations

from dataclasses import dataclass

from fraudgraph.errors import ConfigError
from fraudgraph.graph.mapping import HISTORY_LIMIT, GraphMapping, LinkSpec, NodeRef, TableMapping

DELETED_LABEL = "_Deleted"
TRUNCATED_LABEL = "_Truncated"
# Rows a truncate removes per transaction: Neo4j holds a transaction's whole
# change set in memory, and a truncated table may hold millions of rows.
TRUNCATE_BATCH = 5000


@dataclass(frozen=True)
class Statement:
    """One parameterised statement and the name of the parameter set it takes."""

    name: str
    cypher: str


@dataclass(frozen=True)
class TruncateStatements:
    """What a truncate of one table runs, each statement over `$table`, `$lsn` and
    `$limit`; every statement but `mark` returns `found` (0 once nothing is left)."""

    mark: Statement  # the fence first, so nothing older is written while it removes
    relationships: Statement | None  # keyed relationships the rows own (transfers, logins)
    nodes: Statement | None  # the rows' nodes and the relationships they own
    markers: Statement  # the table's `_Deleted` markers the fence now covers


@dataclass(frozen=True)
class TableStatements:
    upsert: Statement
    delete: Statement
    truncate: TruncateStatements


def link_is_keyed(link: LinkSpec) -> bool:
    return link.key is not None


def _ref_pattern(var: str, ref: NodeRef, param: str) -> str:
    return f"({var}:{ref.label} {{{ref.key}: row.{param}}})"


# What a batch's rows must not be written past, read in one round trip at the start of
# the batch's own transaction (GraphWriter.apply drops the rows either is as new as):
# every table's truncate fence (one node per truncated table) and the delete markers of
# the batch's rows (an index seek each). Two statements before: a round trip more per
# write, two per batch when its judgement overlaps the write. The markers are not a
# clause of each upsert: a handful of markers is all a live graph holds, so their
# index's statistics swing between none and some all day, and every plan reading them
# was discarded and planned again (0.3-0.7 s of Neo4j's CPU each, the batch waiting).
READ_GUARDS = Statement(
    "guards.read",
    f"CALL () {{ MATCH (cut:{TRUNCATED_LABEL}) RETURN collect([cut.table, cut.lsn]) AS fences }}\n"
    f"CALL () {{ UNWIND $tombs AS tomb MATCH (gone:{DELETED_LABEL} {{id: tomb}})\n"
    "  RETURN collect([gone.id, gone.lsn]) AS markers }\n"
    "RETURN fences, markers",
)


def _create_or_merge(pattern: str, set_clause: str, fresh: str = "fresh") -> str:
    """CREATE the relationship for a row seen for the first time, MERGE it otherwise.

    Only the row's own upsert creates the relationships it owns, so a row whose node
    (or keyed relationship) did not exist yet cannot have them: CREATE skips the
    search MERGE makes through the endpoints' relationships, which was most of
    Neo4j's work on an insert-heavy stream.
    """
    suffix = f" {set_clause}" if set_clause else ""
    return (
        f"FOREACH (_ IN CASE WHEN {fresh} THEN [1] ELSE [] END | CREATE {pattern}{suffix})\n"
        f"FOREACH (_ IN CASE WHEN {fresh} THEN [] ELSE [1] END | MERGE {pattern}{suffix})"
    )


def _indent(text: str) -> str:
    return "".join(f"  {line}\n" for line in text.splitlines())


def _owned_link(index: int, link: LinkSpec) -> str:
    """Body of a subquery over (n, row): the link between the row's node and one reference."""
    outgoing = link.from_ == "self"
    ref = link.to if outgoing else link.from_
    assert isinstance(ref, NodeRef)
    # The planner names a reference's value by its end: f<i> for `from`, t<i> for `to`.
    target = f"row.t{index}" if outgoing else f"row.f{index}"
    old = (
        f"(n)-[r:{link.type}]->(old:{ref.label})"
        if outgoing
        else f"(old:{ref.label})-[r:{link.type}]->(n)"
    )
    new = f"(n)-[r:{link.type}]->(m)" if outgoing else f"(m)-[r:{link.type}]->(n)"
    set_properties = f"SET r += row.p{index}" if link.properties else ""
    return (
        # A fresh row owns no relationship yet (see _create_or_merge): nothing to let go.
        "CALL (n, row, fresh) {\n"
        "  WITH n, row WHERE NOT fresh\n"
        f"  OPTIONAL MATCH {old}\n"
        f"  WHERE {target} IS NULL OR old.{ref.key} <> {target}\n"
        "  DELETE r\n"
        # Identity nodes (no row of their own) and stubs go when nothing links them.
        "  WITH old WHERE old IS NOT NULL AND old._lsn IS NULL AND NOT EXISTS { (old)--() }\n"
        "  DELETE old\n"
        "}\n"
        f"WITH n, row, fresh WHERE {target} IS NOT NULL\n"
        f"MERGE (m:{ref.label} {{{ref.key}: {target}}})\n" + _create_or_merge(new, set_properties)
    )


def _keyed_link(index: int, link: LinkSpec, *, guard_by_relationship: bool) -> str:
    """Body of a subquery over (row): a relationship identified by a column (a transfer)."""
    assert link.key is not None
    refs = []
    for end in (link.from_, link.to):
        if not isinstance(end, NodeRef):
            raise ConfigError(f"keyed link {link.type} must join two referenced nodes")
        refs.append(end)
    from_ref, to_ref = refs
    f, t = f"row.f{index}", f"row.t{index}"
    rel = f"{link.type} {{{link.key}: row.key}}"
    guard = (
        # No node holds the LSN: a newer version of this relationship wins, and the
        # row is new when no version of it exists at all.
        f"WITH row WHERE NOT EXISTS {{ ()-[x:{rel}]->() WHERE x._lsn > row.lsn }}\n"
        f"WITH row, NOT EXISTS {{ ()-[:{rel}]->() }} AS fresh\n"
        if guard_by_relationship
        else ""
    )
    return (
        guard + "CALL (row, fresh) {\n"
        "  WITH row WHERE NOT fresh\n"
        f"  OPTIONAL MATCH (a)-[old:{rel}]->(b)\n"
        f"  WHERE {f} IS NULL OR {t} IS NULL OR a.{from_ref.key} <> {f} OR b.{to_ref.key} <> {t}\n"
        "  DELETE old\n"
        f"{_stubs_let_go('a', 'b')}"
        "}\n"
        f"WITH row, fresh WHERE {f} IS NOT NULL AND {t} IS NOT NULL\n"
        f"MERGE (a:{from_ref.label} {{{from_ref.key}: {f}}})\n"
        f"MERGE (b:{to_ref.label} {{{to_ref.key}: {t}}})\n"
        + _create_or_merge(f"(a)-[r:{rel}]->(b)", f"SET r += row.p{index}, r._lsn = row.lsn")
    )


def _stubs_let_go(*ends: str) -> str:
    """Clauses (inside a unit subquery, after a relationship delete) removing the ends
    that are stubs (no `_lsn`: never their own row) and that nothing links any more."""
    listed = ", ".join(ends)
    return (
        f"  WITH [x IN [{listed}] WHERE x IS NOT NULL AND x._lsn IS NULL] AS ends\n"
        "  UNWIND ends AS x\n"
        "  WITH DISTINCT x WHERE NOT EXISTS { (x)--() }\n"
        "  DELETE x\n"
    )


def _history_clause(prop: str) -> str:
    """Add the batch's values of a history property to the node's: distinct, newest
    first, the last HISTORY_LIMIT. A set union, so a replay changes nothing."""
    return (
        f"SET n.{prop} = COLLECT {{ UNWIND coalesce(n.{prop}, []) + row.history.{prop} AS v\n"
        f"  WITH DISTINCT v ORDER BY v DESC LIMIT {HISTORY_LIMIT} RETURN v }}\n"
    )


def _upsert(table: TableMapping) -> str:
    """One statement per table: the node (LSN-guarded), then each link in a subquery.

    One statement rather than one per link: the batch's rows are packed and sent
    once, not once per relationship type.
    """
    lines = "UNWIND $rows AS row\n"
    if table.node is not None:
        node = table.node
        lines += (
            f"MERGE (n:{node.label} {{{node.key}: row.key}})\n"
            # A node without _lsn is new (or a stub another row referenced): its row's
            # own relationships cannot exist yet.
            "WITH n, row, n._lsn IS NULL AS fresh WHERE coalesce(n._lsn, -1) <= row.lsn\n"
            "SET n += row.props, n._lsn = row.lsn\n"
        )
        for prop in node.history:
            lines += _history_clause(prop)
        if table.links:
            lines += "WITH n, row, fresh\n"
        scope = "n, row, fresh"
    else:
        scope = "row"
    for index, link in enumerate(table.links):
        body = (
            _keyed_link(index, link, guard_by_relationship=table.node is None)
            if link_is_keyed(link)
            else _owned_link(index, link)
        )
        lines += f"CALL ({scope}) {{\n{_indent(body)}}}\n"
    return lines.rstrip("\n")


def _delete(table: TableMapping) -> str:
    """Marker, row-owned keyed relationships, then the node and unshared identities."""
    statement = (
        "UNWIND $rows AS row\n"
        f"MERGE (gone:{DELETED_LABEL} {{id: row.tomb}})\n"
        "SET gone.lsn = CASE WHEN coalesce(gone.lsn, -1) < row.lsn THEN row.lsn ELSE gone.lsn END\n"
        "WITH row\n"
    )
    keyed = [link for link in table.links if link_is_keyed(link)]
    if keyed:
        key = table.key  # the mapping guarantees keyed links use the table key
        types = "|".join(sorted({link.type for link in keyed}))
        # Collected first: a row's relationships share ends (a login's customer), and a
        # stub is removed once, after every relationship of the row is gone.
        statement += (
            "CALL (row) {\n"
            f"  MATCH (a)-[r:{types} {{{key}: row.key}}]->(b)\n"
            "  WHERE coalesce(r._lsn, -1) <= row.lsn\n"
            "  WITH collect(r) AS gone, collect(a) + collect(b) AS ends\n"
            "  FOREACH (r IN gone | DELETE r)\n"
            "  WITH [x IN ends WHERE x._lsn IS NULL] AS ends\n"
            "  UNWIND ends AS x\n"
            "  WITH DISTINCT x WHERE NOT EXISTS { (x)--() }\n"
            "  DELETE x\n"
            "}\n"
        )
    if table.node is None:
        return statement.rstrip("\n")
    node = table.node
    statement += (
        f"MATCH (n:{node.label} {{{node.key}: row.key}}) WHERE coalesce(n._lsn, -1) <= row.lsn\n"
    )
    # Erasure: identity nodes (Email, Phone, ...) go too unless someone else links to
    # them, and so do stubs (no `_lsn`) the node was the last to link.
    return statement + (
        "OPTIONAL MATCH (n)--(end) WHERE end._lsn IS NULL\n"
        "WITH n, collect(DISTINCT end) AS ends\n"
        "DETACH DELETE n\n"
        "WITH ends UNWIND ends AS end\n"
        "WITH DISTINCT end WHERE NOT EXISTS { (end)--() }\n"
        "DELETE end"
    )


def _unlinked_stubs(ends: str) -> str:
    """Clauses (a unit subquery's end) removing the stubs and identity nodes among
    `ends` that nothing links any more, as a row delete does."""
    return (
        f"  WITH [x IN {ends} WHERE x IS NOT NULL AND x._lsn IS NULL] AS loose\n"
        "  UNWIND loose AS x\n"
        "  WITH DISTINCT x WHERE NOT EXISTS { (x)--() }\n"
        "  DELETE x\n"
    )


def _truncate_relationships(table: TableMapping) -> str | None:
    """A bounded batch of the keyed relationships (a login's USED, a payment's
    TRANSFERRED) the table's rows own, at or below the fence."""
    keyed = sorted({link.type for link in table.links if link_is_keyed(link)})
    if not keyed:
        return None
    return (
        f"MATCH (a)-[r:{'|'.join(keyed)}]->(b) WHERE r._lsn <= $lsn\n"
        "WITH r, a, b LIMIT $limit\n"
        "WITH collect(r) AS gone, collect(a) + collect(b) AS ends\n"
        "FOREACH (r IN gone | DELETE r)\n"
        "WITH gone, ends\n"
        "CALL (ends) {\n" + _unlinked_stubs("ends") + "}\n"
        "RETURN size(gone) AS found"
    )


def _truncate_nodes(table: TableMapping) -> str | None:
    """A bounded batch of the table's nodes at or below the fence, with the
    relationships their rows own (erasure, as `_delete`). A node other tables' rows
    still link to (an account's owner, until the accounts' truncate arrives) becomes
    a stub: its key only, no `_lsn`, as if only referenced."""
    if table.node is None:
        return None
    node = table.node
    outgoing = sorted({k.type for k in table.links if not link_is_keyed(k) and k.from_ == "self"})
    incoming = sorted({k.type for k in table.links if not link_is_keyed(k) and k.to == "self"})
    owned = ""
    for types, pattern in (
        (outgoing, "(n)-[r:{types}]->(end)"),
        (incoming, "(end)-[r:{types}]->(n)"),
    ):
        if types:
            owned += (
                "  CALL (n) {\n"
                f"    OPTIONAL MATCH {pattern.format(types='|'.join(types))}\n"
                "    WITH collect(r) AS gone, collect(end) AS ends\n"
                "    FOREACH (r IN gone | DELETE r)\n"
                "    WITH ends\n"
                "    CALL (ends) {\n" + _indent(_indent(_unlinked_stubs("ends"))) + "    }\n"
                "  }\n"
            )
    return (
        f"MATCH (n:{node.label}) WHERE n._lsn <= $lsn\n"
        "WITH n LIMIT $limit\n"
        "WITH collect(n) AS batch\n"
        "CALL (batch) {\n"
        "  UNWIND batch AS n\n" + owned + "  CALL (n) {\n"
        "    WITH n WHERE EXISTS { (n)--() }\n"
        f"    SET n = {{{node.key}: n.{node.key}}}\n"
        "  }\n"
        "  WITH n WHERE NOT EXISTS { (n)--() }\n"
        "  DELETE n\n"
        "}\n"
        "RETURN size(batch) AS found"
    )


TRUNCATE_MARK = Statement(
    "truncate.mark",
    f"MERGE (cut:{TRUNCATED_LABEL} {{table: $table}})\n"
    # Never lowered: a redelivered older truncate leaves the newer fence in place.
    "SET cut.lsn = CASE WHEN coalesce(cut.lsn, -1) < $lsn THEN $lsn ELSE cut.lsn END\n"
    "RETURN cut.lsn AS lsn",
)
TRUNCATE_MARKERS = Statement(
    "truncate.markers",
    # `_Deleted` ids are "<table>:<key>"; the uniqueness constraint's index serves the
    # prefix. A marker at or below the fence guards nothing the fence does not.
    f"MATCH (gone:{DELETED_LABEL}) WHERE gone.id STARTS WITH $table + ':' AND gone.lsn <= $lsn\n"
    "WITH gone LIMIT $limit\n"
    "WITH collect(gone) AS batch\n"
    "FOREACH (gone IN batch | DELETE gone)\n"
    "RETURN size(batch) AS found",
)


def _truncate(name: str, table: TableMapping) -> TruncateStatements:
    relationships, nodes = _truncate_relationships(table), _truncate_nodes(table)
    return TruncateStatements(
        mark=TRUNCATE_MARK,
        relationships=Statement(f"{name}.truncate.relationships", relationships)
        if relationships
        else None,
        nodes=Statement(f"{name}.truncate.nodes", nodes) if nodes else None,
        markers=TRUNCATE_MARKERS,
    )


def _load_link(index: int, link: LinkSpec) -> str:
    """Body of a subquery over (n, row) or (row): one relationship of a row loaded once."""
    if link_is_keyed(link):
        from_ref, to_ref = link.from_, link.to
        assert isinstance(from_ref, NodeRef) and isinstance(to_ref, NodeRef)  # mapping-checked
        f, t = f"row.f{index}", f"row.t{index}"
        return (
            f"WITH row WHERE {f} IS NOT NULL AND {t} IS NOT NULL\n"
            f"MERGE (a:{from_ref.label} {{{from_ref.key}: {f}}})\n"
            f"MERGE (b:{to_ref.label} {{{to_ref.key}: {t}}})\n"
            f"CREATE (a)-[r:{link.type} {{{link.key}: row.key}}]->(b) "
            f"SET r += row.p{index}, r._lsn = row.lsn"
        )
    outgoing = link.from_ == "self"
    ref = link.to if outgoing else link.from_
    assert isinstance(ref, NodeRef)
    target = f"row.t{index}" if outgoing else f"row.f{index}"
    pattern = f"(n)-[r:{link.type}]->(m)" if outgoing else f"(m)-[r:{link.type}]->(n)"
    set_properties = f" SET r += row.p{index}" if link.properties else ""
    return (
        f"WITH n, row WHERE {target} IS NOT NULL\n"
        f"MERGE (m:{ref.label} {{{ref.key}: {target}}})\n"
        f"CREATE {pattern}{set_properties}"
    )


def _load(table: TableMapping) -> str:
    """A row's newest version into a graph that holds none of the rows being loaded.

    What `_upsert` guards against cannot happen there: no older version, no marker,
    no relationship to let go of; so no guard, and CREATE for every relationship the
    row owns. Nodes are still MERGEd: another row's reference may have made the stub.
    The history arrives whole (every version's values), so it is set, not merged.
    """
    lines = "UNWIND $rows AS row\n"
    scope = "row"
    if table.node is not None:
        node = table.node
        lines += (
            f"MERGE (n:{node.label} {{{node.key}: row.key}})\n"
            "SET n += row.props, n._lsn = row.lsn\n"
        )
        for prop in node.history:
            lines += f"SET n.{prop} = row.history.{prop}\n"
        if table.links:
            lines += "WITH n, row\n"
        scope = "n, row"
    for index, link in enumerate(table.links):
        lines += f"CALL ({scope}) {{\n{_indent(_load_link(index, link))}}}\n"
    return lines.rstrip("\n")


# A loaded row whose newest change is a delete leaves only its marker (as `_delete`
# does on a graph without the row); so does an older delete of a row inserted again.
LOAD_DELETED = Statement(
    "deleted.load",
    f"UNWIND $rows AS row\nCREATE (:{DELETED_LABEL} {{id: row.tomb, lsn: row.lsn}})",
)


def build_load_statements(mapping: GraphMapping) -> dict[str, Statement]:
    """Per table, the statement loading rows into a graph holding none of them (a bulk
    backfill into an empty database): a fraction of the guarded statements' work."""
    return {name: Statement(f"{name}.load", _load(table)) for name, table in mapping.tables.items()}


def build_statements(mapping: GraphMapping) -> dict[str, TableStatements]:
    return {
        name: TableStatements(
            upsert=Statement(f"{name}.upsert", _upsert(table)),
            delete=Statement(f"{name}.delete", _delete(table)),
            truncate=_truncate(name, table),
        )
        for name, table in mapping.tables.items()
    }


def schema_statements(mapping: GraphMapping) -> list[str]:
    """Uniqueness constraints for every node key and indexes for keyed relationships."""
    keys: set[tuple[str, str]] = {(DELETED_LABEL, "id"), (TRUNCATED_LABEL, "table")}
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

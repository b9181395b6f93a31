"""graph/fraudgraph.grass: the style an analyst loads in Neo4j Browser (`:style`).

Without it the Browser captions each node with a property it picks itself (a
customer's country, a device's `_lsn`), so unrelated nodes read alike. The file is
read here the way the Browser reads it, and every caption must name properties the
mapping actually writes on that label or type.
"""

from __future__ import annotations

import re

import pytest

from fraudgraph.graph.cypher import DELETED_LABEL
from fraudgraph.graph.mapping import default_mapping
from fraudgraph.paths import GRAPH_STYLE_GRASS, SAVED_QUERIES_CYPHER

Rules = dict[str, dict[str, str]]
# The deletion marker is written by graph/cypher.py, not by the mapping.
MARKER_PROPERTIES = frozenset({"id", "lsn"})
CAPTION_PROPERTY = re.compile(r"\{([^{}]*)\}")


def parse_grass(text: str) -> Rules:
    """Neo4j Browser 5's `parseGrass` (what `:style <text>` and a dropped file go
    through), step for step: quotes are dropped and protect braces; whitespace outside
    a rule is dropped; a declaration is kept only if it splits on ':' into exactly two.
    So a comment or a ':' in a caption would silently break the style in the Browser,
    and here it breaks a test instead."""
    parsed: Rules = {}
    for selector, body in _rule_bodies(text).items():
        parsed[selector] = {}
        for declaration in body.split(";"):
            parts = declaration.split(":")
            if len(parts) == 2:
                parsed[selector][parts[0].strip()] = parts[1].strip()
    return parsed


def _rule_bodies(text: str) -> dict[str, str]:
    rules: dict[str, str] = {}
    quoted = in_rule = nested = False
    selector = body = ""
    for char in text:
        if char in "'\"":
            quoted = not quoted
        elif char == "{" and not quoted:
            nested, in_rule = in_rule, True
        elif char == "}" and not quoted:
            if nested:
                nested = False
            else:
                in_rule = False
                rules[selector] = body
                selector = body = ""
        elif in_rule:
            body += char
        elif not char.isspace():
            selector += char
    return rules


@pytest.fixture(scope="module")
def style() -> Rules:
    return parse_grass(GRAPH_STYLE_GRASS.read_text())


def _styled(style: Rules, kind: str) -> dict[str, dict[str, str]]:
    prefix = f"{kind}."
    return {n.removeprefix(prefix): p for n, p in style.items() if n.startswith(prefix)}


def test_the_browser_reads_every_rule(style: Rules) -> None:
    # A comment or stray text outside a rule would become part of a selector.
    assert all(re.fullmatch(r"(node|relationship)(\.[A-Za-z_][A-Za-z0-9_]*)?", s) for s in style)
    # `:style` replaces the whole style: without base rules nodes lose their size.
    assert {"diameter", "font-size"} <= set(style["node"])
    assert {"shaft-width", "font-size"} <= set(style["relationship"])


def test_every_label_has_a_caption_of_its_own_properties_and_a_colour(style: Rules) -> None:
    known = default_mapping().node_properties() | {DELETED_LABEL: MARKER_PROPERTIES}
    nodes = _styled(style, "node")
    assert set(default_mapping().node_properties()) <= set(nodes)
    assert set(nodes) <= set(known), "a style for a label the graph never has"
    for label, props in nodes.items():
        assert "caption" in props, label
        assert "color" in props, label
        named = set(CAPTION_PROPERTY.findall(props["caption"]))
        assert named <= known[label], f"{label} caption names {named - known[label]}"
    # The caption is what tells nodes apart: never a hash, an LSN or a time.
    for label, props in nodes.items():
        for name in CAPTION_PROPERTY.findall(props["caption"]):
            assert not name.startswith("_") and not name.endswith(("hash", "_at")), label


def test_labels_have_colours_of_their_own(style: Rules) -> None:
    colours = [p["color"].upper() for p in _styled(style, "node").values()]
    assert len(colours) == len(set(colours))


def test_identity_nodes_read_as_their_kind_not_their_hash(style: Rules) -> None:
    for label in ("Email", "Phone", "NationalId", "Address", "ExternalAccount"):
        caption = style[f"node.{label}"]["caption"]
        assert caption and not CAPTION_PROPERTY.search(caption), label


def test_entities_read_as_the_ids_alerts_name(style: Rules) -> None:
    captions = {n: p["caption"] for n, p in _styled(style, "node").items()}
    assert captions["Customer"] == "{customer_id}"
    assert captions["Account"] == "{account_id}"
    assert captions["Card"] == "{card_id}"
    assert captions["Device"] == "{device_id}"
    assert captions["IP"] == "{address}"
    assert captions["Merchant"] == "{name}"
    assert {"txn_id", "amount"} <= set(CAPTION_PROPERTY.findall(captions["Transaction"]))


def test_every_relationship_type_has_a_caption_of_its_own_properties(style: Rules) -> None:
    known = default_mapping().relationship_properties()
    styled = _styled(style, "relationship")
    assert set(styled) == set(known)
    for rel, props in styled.items():
        assert "caption" in props, rel
        named = set(CAPTION_PROPERTY.findall(props["caption"]))
        assert named <= known[rel], f"{rel} caption names {named - known[rel]}"
    # Money edges show how much moved.
    for rel in ("TRANSFERRED", "PAID"):
        assert styled[rel]["caption"] == "{amount}"


def test_the_saved_queries_say_where_the_style_is() -> None:
    assert GRAPH_STYLE_GRASS.name in SAVED_QUERIES_CYPHER.read_text()

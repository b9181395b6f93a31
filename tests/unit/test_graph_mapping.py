"""Loading and validating the table -> graph mapping file."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from fraudgraph.contract import BANK_TABLES
from fraudgraph.errors import ConfigError
from fraudgraph.graph.mapping import MAPPING_FILE, NodeRef, default_mapping, load_mapping

MINIMAL: dict[str, Any] = {
    "tables": {
        "customers": {
            "key": "customer_id",
            "columns": {"customer_id": "bigint", "email": "text", "country": "text"},
            "node": {"label": "Customer", "key": "customer_id", "properties": ["country"]},
            "links": [
                {
                    "type": "HAS_EMAIL",
                    "from": "self",
                    "to": {"label": "Email", "hash": ["email"], "normalise": "email"},
                }
            ],
        },
        "logins": {
            "key": "login_id",
            "columns": {"login_id": "bigint", "customer_id": "bigint", "ok": "bool"},
            "links": [
                {
                    "type": "LOGGED_IN",
                    "key": "login_id",
                    "from": {"label": "Customer", "key": "customer_id", "column": "customer_id"},
                    "to": {"label": "Customer", "key": "customer_id", "column": "customer_id"},
                    "properties": {"success": "ok"},
                }
            ],
        },
    }
}


def write(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "mapping.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    return path


def minimal() -> dict[str, Any]:
    return copy.deepcopy(MINIMAL)


def load_error(tmp_path: Path, document: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        load_mapping(write(tmp_path, document))
    return str(caught.value)


def test_the_minimal_mapping_is_valid(tmp_path: Path) -> None:
    mapping = load_mapping(write(tmp_path, minimal()))
    customers = mapping.table("customers")
    assert customers is not None
    assert customers.node is not None
    assert customers.node.label == "Customer"
    to = customers.links[0].to
    assert isinstance(to, NodeRef)
    assert to.key == "hash"  # identity nodes are keyed by their hash
    assert mapping.table("nope") is None


def test_the_shipped_mapping_loads() -> None:
    mapping = load_mapping(MAPPING_FILE)
    assert tuple(mapping.tables) == BANK_TABLES  # every contract table, nothing else
    assert default_mapping() == mapping


def test_the_shipped_mapping_keeps_names_and_birth_dates_out_of_the_graph() -> None:
    customers = default_mapping().tables["customers"]
    assert customers.node is not None
    used = set(customers.node.properties) | set(customers.node.hashed.values())
    assert {"full_name", "date_of_birth", "email", "phone", "national_id"}.isdisjoint(used)
    reports = default_mapping().tables["fraud_reports"]
    assert reports.node is not None
    assert "note" not in reports.node.properties


@pytest.mark.parametrize(
    ("edit", "column"),
    [
        (lambda d: d["tables"]["customers"]["node"]["properties"].append("city"), "city"),
        (lambda d: d["tables"]["customers"]["node"].update(hashed={"x_hash": "iban"}), "iban"),
        (lambda d: d["tables"]["customers"].update(key="id"), "id"),
        (
            lambda d: d["tables"]["customers"]["links"][0]["to"].update(hash=["email", "phone"]),
            "phone",
        ),
        (
            lambda d: d["tables"]["logins"]["links"][0]["from"].update(column="account_id"),
            "account_id",
        ),
        (
            lambda d: d["tables"]["logins"]["links"][0]["properties"].update(at="occurred_at"),
            "occurred_at",
        ),
    ],
    ids=["property", "hashed", "table_key", "hash_ref", "column_ref", "link_property"],
)
def test_an_unknown_column_is_a_config_error(tmp_path: Path, edit: Any, column: str) -> None:
    document = minimal()
    edit(document)
    message = load_error(tmp_path, document)
    assert "invalid graph mapping" in message
    assert "unknown columns" in message
    assert repr(column) in message
    assert str(tmp_path / "mapping.yaml") in message


INJECTION = "Customer) DETACH DELETE n //"


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["tables"]["customers"]["node"].update(label=INJECTION),
        lambda d: d["tables"]["customers"]["node"].update(key="customer_id}) //"),
        lambda d: d["tables"]["customers"]["links"][0].update(type="X]->() DELETE n //"),
        lambda d: d["tables"]["customers"]["links"][0]["to"].update(label=INJECTION),
        lambda d: d["tables"]["customers"]["links"][0]["to"].update(key="hash`"),
        lambda d: d["tables"]["customers"]["node"].update(label="Customer\n"),
        lambda d: d["tables"]["customers"]["node"].update(label="1Customer"),
        lambda d: d["tables"]["customers"]["node"].update(label="C" * 65),
        lambda d: d["tables"]["customers"]["node"].update(label="Kundé"),
        lambda d: d["tables"]["customers"]["node"].update(label=""),
        lambda d: d["tables"]["customers"]["node"]["properties"].append("country, n.x"),
        lambda d: d["tables"]["customers"]["columns"].update({"bad column": "text"}),
        lambda d: d["tables"]["logins"]["links"][0]["properties"].update({"a: 1}, r.b": "ok"}),
        lambda d: d["tables"].update({"drop table": d["tables"]["logins"]}),
    ],
    ids=[
        "node_label",
        "node_key",
        "link_type",
        "ref_label",
        "ref_key",
        "trailing_newline",
        "leading_digit",
        "too_long",
        "non_ascii",
        "empty",
        "property",
        "column_name",
        "link_property_name",
        "table_name",
    ],
)
def test_a_bad_identifier_is_a_config_error(tmp_path: Path, edit: Any) -> None:
    document = minimal()
    edit(document)
    message = load_error(tmp_path, document)
    assert "invalid graph mapping" in message
    assert "pattern" in message


def test_a_label_of_64_characters_is_accepted(tmp_path: Path) -> None:
    document = minimal()
    document["tables"]["customers"]["node"]["label"] = "C" * 64
    load_mapping(write(tmp_path, document))


def test_self_on_a_table_without_a_node_is_a_config_error(tmp_path: Path) -> None:
    document = minimal()
    document["tables"]["logins"]["links"][0]["to"] = "self"
    message = load_error(tmp_path, document)
    assert "logins: link LOGGED_IN uses 'self' but has no node" in message


def test_a_reference_with_both_column_and_hash_is_a_config_error(tmp_path: Path) -> None:
    document = minimal()
    document["tables"]["customers"]["links"][0]["to"]["column"] = "email"
    assert "exactly one of 'column' or 'hash'" in load_error(tmp_path, document)


def test_a_reference_with_neither_column_nor_hash_is_a_config_error(tmp_path: Path) -> None:
    document = minimal()
    del document["tables"]["customers"]["links"][0]["to"]["hash"]
    assert "exactly one of 'column' or 'hash'" in load_error(tmp_path, document)


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["tables"]["customers"]["node"].update(propertes=["country"]),
        lambda d: d["tables"]["customers"].update(extra=1),
        lambda d: d["tables"]["customers"]["columns"].update(email="varchar"),
        lambda d: d["tables"]["customers"]["links"][0]["to"].update(normalise="soundex"),
        lambda d: d["tables"]["customers"]["links"][0].update({"from": "other"}),
        lambda d: d.update(version=2),
    ],
    ids=["typo", "extra_table_field", "column_type", "normaliser", "from_word", "top_level"],
)
def test_unknown_fields_and_values_are_config_errors(tmp_path: Path, edit: Any) -> None:
    document = minimal()
    edit(document)
    assert "invalid graph mapping" in load_error(tmp_path, document)


@pytest.mark.parametrize("text", ["", "tables: [1, 2]\n", "- a\n- b\n", "just text\n"])
def test_a_document_of_the_wrong_shape_is_a_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "mapping.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="invalid graph mapping"):
        load_mapping(path)


def test_invalid_yaml_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "mapping.yaml"
    path.write_text("tables: {customers: [\n")
    with pytest.raises(ConfigError, match="cannot read graph mapping"):
        load_mapping(path)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read graph mapping"):
        load_mapping(tmp_path / "absent.yaml")


def test_an_empty_hash_reference_is_a_config_error(tmp_path: Path) -> None:
    document = minimal()
    document["tables"]["customers"]["links"][0]["to"]["hash"] = []
    load_error(tmp_path, document)

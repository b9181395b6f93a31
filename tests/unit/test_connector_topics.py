"""The topics `connectors apply` creates, read from a connector file as Connect would."""

from __future__ import annotations

from dataclasses import replace

import pytest

from fraudgraph.connectors.definitions import ConnectorDefinition, load_definitions
from fraudgraph.connectors.errors import ConnectorDefinitionError
from fraudgraph.connectors.topics import topic_plan
from fraudgraph.contract import BANK_TABLES
from fraudgraph.graph.mapping import default_mapping
from fraudgraph.settings import Settings
from fraudgraph.stream.topics import cdc_topics

ENVIRON = {"FRAUDGRAPH_CDC_PARTITIONS": "3"}


def _bank(**config: str) -> ConnectorDefinition:
    (bank,) = load_definitions()
    return replace(bank, config={**bank.config, **config})


def test_the_bank_connector_plans_one_topic_per_captured_table() -> None:
    plan = topic_plan(_bank(), ENVIRON)
    assert plan.names == tuple(f"bank.bank.{table}" for table in BANK_TABLES)
    assert (plan.partitions, plan.replication_factor) == (3, 1)
    # Full history kept for replays and backfills, as Connect would create them.
    assert plan.config == {"cleanup.policy": "delete", "retention.ms": "-1"}


def test_the_planned_topics_are_the_ones_the_worker_reads() -> None:
    settings = Settings(topic_prefix="bank", source_schema="bank")
    assert set(topic_plan(_bank(), ENVIRON).names) == set(cdc_topics(settings, default_mapping()))


def test_env_references_resolve_like_connect_does() -> None:
    plan = topic_plan(_bank(**{"topic.prefix": "${env:PREFIX}"}), {**ENVIRON, "PREFIX": "run7"})
    assert plan.names[0] == "run7.bank.customers"
    assert topic_plan(_bank(), {"FRAUDGRAPH_CDC_PARTITIONS": "6"}).partitions == 6


def test_the_client_settings_know_the_partitions_connect_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FRAUDGRAPH_CDC_PARTITIONS", raising=False)
    assert topic_plan(_bank(), Settings().as_environment()).partitions == 3
    monkeypatch.setenv("FRAUDGRAPH_CDC_PARTITIONS", "5")
    assert topic_plan(_bank(), Settings().as_environment()).partitions == 5


def test_a_missing_variable_is_named() -> None:
    with pytest.raises(ConnectorDefinitionError, match=r"\$\{env:FRAUDGRAPH_CDC_PARTITIONS\}"):
        topic_plan(_bank(), {})


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"topic.creation.default.partitions": ""}, "positive number or -1"),
        ({"topic.creation.default.partitions": "0"}, "positive number or -1"),
        ({"table.include.list": "bank.customers,bank.acc.*"}, r"patterns \(bank.acc.\*\)"),
        ({"table.include.list": ""}, "must name the captured tables"),
        ({"topic.creation.groups": "compacted"}, "topic.creation.groups"),
        ({"topic.delimiter": "_"}, "would rename the topics"),
        ({"topic.prefix": "${file:/etc/secrets:prefix}"}, "other than env"),
    ],
)
def test_what_cannot_be_planned_is_refused(config: dict[str, str], message: str) -> None:
    with pytest.raises(ConnectorDefinitionError, match=message):
        topic_plan(_bank(**config), ENVIRON)


def test_without_topic_creation_settings_nothing_would_create_the_topics() -> None:
    bank = _bank()
    config = {k: v for k, v in bank.config.items() if not k.startswith("topic.creation.")}
    with pytest.raises(ConnectorDefinitionError, match=r"topic\.creation\.default\.partitions"):
        topic_plan(replace(bank, config=config), ENVIRON)


def test_the_brokers_default_partitions_pass_through() -> None:
    plan = topic_plan(_bank(**{"topic.creation.default.partitions": "-1"}), ENVIRON)
    assert plan.partitions == -1

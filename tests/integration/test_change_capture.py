"""Change capture on the real stack: every contract table's inserts, updates, deletes
and tombstones arrive on Kafka; rows that existed first arrive as a snapshot (op r)."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from fraudgraph.connectors.apply import apply_connector
from fraudgraph.connectors.definitions import ConnectorDefinition, load_definitions
from fraudgraph.connectors.rest import ConnectClient
from fraudgraph.settings import Settings
from fraudgraph.stack.manager import Stack
from tests.support import Record, collect, end_offsets, temporary_connector

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class TableCase:
    table: str
    key: str
    insert: str  # SQL with %(id)s and the parent ids
    update: str
    changed_column: str
    changed_value: Any


def _cases() -> list[TableCase]:
    return [
        TableCase(
            "customers",
            "customer_id",
            "INSERT INTO bank.customers (customer_id, full_name, email, country)"
            " VALUES (%(id)s, 'Test Person', 'test@example.org', 'GB')",
            "UPDATE bank.customers SET email = 'changed@example.org' WHERE customer_id = %(id)s",
            "email",
            "changed@example.org",
        ),
        TableCase(
            "accounts",
            "account_id",
            "INSERT INTO bank.accounts (account_id, customer_id, iban, kind, currency)"
            " VALUES (%(id)s, %(customer)s, 'GB00TEST' || %(id)s, 'checking', 'GBP')",
            "UPDATE bank.accounts SET status = 'frozen' WHERE account_id = %(id)s",
            "status",
            "frozen",
        ),
        TableCase(
            "cards",
            "card_id",
            "INSERT INTO bank.cards (card_id, account_id, pan_token, last4)"
            " VALUES (%(id)s, %(account)s, 'tok_' || %(id)s, '4242')",
            "UPDATE bank.cards SET status = 'blocked' WHERE card_id = %(id)s",
            "status",
            "blocked",
        ),
        TableCase(
            "devices",
            "device_id",
            "INSERT INTO bank.devices (device_id, fingerprint, platform)"
            " VALUES (%(id)s, 'fp_' || %(id)s, 'ios')",
            "UPDATE bank.devices SET platform = 'android' WHERE device_id = %(id)s",
            "platform",
            "android",
        ),
        TableCase(
            "merchants",
            "merchant_id",
            "INSERT INTO bank.merchants (merchant_id, name, mcc, country)"
            " VALUES (%(id)s, 'Test Shop', '5411', 'GB')",
            "UPDATE bank.merchants SET name = 'Renamed Shop' WHERE merchant_id = %(id)s",
            "name",
            "Renamed Shop",
        ),
        TableCase(
            "logins",
            "login_id",
            "INSERT INTO bank.logins (login_id, customer_id, device_id, ip_address, success)"
            " VALUES (%(id)s, %(customer)s, %(device)s, '203.0.113.7', true)",
            "UPDATE bank.logins SET success = false WHERE login_id = %(id)s",
            "success",
            False,
        ),
        TableCase(
            "transactions",
            "txn_id",
            "INSERT INTO bank.transactions (txn_id, account_id, merchant_id, card_id, channel,"
            " amount, currency, latitude, longitude)"
            " VALUES (%(id)s, %(account)s, %(merchant)s, %(card)s, 'card_present', 1234.50,"
            " 'GBP', 51.5, -0.12)",
            "UPDATE bank.transactions SET status = 'reversed' WHERE txn_id = %(id)s",
            "status",
            "reversed",
        ),
        TableCase(
            "fraud_reports",
            "report_id",
            "INSERT INTO bank.fraud_reports (report_id, kind, customer_id, note)"
            " VALUES (%(id)s, 'confirmed_fraud', %(customer)s, 'test')",
            "UPDATE bank.fraud_reports SET kind = 'false_positive' WHERE report_id = %(id)s",
            "kind",
            "false_positive",
        ),
    ]


CASES = _cases()
PARENTS = {
    "customers": "customer",
    "accounts": "account",
    "cards": "card",
    "devices": "device",
    "merchants": "merchant",
}


@pytest.fixture(scope="module")
def bank_connector(settings: Settings) -> ConnectorDefinition:
    (definition,) = load_definitions()
    apply_connector(ConnectClient(settings.connect_url), definition)
    return definition


def _write_all(dsn: str, ids: dict[str, int]) -> None:
    """Insert every table in FK order, update each, then delete in reverse order."""
    params = {**{PARENTS[c.table]: ids[c.table] for c in CASES if c.table in PARENTS}}
    with psycopg.connect(dsn, autocommit=True) as connection:
        for case in CASES:
            connection.execute(case.insert, {**params, "id": ids[case.table]})
        for case in CASES:
            connection.execute(case.update, {"id": ids[case.table]})
        for case in reversed(CASES):
            connection.execute(
                f"DELETE FROM bank.{case.table} WHERE {case.key} = %(id)s",  # noqa: S608 - fixed names
                {"id": ids[case.table]},
            )


def _events_for(records: list[Record], key: str, row_id: int) -> list[Record]:
    return [r for r in records if r.key and r.key.get(key) == row_id]


def _only_event(
    settings: Settings,
    topic: str,
    key: str,
    row_id: int,
    start: dict[tuple[str, int], int] | None = None,
) -> Record:
    """The one change event of a row inserted once, read from `topic` within a deadline."""
    records = collect(
        settings.kafka_bootstrap,
        topic,
        lambda seen: bool(_events_for(seen, key, row_id)),
        timeout=90,
        start=start,
    )
    (event,) = _events_for(records, key, row_id)
    return event


def test_every_table_streams_inserts_updates_deletes_and_tombstones(
    settings: Settings, bank_connector: ConnectorDefinition
) -> None:
    base = random.randint(10**12, 2 * 10**12)
    ids = {case.table: base + index for index, case in enumerate(CASES)}
    topics = [f"{settings.topic_prefix}.bank.{case.table}" for case in CASES]
    before = end_offsets(settings.kafka_bootstrap, topics)
    _write_all(settings.pg_dsn.get_secret_value(), ids)

    for case in CASES:
        topic = f"{settings.topic_prefix}.bank.{case.table}"
        row_id = ids[case.table]
        records = collect(
            settings.kafka_bootstrap,
            topic,
            lambda seen, k=case.key, i=row_id: len(_events_for(seen, k, i)) >= 4,
            timeout=90,
            start=before,
        )
        events = _events_for(records, case.key, row_id)
        ops = [e.value["op"] if e.value else "tombstone" for e in events]
        assert ops == ["c", "u", "d", "tombstone"], (case.table, ops)
        created, updated, deleted, _ = events
        assert created.value["before"] is None
        assert created.value["after"][case.key] == row_id
        assert updated.value["after"][case.changed_column] == case.changed_value
        assert deleted.value["after"] is None
        assert deleted.value["before"][case.key] == row_id
        source = created.value["source"]
        assert (source["schema"], source["table"]) == ("bank", case.table)
        assert int(source["lsn"]) < int(updated.value["source"]["lsn"])
        # Every event of one row lands on one partition: per-key order holds.
        assert len({e.partition for e in events}) == 1


def test_numeric_and_time_types_arrive_exactly(
    settings: Settings, bank_connector: ConnectorDefinition
) -> None:
    base = random.randint(3 * 10**12, 4 * 10**12)
    customers = f"{settings.topic_prefix}.bank.customers"
    transactions = f"{settings.topic_prefix}.bank.transactions"
    before = end_offsets(settings.kafka_bootstrap, [customers, transactions])
    with psycopg.connect(settings.pg_dsn.get_secret_value(), autocommit=True) as connection:
        connection.execute(
            "INSERT INTO bank.customers (customer_id, full_name, country, date_of_birth,"
            " created_at) VALUES (%s, 'T', 'DE', '1990-02-03', '2026-10-01 12:34:56.789012+02')",
            (base,),
        )
        connection.execute(
            "INSERT INTO bank.accounts (account_id, customer_id, iban, kind, currency)"
            " VALUES (%s, %s, %s, 'savings', 'EUR')",
            (base, base, f"DE{base}"),
        )
        connection.execute(
            "INSERT INTO bank.transactions (txn_id, account_id, counterparty_iban, channel, amount,"
            " currency) VALUES (%s, %s, 'NL00X', 'transfer', 9999.99, 'EUR')",
            (base, base),
        )
    customer = _only_event(settings, customers, "customer_id", base, before)
    txn = _only_event(settings, transactions, "txn_id", base, before)
    assert customer.value["after"]["created_at"] == "2026-10-01T10:34:56.789012Z"
    assert customer.value["after"]["date_of_birth"] == 7338  # days since 1970-01-01
    assert txn.value["after"]["amount"] == "9999.99"  # decimal.handling.mode=string: exact


def test_rows_present_before_capture_arrive_as_snapshot_reads(
    settings: Settings, bank_connector: ConnectorDefinition, stack: Stack
) -> None:
    row_id = random.randint(5 * 10**12, 6 * 10**12)
    with psycopg.connect(settings.pg_dsn.get_secret_value(), autocommit=True) as connection:
        connection.execute(
            "INSERT INTO bank.merchants (merchant_id, name, mcc, country)"
            " VALUES (%s, 'S', '5999', 'FR')",
            (row_id,),
        )
    # A connector created after the insert must read the row in its snapshot.
    prefix = f"snap{uuid.uuid4().hex[:8]}"
    with temporary_connector(settings, stack, prefix):
        event = _only_event(settings, f"{prefix}.bank.merchants", "merchant_id", row_id)
    assert event.value["op"] == "r"
    assert event.value["source"]["snapshot"] != "false"
    assert event.value["after"]["country"] == "FR"

"""Hostile input: rows written to the source tables and records put straight on the topics.

Source rows are valid for PostgreSQL but shaped to hurt what comes after it
(Cypher-shaped and log-injection strings, unusual Unicode, huge strings, NULLs in
every nullable column): they must reach the graph unchanged and raise no dead
letter. Topic records are what no connector would write (malformed JSON, an
unknown table, wrong types, a NULL or Cypher-shaped key, a lone surrogate): each
must be dead-lettered with its reason while the stream goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import psycopg

CYPHER = "'}) DETACH DELETE n //"
CYPHER_2 = '"}) MATCH (x) DETACH DELETE x RETURN 1 //'
# A line that would pass for a log record of its own if logs were not escaped.
LOG_INJECTION = 'ok\n{"level":"critical","event":"FAKE-LOG-ENTRY"}\r\n\x1b[2J\x1b[31mred\x1b[0m'
# Bidi override, mathematical letters, a ligature, a combining accent, zero-width
# characters and a joined emoji (PostgreSQL text cannot hold NUL, so none here).
UNICODE = (
    "\u202eevil\u202c \U0001d518\U0001d52b\U0001d526 \ufdfd e\u0301 \u200b\u200d "
    "\U0001f469\u200d\U0001f469\u200d\U0001f467"
)
HUGE = "x" * 200_000  # under Kafka's 1 MB record limit once wrapped in a change event
# Ids far above anything the simulator allocates.
BASE_ID = 9_000_000_000_000_000


@dataclass(frozen=True)
class TopicPoison:
    table: str  # which CDC topic it is put on
    key: bytes | None
    value: bytes
    reason: str  # the dead-letter reason the worker must give


@dataclass(frozen=True)
class SourcePoison:
    merchants: dict[int, str]  # merchant_id -> the hostile name that must reach the graph
    devices: list[int]  # device ids with NULL platform and user agent
    customers: list[int]  # customers with every nullable column NULL
    transactions: list[int]  # cash withdrawals with every nullable column NULL


def _envelope(table: str, after: Any, *, lsn: int = 1) -> dict[str, Any]:
    return {
        "before": None,
        "after": after,
        "source": {"table": table, "schema": "bank", "lsn": lsn, "ts_ms": 0},
        "op": "c",
    }


def topic_poison() -> list[TopicPoison]:
    def dump(value: Any) -> bytes:
        return orjson.dumps(value)

    return [
        TopicPoison(
            "transactions", b'{"txn_id": 1}', b'{"before": null, "after": {"txn_', "malformed_json"
        ),
        TopicPoison("transactions", b'{"txn_id": 2}', b"\xff\xfe not utf-8", "malformed_json"),
        # orjson refuses a lone surrogate: JSON-shaped, yet not text.
        TopicPoison(
            "merchants", b'{"merchant_id": 3}', b'{"after": {"name": "\\ud800"}}', "malformed_json"
        ),
        TopicPoison("transactions", b"[]", dump([1, 2, 3]), "not_an_envelope"),
        TopicPoison(
            "transactions",
            None,
            dump({**_envelope("transactions", {}), "op": "x"}),
            "not_an_envelope",
        ),
        TopicPoison(
            "transactions",
            b'{"txn_id": 4}',
            dump(_envelope("nope", {"txn_id": 4})),
            "unknown_table",
        ),
        TopicPoison(
            "transactions",
            b'{"txn_id": 5}',
            dump(_envelope("transactions", {"txn_id": 5, "amount": {"nested": True}})),
            "type_drift",
        ),
        TopicPoison(
            "transactions",
            b'{"txn_id": null}',
            dump(_envelope("transactions", {"txn_id": None})),
            "missing_key",
        ),
        TopicPoison(
            "customers",
            b'{"customer_id": "x"}',
            dump(_envelope("customers", {"customer_id": CYPHER})),
            "type_drift",
        ),
        TopicPoison(
            "merchants",
            b'{"merchant_id": 6}',
            dump(_envelope("merchants", {"merchant_id": LOG_INJECTION, "name": LOG_INJECTION})),
            "type_drift",
        ),
    ]


def write_source_poison(dsn: str, run_number: int) -> SourcePoison:
    """Insert the hostile-but-valid rows in one transaction; ids unique per run."""
    base = BASE_ID + run_number * 1000
    names = [CYPHER, CYPHER_2, LOG_INJECTION, UNICODE, HUGE, "   "]
    merchants = {base + n: name for n, name in enumerate(names)}
    devices = [base + 100, base + 101]
    customers = [base + 200]
    transactions = [base + 300, base + 301]
    with psycopg.connect(dsn) as connection:
        for merchant_id, name in merchants.items():
            connection.execute(
                "INSERT INTO bank.merchants (merchant_id, name, mcc, country)"
                " VALUES (%s, %s, '5999', 'ZZ')",
                (merchant_id, name),
            )
        for n, device_id in enumerate(devices):
            connection.execute(
                "INSERT INTO bank.devices (device_id, fingerprint, platform, user_agent)"
                " VALUES (%s, %s, NULL, NULL)",
                (device_id, f"{CYPHER}{LOG_INJECTION}{n}{base}"),
            )
        for customer_id in customers:
            connection.execute(
                "INSERT INTO bank.customers (customer_id, full_name, country)"
                " VALUES (%s, %s, 'ZZ')",
                (customer_id, f"{CYPHER} {UNICODE}"),
            )
        row = connection.execute("SELECT min(account_id) FROM bank.accounts").fetchone()
        account = row[0] if row else None
        if account is None:
            raise ValueError("the bank has no account to pay from")
        for txn_id in transactions:
            connection.execute(
                "INSERT INTO bank.transactions (txn_id, account_id, channel, amount, currency)"
                " VALUES (%s, %s, 'atm', 0.01, 'EUR')",  # atm: no counterparty needed
                (txn_id, account),
            )
        connection.execute(
            "INSERT INTO bank.fraud_reports (report_id, kind, txn_id, note)"
            " VALUES (%s, 'chargeback', %s, %s)",
            (base + 400, transactions[0], f"{LOG_INJECTION} {CYPHER} {HUGE[:5000]}"),
        )
    return SourcePoison(merchants, devices, customers, transactions)

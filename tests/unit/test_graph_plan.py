"""Planning graph writes: newest change per row, parameter rows, no raw PII anywhere."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest

from fraudgraph.cdc.changes import Position, RowChange
from fraudgraph.cdc.decode import decode_record
from fraudgraph.graph.mapping import GraphMapping, default_mapping
from fraudgraph.graph.pii import PiiHasher
from fraudgraph.graph.plan import PlannedWrite, WritePlanner, latest_per_row

KEY = "unit-test-pii-key-0123456789"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

CUSTOMER: dict[str, Any] = {
    "customer_id": 42,
    "full_name": "Ada Lovelace",
    "email": " Ada.Lovelace@Example.COM ",
    "phone": "+44 (0)20-7946 0000",
    "national_id": "qq 12-34-56 c",
    "date_of_birth": 7338,
    "address_line": "12 Analytical Engine Way",
    "city": "London",
    "postal_code": "NW1 6XE",
    "country": "GB",
    "created_at": "2026-10-01T10:34:56.789012Z",
    "updated_at": "2026-10-01T10:35:00Z",
}
ACCOUNT: dict[str, Any] = {
    "account_id": 7,
    "customer_id": 42,
    "iban": "GB82 WEST 1234 5698 7654 32",
    "kind": "current",
    "status": "open",
    "currency": "GBP",
    "opened_at": "2026-10-01T10:34:56Z",
    "updated_at": "2026-10-01T10:34:57Z",
}
CARD: dict[str, Any] = {
    "card_id": 55,
    "account_id": 7,
    "pan_token": "tok_4111111111111111",
    "last4": "1111",
    "status": "active",
    "issued_at": "2026-10-01T10:34:56Z",
}
DEVICE: dict[str, Any] = {
    "device_id": 99,
    "fingerprint": "fp-3f9a7c2e-unique-device",
    "platform": "ios",
    "user_agent": "App/1.0",
    "first_seen_at": "2026-10-01T10:34:56Z",
}
TRANSACTION: dict[str, Any] = {
    "txn_id": 9001,
    "account_id": 7,
    "counterparty_account_id": None,
    "counterparty_iban": "DE89 3704 0044 0532 0130 00",
    "merchant_id": None,
    "card_id": None,
    "device_id": 99,
    "ip_address": "10.0.0.7/32",
    "channel": "online",
    "amount": "1234.50",
    "currency": "EUR",
    "latitude": 51.5074,
    "longitude": -0.1278,
    "status": "posted",
    "created_at": "2026-10-01T10:34:56.789012Z",
    "updated_at": "2026-10-01T10:34:56.789012Z",
}
LOGIN: dict[str, Any] = {
    "login_id": 5,
    "customer_id": 42,
    "device_id": 99,
    "ip_address": "2001:db8::1",
    "success": False,
    "occurred_at": "2026-10-01T10:34:56Z",
}
REPORT: dict[str, Any] = {
    "report_id": 3,
    "kind": "account_takeover",
    "customer_id": 42,
    "account_id": None,
    "txn_id": 9001,
    "note": "customer called from a withheld number about Ada",
    "reported_at": "2026-10-01T11:00:00Z",
}

# Raw values that must never reach the graph, in every spelling the source could have.
RAW_PII = [
    "Ada.Lovelace@Example.COM",
    "ada.lovelace@example.com",
    "+44 (0)20-7946 0000",
    "4402079460000",
    "qq 12-34-56 c",
    "QQ123456C",
    "12 Analytical Engine Way",
    "analytical engine",
    "NW1 6XE",
    "GB82 WEST",
    "GB82WEST12345698765432",
    "12345698765432",
    "DE89 3704",
    "DE89370400440532013000",
    "tok_4111111111111111",
    "4111111111111111",
    "fp-3f9a7c2e",
    "Ada Lovelace",
    "withheld number",
    "1990-02-03",
]


def ms(text: str) -> int:
    """Exact epoch milliseconds of an ISO timestamp, by integer arithmetic."""
    return (datetime.fromisoformat(text) - EPOCH) // timedelta(milliseconds=1)


def change(
    table: str,
    image: dict[str, Any],
    *,
    op: str = "c",
    lsn: int = 100,
    offset: int = 0,
) -> RowChange:
    document = {
        "before": image if op == "d" else None,
        "after": None if op == "d" else image,
        "source": {"table": table, "lsn": lsn, "ts_ms": 1},
        "op": op,
    }
    decoded = decode_record(
        orjson.dumps(document), Position(f"bank.public.{table}", 0, offset), default_mapping()
    )
    assert decoded is not None
    return decoded


@pytest.fixture(scope="module")
def hasher() -> PiiHasher:
    return PiiHasher(KEY)


@pytest.fixture(scope="module")
def planner(hasher: PiiHasher) -> WritePlanner:
    return WritePlanner(default_mapping(), hasher)


def only_write(writes: list[PlannedWrite]) -> PlannedWrite:
    assert len(writes) == 1
    return writes[0]


def only_row(writes: list[PlannedWrite]) -> dict[str, Any]:
    write = only_write(writes)
    assert len(write.rows) == 1
    return write.rows[0]


# --- latest_per_row ---------------------------------------------------------------------


def test_latest_per_row_keeps_the_highest_lsn_whatever_the_order() -> None:
    changes = [
        change("customers", {**CUSTOMER, "city": "Leeds"}, lsn=10, offset=1),
        change("customers", {**CUSTOMER, "city": "York"}, lsn=30, offset=2),
        change("customers", {**CUSTOMER, "city": "Bath"}, lsn=20, offset=3),
        change("customers", CUSTOMER, op="d", lsn=5, offset=4),
    ]
    for order in itertools.permutations(changes):
        (kept,) = latest_per_row(order)
        assert kept.lsn == 30
        assert kept.row is not None
        assert kept.row["city"] == "York"


def test_latest_per_row_a_newer_delete_wins_over_older_upserts() -> None:
    changes = [
        change("customers", CUSTOMER, op="d", lsn=40, offset=1),
        change("customers", CUSTOMER, lsn=39, offset=2),
    ]
    for order in itertools.permutations(changes):
        (kept,) = latest_per_row(order)
        assert kept.is_delete


def test_latest_per_row_ties_go_to_the_last_arrival() -> None:
    first = change("customers", {**CUSTOMER, "city": "Leeds"}, lsn=10, offset=1)
    second = change("customers", {**CUSTOMER, "city": "York"}, lsn=10, offset=2)
    assert latest_per_row([first, second]) == [second]
    assert latest_per_row([second, first]) == [first]


def test_latest_per_row_keeps_rows_of_different_tables_with_the_same_key_apart() -> None:
    customer = change("customers", {**CUSTOMER, "customer_id": 7}, lsn=1)
    account = change("accounts", {**ACCOUNT, "account_id": 7}, lsn=2)
    other = change("customers", {**CUSTOMER, "customer_id": 8}, lsn=3)
    assert latest_per_row([customer, account, other]) == [customer, account, other]


def test_latest_per_row_of_nothing_is_nothing() -> None:
    assert latest_per_row([]) == []


# --- rows per table ---------------------------------------------------------------------


def test_customer_upsert_row(planner: WritePlanner, hasher: PiiHasher) -> None:
    row = only_row(planner.plan([change("customers", CUSTOMER, lsn=77)]))
    assert set(row) == {"key", "lsn", "tomb", "props", "history", "t0", "t1", "t2", "t3"}
    assert row["history"] == {"change_times": [ms("2026-10-01T10:35:00Z")]}
    assert row["key"] == 42
    assert row["lsn"] == 77
    assert row["tomb"] == "customers:42"
    assert row["props"] == {
        "country": "GB",
        "city": "London",
        "created_at": ms("2026-10-01T10:34:56.789012Z"),
        "updated_at": ms("2026-10-01T10:35:00Z"),
    }
    assert row["props"]["created_at"] == 1790850896789
    assert type(row["props"]["created_at"]) is int
    assert row["t0"] == hasher.digest("email", ["ada.lovelace@example.com"])
    assert row["t1"] == hasher.digest("phone", ["4402079460000"])
    assert row["t2"] == hasher.digest("token", ["QQ123456C"])
    assert row["t3"] == hasher.digest("address", ["12 analytical engine way", "nw1 6xe", "gb"])
    assert None not in (row["t0"], row["t1"], row["t2"], row["t3"])


def test_older_changes_of_a_row_in_the_batch_keep_their_history_values(
    planner: WritePlanner,
) -> None:
    """Only the newest change is written, but a contact change it overwrote in the
    same batch is still known: its time joins the history, newest first."""
    first = change("customers", CUSTOMER, op="u", lsn=10)
    second = change("customers", {**CUSTOMER, "updated_at": "2026-10-01T10:41:00Z"}, lsn=11)
    again = change("customers", CUSTOMER, op="u", lsn=10, offset=2)  # a redelivery
    row = only_row(planner.plan([first, second, again]))
    assert row["lsn"] == 11
    assert row["props"]["updated_at"] == ms("2026-10-01T10:41:00Z")
    assert row["history"] == {
        "change_times": [ms("2026-10-01T10:41:00Z"), ms("2026-10-01T10:35:00Z")]
    }
    nothing = only_row(planner.plan([change("customers", {**CUSTOMER, "updated_at": None})]))
    assert nothing["history"] == {"change_times": []}


def test_customer_without_phone_has_a_null_phone_reference(planner: WritePlanner) -> None:
    row = only_row(planner.plan([change("customers", {**CUSTOMER, "phone": None})]))
    assert row["t1"] is None
    assert row["t0"] is not None


def test_account_upsert_row(planner: WritePlanner, hasher: PiiHasher) -> None:
    row = only_row(planner.plan([change("accounts", ACCOUNT, lsn=8)]))
    assert set(row) == {"key", "lsn", "tomb", "props", "f0"}
    assert row["tomb"] == "accounts:7"
    assert row["f0"] == 42  # OWNS comes from the customer
    assert row["props"] == {
        "kind": "current",
        "status": "open",
        "currency": "GBP",
        "opened_at": ms("2026-10-01T10:34:56Z"),
        "updated_at": ms("2026-10-01T10:34:57Z"),
        "iban_hash": hasher.digest("token", ["GB82WEST12345698765432"]),
    }


def test_card_and_device_rows_carry_hashes_not_secrets(
    planner: WritePlanner, hasher: PiiHasher
) -> None:
    writes = planner.plan([change("cards", CARD), change("devices", DEVICE)])
    card, device = (write.rows[0] for write in writes)
    assert card["props"]["pan_hash"] == hasher.digest("token", [CARD["pan_token"]])
    assert card["props"]["last4"] == "1111"
    assert card["f0"] == 7
    assert device["props"]["fingerprint_hash"] == hasher.digest("token", [DEVICE["fingerprint"]])
    assert "pan_token" not in card["props"]
    assert "fingerprint" not in device["props"]
    assert set(device) == {"key", "lsn", "tomb", "props"}  # no links


def test_transaction_to_an_external_iban(planner: WritePlanner, hasher: PiiHasher) -> None:
    row = only_row(planner.plan([change("transactions", TRANSACTION, lsn=500)]))
    at = ms("2026-10-01T10:34:56.789012Z")
    money = {"amount": 1234.5, "at": at, "status": "posted"}
    assert row == {
        "key": 9001,
        "lsn": 500,
        "tomb": "transactions:9001",
        "props": {
            "channel": "online",
            "amount": 1234.5,
            "currency": "EUR",
            "latitude": 51.5074,
            "longitude": -0.1278,
            "status": "posted",
            "created_at": at,
            "updated_at": at,
            "account_id": 7,
            "counterparty_account_id": None,
            "merchant_id": None,
            "card_id": None,
            "device_id": 99,
            "ip_address": "10.0.0.7",
            "counterparty_hash": hasher.digest("token", ["DE89370400440532013000"]),
        },
        "f0": 7,  # SENT from the account
        "t1": None,  # TO_ACCOUNT: no internal counterparty
        "t2": hasher.digest("token", ["DE89370400440532013000"]),  # TO_EXTERNAL
        "t3": None,  # AT_MERCHANT
        "t4": None,  # WITH_CARD
        "t5": 99,  # FROM_DEVICE
        "t6": "10.0.0.7",  # FROM_IP, normalised
        "f7": 7,  # TRANSFERRED: counterparty absent, so the edge is not drawn
        "t7": None,
        "p7": money,
        "f8": 7,  # PAID: no merchant either
        "t8": None,
        "p8": money,
    }
    assert type(row["props"]["amount"]) is float


def test_transaction_between_two_accounts(planner: WritePlanner) -> None:
    image = {**TRANSACTION, "counterparty_account_id": 8, "counterparty_iban": None}
    row = only_row(planner.plan([change("transactions", image)]))
    assert row["t1"] == 8
    assert row["t2"] is None
    assert (row["f7"], row["t7"]) == (7, 8)


def test_login_rows_have_keyed_links_and_no_node(planner: WritePlanner) -> None:
    row = only_row(planner.plan([change("logins", LOGIN, lsn=9)]))
    at = ms("2026-10-01T10:34:56Z")
    assert row == {
        "key": 5,
        "lsn": 9,
        "tomb": "logins:5",
        "f0": 42,
        "t0": 99,
        "p0": {"at": at, "success": False},
        "f1": 42,
        "t1": "2001:db8::1",
        "p1": {"at": at, "success": False},
    }


def test_fraud_report_row_leaves_the_note_out(planner: WritePlanner) -> None:
    row = only_row(planner.plan([change("fraud_reports", REPORT)]))
    assert row["props"] == {"kind": "account_takeover", "reported_at": ms("2026-10-01T11:00:00Z")}
    assert (row["t0"], row["t1"], row["t2"]) == (42, None, 9001)


def test_delete_rows_carry_only_identity(planner: WritePlanner) -> None:
    write = only_write(planner.plan([change("customers", {"customer_id": 42}, op="d", lsn=70)]))
    assert write.statement.name == "customers.delete"
    assert write.rows == [{"key": 42, "lsn": 70, "tomb": "customers:42"}]


# --- the plan as a whole ----------------------------------------------------------------


def all_tables_batch() -> list[RowChange]:
    return [
        change("customers", CUSTOMER, lsn=1, offset=1),
        change("accounts", ACCOUNT, lsn=2, offset=2),
        change("cards", CARD, lsn=3, offset=3),
        change("devices", DEVICE, lsn=4, offset=4),
        change("merchants", {"merchant_id": 1, "name": "Shop", "mcc": "5411", "country": "GB"}),
        change("logins", LOGIN, lsn=5, offset=5),
        change("transactions", TRANSACTION, lsn=6, offset=6),
        change("fraud_reports", REPORT, lsn=7, offset=7),
        change("customers", {**CUSTOMER, "customer_id": 43}, lsn=8, offset=8),
        change("accounts", {"account_id": 70}, op="d", lsn=9, offset=9),
        change("customers", {"customer_id": 44}, op="d", lsn=10, offset=10),
        change("customers", {"customer_id": 45}, op="d", lsn=11, offset=11),
    ]


def test_one_planned_write_per_table_and_kind_upserts_first(planner: WritePlanner) -> None:
    writes = planner.plan(all_tables_batch())
    names = [write.statement.name for write in writes]
    assert names == [
        "customers.upsert",
        "accounts.upsert",
        "cards.upsert",
        "devices.upsert",
        "merchants.upsert",
        "logins.upsert",
        "transactions.upsert",
        "fraud_reports.upsert",
        "accounts.delete",
        "customers.delete",
    ]
    by_name = {write.statement.name: write for write in writes}
    assert [row["key"] for row in by_name["customers.upsert"].rows] == [42, 43]
    assert [row["key"] for row in by_name["customers.delete"].rows] == [44, 45]
    for write in writes:
        assert write.statement is getattr(
            planner.statements[write.statement.name.split(".")[0]],
            write.statement.name.split(".")[1],
        )


def test_plan_drops_superseded_changes(planner: WritePlanner) -> None:
    writes = planner.plan(
        [
            change("customers", {**CUSTOMER, "city": "York"}, lsn=50),
            change("customers", {**CUSTOMER, "city": "Leeds"}, lsn=40),
            change("customers", {"customer_id": 42}, op="d", lsn=30),
        ]
    )
    row = only_row(writes)
    assert writes[0].statement.name == "customers.upsert"
    assert row["lsn"] == 50
    assert row["props"]["city"] == "York"


def test_plan_of_nothing_is_nothing(planner: WritePlanner) -> None:
    assert planner.plan([]) == []


def test_no_raw_pii_anywhere_in_the_planned_rows(planner: WritePlanner) -> None:
    text = str([write.rows for write in planner.plan(all_tables_batch())])
    lowered = text.casefold()
    for raw in RAW_PII:
        assert raw.casefold() not in lowered, raw


def test_planned_rows_contain_only_driver_friendly_types(planner: WritePlanner) -> None:
    def check(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                check(item)
        elif isinstance(value, list):  # a history property's values
            for item in value:
                check(item)
        else:
            assert value is None or type(value) in (int, float, str, bool), repr(value)

    for write in planner.plan(all_tables_batch()):
        for row in write.rows:
            check(row)


def test_a_date_property_becomes_an_iso_date(hasher: PiiHasher) -> None:
    mapping = GraphMapping.model_validate(
        {
            "tables": {
                "people": {
                    "key": "id",
                    "columns": {"id": "bigint", "born": "date"},
                    "node": {"label": "Person", "key": "id", "properties": ["born"]},
                }
            }
        }
    )
    person = RowChange(
        table="people",
        op="c",
        key={"id": 1},
        row={"id": 1, "born": date(1990, 2, 3)},
        lsn=1,
        committed_at_ms=0,
        position=Position("t", 0, 0),
    )
    row = only_row(WritePlanner(mapping, hasher).plan([person]))
    assert row["props"] == {"born": "1990-02-03"}


def test_a_time_with_another_offset_is_the_same_epoch_millisecond(planner: WritePlanner) -> None:
    zulu = change("devices", {**DEVICE, "first_seen_at": "2026-10-01T10:34:56.5Z"}, lsn=1)
    paris = change(
        "devices",
        {**DEVICE, "device_id": 100, "first_seen_at": "2026-10-01T12:34:56.5+02:00"},
        lsn=2,
    )
    first, second = only_write(planner.plan([zulu, paris])).rows
    assert first["props"]["first_seen_at"] == second["props"]["first_seen_at"] == 1790850896500


def test_epoch_milliseconds_are_exact(planner: WritePlanner) -> None:
    opened = "2004-04-08T08:29:00.159Z"
    row = only_row(planner.plan([change("accounts", {**ACCOUNT, "opened_at": opened})]))
    assert row["props"]["opened_at"] == ms(opened) == 1081412940159

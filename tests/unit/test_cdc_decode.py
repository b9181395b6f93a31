"""Debezium envelopes (JSON converter, schemas disabled) into RowChange or a DecodeError."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest

from fraudgraph.cdc.changes import Position, RowChange, TableTruncate
from fraudgraph.cdc.decode import decode_record
from fraudgraph.cdc.errors import DecodeError, Reason
from fraudgraph.graph.mapping import GraphMapping, default_mapping

POSITION = Position("bank.public.customers", 3, 1234)

CUSTOMER: dict[str, Any] = {
    "customer_id": 42,
    "full_name": "Ada Lovelace",
    "email": "ada@example.com",
    "phone": "+44 (0)20-7946 0000",
    "national_id": "AB1234",
    "date_of_birth": 7338,
    "address_line": "12 Engine Way",
    "city": "London",
    "postal_code": "NW1 6XE",
    "country": "GB",
    "created_at": "2026-10-01T10:34:56.789012Z",
    "updated_at": "2026-10-01T10:35:00Z",
}

TRANSACTION: dict[str, Any] = {
    "txn_id": 9001,
    "account_id": 7,
    "counterparty_account_id": None,
    "counterparty_iban": "DE89 3704 0044 0532 0130 00",
    "merchant_id": None,
    "card_id": 55,
    "device_id": 99,
    "ip_address": "2001:db8::1",
    "channel": "online",
    "amount": "1234.50",
    "currency": "EUR",
    "latitude": 51.5074,
    "longitude": -1,
    "status": "posted",
    "created_at": "2026-10-01T10:34:56.789012Z",
    "updated_at": "2026-10-01T10:34:56.789012Z",
}

LOGIN: dict[str, Any] = {
    "login_id": 5,
    "customer_id": 42,
    "device_id": 99,
    "ip_address": "10.0.0.7/32",
    "success": True,
    "occurred_at": "2026-10-01T10:34:56Z",
}


def envelope(
    table: str = "customers",
    op: str = "c",
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    lsn: Any = 123,
    ts_ms: Any = 1,
    **overrides: Any,
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "before": before,
        "after": after,
        "source": {"table": table, "lsn": lsn, "ts_ms": ts_ms, "schema": "public"},
        "op": op,
        "ts_ms": 2,
    }
    document.update(overrides)
    return document


def encode(document: Any) -> bytes:
    return orjson.dumps(document)


@pytest.fixture(scope="module")
def mapping() -> GraphMapping:
    return default_mapping()


def decode(
    value: bytes | None, mapping: GraphMapping, **kwargs: Any
) -> RowChange | TableTruncate | None:
    return decode_record(value, POSITION, mapping, **kwargs)


def decoded(value: bytes, mapping: GraphMapping) -> RowChange:
    change = decode(value, mapping)
    assert isinstance(change, RowChange)
    return change


def reason_of(value: bytes | None, mapping: GraphMapping) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        decode(value, mapping)
    return caught.value


# --- row ops ----------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["c", "r", "u"])
def test_row_ops_decode_the_after_image_with_every_column(op: str, mapping: GraphMapping) -> None:
    change = decoded(encode(envelope(op=op, after=CUSTOMER, lsn=555, ts_ms=1790850896789)), mapping)

    assert change.table == "customers"
    assert change.op == op
    assert change.key == {"customer_id": 42}
    assert change.lsn == 555
    assert change.committed_at_ms == 1790850896789
    assert change.position == POSITION
    assert change.trace_context is None
    assert not change.is_delete
    assert change.row == {
        "customer_id": 42,
        "full_name": "Ada Lovelace",
        "email": "ada@example.com",
        "phone": "+44 (0)20-7946 0000",
        "national_id": "AB1234",
        "date_of_birth": date(1990, 2, 3),
        "address_line": "12 Engine Way",
        "city": "London",
        "postal_code": "NW1 6XE",
        "country": "GB",
        "created_at": datetime(2026, 10, 1, 10, 34, 56, 789012, tzinfo=UTC),
        "updated_at": datetime(2026, 10, 1, 10, 35, tzinfo=UTC),
    }


def test_an_update_reads_after_not_before(mapping: GraphMapping) -> None:
    old = {**CUSTOMER, "city": "Leeds"}
    new = {**CUSTOMER, "city": "York"}
    change = decoded(encode(envelope(op="u", before=old, after=new)), mapping)
    assert change.row is not None
    assert change.row["city"] == "York"


def test_transaction_columns_decode_to_their_types(mapping: GraphMapping) -> None:
    change = decoded(encode(envelope("transactions", after=TRANSACTION)), mapping)
    row = change.row
    assert row is not None
    assert row["amount"] == Decimal("1234.50")
    assert str(row["amount"]) == "1234.50"
    assert row["latitude"] == 51.5074
    assert row["longitude"] == -1.0
    assert type(row["longitude"]) is float
    assert row["ip_address"] == "2001:db8::1"
    assert row["counterparty_account_id"] is None
    assert row["merchant_id"] is None
    assert row["counterparty_iban"] == "DE89 3704 0044 0532 0130 00"
    assert row["created_at"] == datetime(2026, 10, 1, 10, 34, 56, 789012, tzinfo=UTC)
    assert change.key == {"txn_id": 9001}


def test_an_exponent_float_is_a_float(mapping: GraphMapping) -> None:
    raw = encode(envelope("transactions", after=TRANSACTION)).replace(
        b'"latitude":51.5074', b'"latitude":1.0E10'
    )
    assert b"1.0E10" in raw
    row = decoded(raw, mapping).row
    assert row is not None
    assert row["latitude"] == 1.0e10


def test_login_columns_decode_bool_and_inet_with_prefix(mapping: GraphMapping) -> None:
    row = decoded(encode(envelope("logins", after=LOGIN)), mapping).row
    assert row is not None
    assert row["success"] is True
    assert row["ip_address"] == "10.0.0.7"


def test_unknown_extra_columns_are_ignored(mapping: GraphMapping) -> None:
    after = {**CUSTOMER, "loyalty_tier": "gold", "added_later": [1, 2]}
    row = decoded(encode(envelope(after=after)), mapping).row
    assert row is not None
    assert set(row) == set(CUSTOMER)


def test_a_null_column_decodes_to_none(mapping: GraphMapping) -> None:
    after = {**CUSTOMER, "phone": None, "date_of_birth": None}
    row = decoded(encode(envelope(after=after)), mapping).row
    assert row is not None
    assert row["phone"] is None
    assert row["date_of_birth"] is None


def test_unusual_unicode_in_text_columns_decodes_unchanged(mapping: GraphMapping) -> None:
    name = "Zoë Ñúñez 李小龍 e\u0301 \u202eevil\u202c a\u200bb \U0001f468\u200d\U0001f469 \ufeff"
    after = {**CUSTOMER, "full_name": name, "city": "Kraków", "address_line": "Ul. Łódzka 7"}
    row = decoded(encode(envelope(after=after)), mapping).row
    assert row is not None
    assert row["full_name"] == name
    assert row["city"] == "Kraków"
    assert row["address_line"] == "Ul. Łódzka 7"


def test_json_unicode_escapes_decode_to_the_characters(mapping: GraphMapping) -> None:
    raw = encode(envelope(after={**CUSTOMER, "city": "PLACEHOLDER"})).replace(
        b'"PLACEHOLDER"', b'"Krak\\u00f3w \\ud83e\\udd8a"'
    )
    row = decoded(raw, mapping).row
    assert row is not None
    assert row["city"] == "Kraków \U0001f98a"


def test_a_huge_text_value_decodes_whole(mapping: GraphMapping) -> None:
    huge = "ä" * 2_000_000
    row = decoded(encode(envelope(after={**CUSTOMER, "full_name": huge})), mapping).row
    assert row is not None
    assert row["full_name"] == huge


# --- deletes and tombstones -------------------------------------------------------------


def test_delete_uses_only_the_key_from_before(mapping: GraphMapping) -> None:
    # Without REPLICA IDENTITY FULL the other columns are placeholders, even ill-typed ones.
    before = {
        "customer_id": 42,
        "full_name": "",
        "email": None,
        "date_of_birth": 0,
        "created_at": 0,
        "country": 7,
    }
    change = decoded(encode(envelope(op="d", before=before, after=None, lsn=900)), mapping)
    assert change.op == "d"
    assert change.is_delete
    assert change.row is None
    assert change.key == {"customer_id": 42}
    assert change.lsn == 900


def test_delete_ignores_the_after_image(mapping: GraphMapping) -> None:
    document = envelope(op="d", before={"customer_id": 42}, after={"customer_id": "junk"})
    assert decoded(encode(document), mapping).key == {"customer_id": 42}


def test_delete_key_is_still_type_checked(mapping: GraphMapping) -> None:
    error = reason_of(encode(envelope(op="d", before={"customer_id": "42"})), mapping)
    assert error.reason is Reason.TYPE_DRIFT


def test_a_tombstone_decodes_to_none(mapping: GraphMapping) -> None:
    assert decode(None, mapping) is None


def test_trace_context_travels_with_the_change(mapping: GraphMapping) -> None:
    context = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    change = decode(encode(envelope(after=CUSTOMER)), mapping, trace_context=context)
    assert change is not None
    assert change.trace_context == context


# --- failures ---------------------------------------------------------------------------


def _without(document: dict[str, Any], *path: str) -> dict[str, Any]:
    target = document
    for step in path[:-1]:
        target = target[step]
    del target[path[-1]]
    return document


FAILURES: list[tuple[str, bytes, Reason]] = [
    ("malformed_json", b'{"op": "c", "after": {', Reason.MALFORMED_JSON),
    ("not_json_at_all", b"hello", Reason.MALFORMED_JSON),
    ("empty_bytes", b"", Reason.MALFORMED_JSON),
    ("invalid_utf8", b'{"op": "\xff\xfe"}', Reason.MALFORMED_JSON),
    ("lone_surrogate", b'{"op": "\\ud800"}', Reason.MALFORMED_JSON),
    ("json_array", b"[1, 2]", Reason.NOT_AN_ENVELOPE),
    ("json_string", b'"c"', Reason.NOT_AN_ENVELOPE),
    ("json_null", b"null", Reason.NOT_AN_ENVELOPE),
    ("json_number", b"42", Reason.NOT_AN_ENVELOPE),
    ("missing_op", encode(_without(envelope(after=CUSTOMER), "op")), Reason.NOT_AN_ENVELOPE),
    ("null_op", encode(envelope(op=None, after=CUSTOMER)), Reason.NOT_AN_ENVELOPE),  # type: ignore[arg-type]
    # A truncate is decoded (see the truncate tests below), but not one of a table
    # nobody mapped, nor one without the LSN its fence needs.
    ("truncate_unknown_table", encode(envelope("payroll", op="t")), Reason.UNKNOWN_TABLE),
    ("truncate_without_lsn", encode(envelope(op="t", lsn=None)), Reason.NOT_AN_ENVELOPE),
    ("truncate_string_lsn", encode(envelope(op="t", lsn="0/1A")), Reason.NOT_AN_ENVELOPE),
    ("message", encode(envelope(op="m", after=CUSTOMER)), Reason.NOT_AN_ENVELOPE),
    ("upper_case_op", encode(envelope(op="C", after=CUSTOMER)), Reason.NOT_AN_ENVELOPE),
    (
        "missing_source",
        encode(_without(envelope(after=CUSTOMER), "source")),
        Reason.NOT_AN_ENVELOPE,
    ),
    ("source_not_object", encode(envelope(after=CUSTOMER, source="x")), Reason.NOT_AN_ENVELOPE),
    ("unknown_table", encode(envelope("payroll", after={"id": 1})), Reason.UNKNOWN_TABLE),
    (
        "missing_table",
        encode(_without(envelope(after=CUSTOMER), "source", "table")),
        Reason.UNKNOWN_TABLE,
    ),
    ("table_not_a_string", encode(envelope(5, after=CUSTOMER)), Reason.UNKNOWN_TABLE),  # type: ignore[arg-type]
    ("table_wrong_case", encode(envelope("Customers", after=CUSTOMER)), Reason.UNKNOWN_TABLE),
    ("lsn_string", encode(envelope(after=CUSTOMER, lsn="123")), Reason.NOT_AN_ENVELOPE),
    ("lsn_float", encode(envelope(after=CUSTOMER, lsn=12.5)), Reason.NOT_AN_ENVELOPE),
    ("lsn_null", encode(envelope(after=CUSTOMER, lsn=None)), Reason.NOT_AN_ENVELOPE),
    (
        "lsn_missing",
        encode(_without(envelope(after=CUSTOMER), "source", "lsn")),
        Reason.NOT_AN_ENVELOPE,
    ),
    ("ts_ms_string", encode(envelope(after=CUSTOMER, ts_ms="1")), Reason.NOT_AN_ENVELOPE),
    ("create_without_after", encode(envelope(op="c", after=None)), Reason.NOT_AN_ENVELOPE),
    ("update_after_not_object", encode(envelope(op="u", after=[1])), Reason.NOT_AN_ENVELOPE),  # type: ignore[arg-type]
    (
        "delete_without_before",
        encode(envelope(op="d", before=None, after=CUSTOMER)),
        Reason.NOT_AN_ENVELOPE,
    ),
    (
        "amount_as_number",
        encode(envelope("transactions", after={**TRANSACTION, "amount": 12.5})),
        Reason.TYPE_DRIFT,
    ),
    (
        "amount_not_a_decimal",
        encode(envelope("transactions", after={**TRANSACTION, "amount": "12,50"})),
        Reason.TYPE_DRIFT,
    ),
    (
        "amount_nan",
        encode(envelope("transactions", after={**TRANSACTION, "amount": "NaN"})),
        Reason.TYPE_DRIFT,
    ),
    (
        "latitude_as_string",
        encode(envelope("transactions", after={**TRANSACTION, "latitude": "51.5"})),
        Reason.TYPE_DRIFT,
    ),
    (
        "customer_id_string",
        encode(envelope(after={**CUSTOMER, "customer_id": "x"})),
        Reason.TYPE_DRIFT,
    ),
    (
        "customer_id_bool",
        encode(envelope(after={**CUSTOMER, "customer_id": True})),
        Reason.TYPE_DRIFT,
    ),
    (
        "bool_given_as_int",
        encode(envelope("logins", after={**LOGIN, "success": 1})),
        Reason.TYPE_DRIFT,
    ),
    (
        "ip_not_an_address",
        encode(envelope("logins", after={**LOGIN, "ip_address": "10.0.0.999"})),
        Reason.TYPE_DRIFT,
    ),
    (
        "date_as_iso_string",
        encode(envelope(after={**CUSTOMER, "date_of_birth": "1990-02-03"})),
        Reason.TYPE_DRIFT,
    ),
    (
        "timestamp_without_zone",
        encode(envelope(after={**CUSTOMER, "created_at": "2026-10-01T10:34:56"})),
        Reason.TYPE_DRIFT,
    ),
    (
        "timestamp_as_epoch",
        encode(envelope(after={**CUSTOMER, "created_at": 1790850896789})),
        Reason.TYPE_DRIFT,
    ),
    ("text_as_number", encode(envelope(after={**CUSTOMER, "city": 7})), Reason.TYPE_DRIFT),
    (
        "null_key",
        encode(envelope(after={**CUSTOMER, "customer_id": None})),
        Reason.MISSING_KEY,
    ),
    (
        "absent_key",
        encode(envelope(after={k: v for k, v in CUSTOMER.items() if k != "customer_id"})),
        Reason.MISSING_KEY,
    ),
    (
        "null_key_in_delete",
        encode(envelope(op="d", before={"customer_id": None})),
        Reason.MISSING_KEY,
    ),
    ("empty_before_in_delete", encode(envelope(op="d", before={})), Reason.MISSING_KEY),
]


@pytest.mark.parametrize(
    ("value", "reason"),
    [(value, reason) for _, value, reason in FAILURES],
    ids=[name for name, _, _ in FAILURES],
)
def test_unusable_events_raise_decode_error_with_reason(
    value: bytes, reason: Reason, mapping: GraphMapping
) -> None:
    error = reason_of(value, mapping)
    assert error.reason is reason
    assert str(error).startswith(f"{reason.value}: ")
    assert error.detail


def test_type_drift_names_the_table_and_column(mapping: GraphMapping) -> None:
    value = encode(envelope("transactions", after={**TRANSACTION, "amount": 12.5}))
    error = reason_of(value, mapping)
    assert error.detail.startswith("transactions.amount: ")
    assert "decimal string" in error.detail


def test_missing_key_names_the_key_column(mapping: GraphMapping) -> None:
    error = reason_of(encode(envelope(after={**CUSTOMER, "customer_id": None})), mapping)
    assert error.detail == "customers.customer_id is null"


def test_unknown_table_names_the_table(mapping: GraphMapping) -> None:
    error = reason_of(encode(envelope("payroll", after={"id": 1})), mapping)
    assert "payroll" in error.detail


@pytest.mark.parametrize(
    "value",
    [
        b"{" + b'"x": "' + b"y" * 3_000_000,
        encode(envelope("t" * 3_000_000, after=CUSTOMER)),
        encode(envelope(op="o" * 3_000_000, after=CUSTOMER)),
        encode(envelope("transactions", after={**TRANSACTION, "amount": "9x" * 1_000_000})),
        encode(envelope("logins", after={**LOGIN, "ip_address": "z" * 3_000_000})),
        encode(envelope(after={**CUSTOMER, "created_at": "2" * 3_000_000})),
    ],
    ids=["json", "table", "op", "decimal", "inet", "timestamp"],
)
def test_a_huge_bad_value_gives_a_short_detail(value: bytes, mapping: GraphMapping) -> None:
    # The detail travels as a dead-letter header and into logs: it must stay small.
    error = reason_of(value, mapping)
    assert len(error.detail) < 300


def test_a_boolean_lsn_is_not_an_lsn(mapping: GraphMapping) -> None:
    error = reason_of(encode(envelope(after=CUSTOMER, lsn=True)), mapping)
    assert error.reason is Reason.NOT_AN_ENVELOPE


# --- truncates ----------------------------------------------------------------------------


def test_a_truncate_decodes_to_its_table_and_source_coordinates(mapping: GraphMapping) -> None:
    # As Debezium's PostgreSQL connector sends it with skipped.operations=none: no
    # key (so no row), null images, the source block with the truncate's own LSN.
    value = encode(
        envelope(
            "transactions",
            op="t",
            lsn=24_023_128,
            ts_ms=1_760_000_000_123,
            source={
                "table": "transactions",
                "schema": "bank",
                "lsn": 24_023_128,
                "txId": 771,
                "ts_ms": 1_760_000_000_123,
            },
        )
    )
    traced = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    change = decode(value, mapping, trace_context=traced)
    assert change == TableTruncate(
        "transactions", 24_023_128, 1_760_000_000_123, POSITION, trace_context=traced
    )
    assert isinstance(change, TableTruncate) and change.op == "t"


def test_a_truncate_with_stray_row_images_is_still_a_truncate(mapping: GraphMapping) -> None:
    """The images are not read: a truncate names no row, whatever else it carries."""
    change = decode(encode(envelope(op="t", after=CUSTOMER, before=CUSTOMER)), mapping)
    assert isinstance(change, TableTruncate) and change.table == "customers"

"""Column decoders: values exactly as Debezium's JSON converter emits them.

Connector settings assumed (connectors/bank-postgres.json): decimal.handling.mode=string,
time.precision.mode=adaptive_time_microseconds, schemas disabled. Values go through
orjson first where the JSON spelling matters (e.g. `1.0E10` is already a float).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
import pytest

from fraudgraph.cdc.values import DECODERS, ValueDrift


def from_json(text: str) -> Any:
    """The value as orjson hands it to the decoder."""
    return orjson.loads(text)


def test_every_mapping_column_type_has_a_decoder() -> None:
    assert set(DECODERS) == {
        "bigint",
        "text",
        "bool",
        "float",
        "decimal",
        "timestamptz",
        "date",
        "inet",
    }


# --- bigint -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["0", "-1", "42", "9223372036854775807", "-9223372036854775808"])
def test_bigint_decodes_json_integers(text: str) -> None:
    value = DECODERS["bigint"](from_json(text))
    assert value == int(text)
    assert type(value) is int


@pytest.mark.parametrize("text", ["true", "false", "1.0", "1.5", '"42"', '"x"', "[1]", "{}"])
def test_bigint_rejects_anything_but_an_integer(text: str) -> None:
    with pytest.raises(ValueDrift, match="expected an integer"):
        DECODERS["bigint"](from_json(text))


# --- text -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "",
        "plain",
        "Zoë Ñúñez",
        "李小龍",
        "e\u0301",  # combining accent, left as is (no normalisation of free text)
        "\u202eevil\u202c",  # right-to-left override
        "a\u200bb\u200dc",  # zero-width space / joiner
        "\U0001f468\u200d\U0001f469\u200d\U0001f467",  # family emoji (astral plane, ZWJ)
        "\ufeffbom",
    ],
)
def test_text_passes_unicode_through_unchanged(value: str) -> None:
    decoded = DECODERS["text"](from_json(orjson.dumps(value).decode()))
    assert decoded == value


def test_text_keeps_a_huge_string_whole() -> None:
    huge = "x" * 5_000_000
    assert DECODERS["text"](huge) is huge


@pytest.mark.parametrize("text", ["1", "1.5", "true", "[]", '{"a": 1}'])
def test_text_rejects_non_strings(text: str) -> None:
    with pytest.raises(ValueDrift, match="expected text"):
        DECODERS["text"](from_json(text))


# --- bool -------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [("true", True), ("false", False)])
def test_bool_decodes_json_booleans(text: str, expected: bool) -> None:
    assert DECODERS["bool"](from_json(text)) is expected


@pytest.mark.parametrize("text", ["1", "0", '"true"', '"t"', "1.0"])
def test_bool_rejects_integers_and_strings(text: str) -> None:
    with pytest.raises(ValueDrift, match="expected a boolean"):
        DECODERS["bool"](from_json(text))


# --- float ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("51", 51.0),  # a whole float8 may be written without a fraction
        ("51.5074", 51.5074),
        ("-0.1278", -0.1278),
        ("1.0E10", 1.0e10),  # Jackson's exponent spelling is a JSON number already
        ("1e-7", 1e-7),
        ("0", 0.0),
    ],
)
def test_float_decodes_json_numbers_to_float(text: str, expected: float) -> None:
    value = DECODERS["float"](from_json(text))
    assert value == expected
    assert type(value) is float


@pytest.mark.parametrize("text", ["true", '"51.5"', '"1.0E10"', "null", "[1.0]"])
def test_float_rejects_non_numbers(text: str) -> None:
    with pytest.raises(ValueDrift, match="expected a number"):
        DECODERS["float"](from_json(text))


# --- decimal (decimal.handling.mode=string) ---------------------------------------------


@pytest.mark.parametrize("text", ["1234.50", "0.00", "-0.01", "99999999999999.99", "12"])
def test_decimal_decodes_strings_exactly(text: str) -> None:
    value = DECODERS["decimal"](text)
    assert isinstance(value, Decimal)
    # Exactly: same digits and scale, no trip through binary floating point.
    assert value.as_tuple() == Decimal(text).as_tuple()
    assert str(value) == text


def test_decimal_keeps_the_trailing_zero_of_1234_50() -> None:
    value = DECODERS["decimal"](from_json('"1234.50"'))
    assert value == Decimal("1234.50")
    assert value.as_tuple().exponent == -2


@pytest.mark.parametrize("text", ["12.5", "12", "true"])
def test_decimal_rejects_json_numbers(text: str) -> None:
    # With decimal.handling.mode=string a number means the connector config drifted.
    with pytest.raises(ValueDrift, match="expected a decimal string"):
        DECODERS["decimal"](from_json(text))


@pytest.mark.parametrize("text", ["", "abc", "12,50", "1.2.3"])
def test_decimal_rejects_strings_that_are_not_numbers(text: str) -> None:
    with pytest.raises(ValueDrift, match="not a decimal"):
        DECODERS["decimal"](text)


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "sNaN"])
def test_decimal_rejects_non_finite_values(text: str) -> None:
    with pytest.raises(ValueDrift, match="not a"):
        DECODERS["decimal"](text)


def test_decimal_error_does_not_echo_a_huge_value() -> None:
    with pytest.raises(ValueDrift) as caught:
        DECODERS["decimal"]("z" * 1_000_000)
    assert len(str(caught.value)) < 100


# --- timestamptz (ZonedTimestamp: ISO-8601 string) --------------------------------------


def test_timestamptz_decodes_utc_z_with_microseconds() -> None:
    value = DECODERS["timestamptz"]("2026-10-01T10:34:56.789012Z")
    assert value == datetime(2026, 10, 1, 10, 34, 56, 789012, tzinfo=UTC)
    assert value.tzinfo is not None
    assert value.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # ISO_OFFSET_DATE_TIME drops trailing zeros of the fraction, or the fraction.
        ("2026-10-01T10:34:56.78Z", datetime(2026, 10, 1, 10, 34, 56, 780000, tzinfo=UTC)),
        ("2026-10-01T10:34:56Z", datetime(2026, 10, 1, 10, 34, 56, tzinfo=UTC)),
        (
            "2026-10-01T12:34:56.789012+02:00",
            datetime(2026, 10, 1, 10, 34, 56, 789012, tzinfo=UTC),
        ),
    ],
)
def test_timestamptz_decodes_other_iso_spellings_to_the_same_instant(
    text: str, expected: datetime
) -> None:
    value = DECODERS["timestamptz"](text)
    assert value == expected
    assert value.tzinfo is not None


def test_timestamptz_keeps_the_offset_it_was_given() -> None:
    value = DECODERS["timestamptz"]("2026-10-01T12:34:56+02:00")
    assert value.tzinfo == timezone(timedelta(hours=2))


@pytest.mark.parametrize("text", ["2026-10-01T10:34:56.789012", "2026-10-01"])
def test_timestamptz_rejects_values_without_a_zone(text: str) -> None:
    with pytest.raises(ValueDrift, match="without zone"):
        DECODERS["timestamptz"](text)


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01T00:00:00Z", "10:34:56Z"])
def test_timestamptz_rejects_strings_that_are_not_timestamps(text: str) -> None:
    with pytest.raises(ValueDrift, match="not an ISO timestamp"):
        DECODERS["timestamptz"](text)


@pytest.mark.parametrize("text", ["1790850896789", "1790850896.789", "true"])
def test_timestamptz_rejects_epoch_numbers(text: str) -> None:
    # An epoch number means time.precision.mode / the converter changed.
    with pytest.raises(ValueDrift, match="expected an ISO timestamp"):
        DECODERS["timestamptz"](from_json(text))


# --- date (days since the epoch) --------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (7338, date(1990, 2, 3)),
        (0, date(1970, 1, 1)),
        (-1, date(1969, 12, 31)),
        (20727, date(2026, 10, 1)),
    ],
)
def test_date_decodes_days_since_epoch(days: int, expected: date) -> None:
    assert DECODERS["date"](from_json(str(days))) == expected


@pytest.mark.parametrize("text", ['"1990-02-03"', "7338.0", "true"])
def test_date_rejects_non_integers(text: str) -> None:
    with pytest.raises(ValueDrift, match="expected days since epoch"):
        DECODERS["date"](from_json(text))


@pytest.mark.parametrize("days", [10**7, -(10**7), 10**10, 10**30])
def test_date_out_of_range_is_drift_not_a_crash(days: int) -> None:
    with pytest.raises(ValueDrift, match="out of range"):
        DECODERS["date"](days)


# --- inet -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.7", "10.0.0.7"),
        ("10.0.0.7/32", "10.0.0.7"),
        ("10.0.0.7/24", "10.0.0.7"),  # a host in a network: the host is the address
        ("2001:db8::1", "2001:db8::1"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("2001:db8::1/128", "2001:db8::1"),
    ],
)
def test_inet_decodes_to_a_normalised_address(text: str, expected: str) -> None:
    assert DECODERS["inet"](text) == expected


def test_inet_spellings_of_one_ipv4_mapped_address_agree() -> None:
    assert DECODERS["inet"]("::ffff:1.2.3.4") == DECODERS["inet"]("::FFFF:0102:0304")


@pytest.mark.parametrize("text", ["", "10.0.0.256", "host.example", "10.0.0.7/33", " 10.0.0.7"])
def test_inet_rejects_strings_that_are_not_addresses(text: str) -> None:
    with pytest.raises(ValueDrift, match="not an IP address"):
        DECODERS["inet"](text)


def test_inet_rejects_an_integer_address() -> None:
    # ipaddress would accept 167772167 as 10.0.0.7; Debezium never emits that.
    with pytest.raises(ValueDrift, match="expected an address"):
        DECODERS["inet"](167772167)

"""Keyed PII hashing: spellings of one value link, raw values never show."""

from __future__ import annotations

import re

import pytest

from fraudgraph.errors import ConfigError
from fraudgraph.graph.pii import MIN_KEY_LENGTH, NORMALISERS, PiiHasher

KEY = "unit-test-pii-key-0123456789"
OTHER_KEY = "another-pii-key-9876543210"


@pytest.fixture
def hasher() -> PiiHasher:
    return PiiHasher(KEY)


@pytest.mark.parametrize(
    ("normaliser", "first", "second"),
    [
        ("email", "Alice@Example.COM", "alice@example.com"),
        ("email", "  alice@example.com\t\n", "alice@example.com"),
        ("email", "ALICE@EXAMPLE.COM ", " Alice@example.com"),
        ("phone", "+44 (0)20-7946 0000", "4402079460000"),
        ("phone", "+44 20 7946 0000", "44.20.7946.0000"),
        ("token", "ab 12-34", "AB1234"),
        ("token", "ab.12/34", "AB 12 34"),
        ("token", "GB82 WEST 1234 5698 7654 32", "gb82west12345698765432"),
        ("address", "12 Engine Way.", "12  engine  WAY"),
        ("address", "Flat 3, 12 High St", "flat 3 12 high st"),
        # Near-duplicates a ring uses to look like distinct people.
        ("email", "Alice.Smith+bank@example.com", "alicesmith@example.com"),
        ("email", "a.l.i.c.e@googlemail.com", "alice@gmail.com"),
        ("phone", "+44 7700 900123", "07700 900123"),
        ("phone", "0044 7700 900123", "(07700) 900-123"),
        ("address", "12 High Street, Apartment 3", "12 high st apt 3"),
        ("address", "Hauptstraße 5", "hauptstraße 5"),
    ],
)
def test_spellings_of_one_value_link(
    hasher: PiiHasher, normaliser: str, first: str, second: str
) -> None:
    assert hasher.digest(normaliser, [first]) == hasher.digest(normaliser, [second])
    assert hasher.digest(normaliser, [first]) is not None


@pytest.mark.parametrize(
    ("normaliser", "first", "second"),
    [
        ("email", "alice@example.com", "alice@example.org"),
        ("email", "alice@example.com", "alicia@example.com"),
        ("phone", "+44 7700 900123", "+44 7700 900124"),
        ("address", "12 High Street", "12 High Road"),
        ("phone", "+44 20 7946 0000", "+44 20 7946 0001"),
        ("token", "AB1234", "AB1235"),
        ("address", "12 Engine Way", "13 Engine Way"),
    ],
)
def test_different_values_give_different_digests(
    hasher: PiiHasher, normaliser: str, first: str, second: str
) -> None:
    assert hasher.digest(normaliser, [first]) != hasher.digest(normaliser, [second])


def test_multi_column_digest_links_on_normalised_parts(hasher: PiiHasher) -> None:
    one = hasher.digest("address", ["12 Engine Way", "NW1 6XE", "GB"])
    two = hasher.digest("address", ["12 engine way ", "nw1-6xe", "gb"])
    assert one == two
    assert one != hasher.digest("address", ["12 Engine Way", "NW1 6XF", "GB"])


def test_multi_column_parts_do_not_run_together(hasher: PiiHasher) -> None:
    assert hasher.digest("token", ["AB", "12"]) != hasher.digest("token", ["AB12"])
    assert hasher.digest("token", ["AB", "12"]) != hasher.digest("token", ["A", "B12"])


def test_different_keys_give_different_digests() -> None:
    value = ["alice@example.com"]
    assert PiiHasher(KEY).digest("email", value) != PiiHasher(OTHER_KEY).digest("email", value)


def test_the_same_key_gives_the_same_digest_across_instances() -> None:
    assert PiiHasher(KEY).digest("phone", ["+1 555 0100"]) == PiiHasher(KEY).digest(
        "phone", ["15550100"]
    )


def test_digest_is_fixed_length_lowercase_hex(hasher: PiiHasher) -> None:
    digest = hasher.digest("email", ["alice@example.com"])
    assert digest is not None
    assert re.fullmatch(r"[0-9a-f]{32}", digest)


@pytest.mark.parametrize(
    ("normaliser", "values"),
    [
        ("email", [None]),
        ("email", [""]),
        ("email", ["   "]),
        ("phone", ["n/a"]),  # no digits at all
        ("phone", [""]),
        ("token", [" - . / "]),
        ("address", ["  ,.  "]),
        ("address", ["12 Engine Way", None, "GB"]),  # any missing part
        ("address", ["12 Engine Way", "", "GB"]),
    ],
)
def test_missing_or_empty_values_give_none(
    hasher: PiiHasher, normaliser: str, values: list[str | None]
) -> None:
    assert hasher.digest(normaliser, values) is None


@pytest.mark.parametrize("key", ["", "short", "x" * (MIN_KEY_LENGTH - 1)])
def test_a_short_key_is_a_config_error(key: str) -> None:
    with pytest.raises(ConfigError, match="at least 16 characters"):
        PiiHasher(key)


def test_a_key_of_exactly_the_minimum_length_is_accepted() -> None:
    assert PiiHasher("k" * MIN_KEY_LENGTH).digest("token", ["x"]) is not None


def test_the_config_error_does_not_echo_the_key() -> None:
    with pytest.raises(ConfigError) as caught:
        PiiHasher("s3cr3t-k3y")
    assert "s3cr3t-k3y" not in str(caught.value)


@pytest.mark.parametrize(
    ("normaliser", "value"),
    [
        ("email", "alice.smith@example.com"),
        ("phone", "+44 (0)20-7946 0000"),
        ("token", "ZZ-998877-Q"),
        ("address", "12 Engine Way"),
        ("token", "GB82 WEST 1234 5698 7654 32"),
    ],
)
def test_digest_never_contains_the_raw_or_normalised_value(
    hasher: PiiHasher, normaliser: str, value: str
) -> None:
    digest = hasher.digest(normaliser, [value])
    assert digest is not None
    normalised = NORMALISERS[normaliser](value)
    for needle in (value, value.lower(), normalised):
        assert needle not in digest


def test_non_string_values_are_hashed_by_their_text(hasher: PiiHasher) -> None:
    assert hasher.digest("phone", [4402079460000]) == hasher.digest("phone", ["4402079460000"])

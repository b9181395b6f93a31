"""Dead-letter headers: the original headers kept, the reason and source coordinates added."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from fraudgraph.stream.deadletter import DeadLetter, dead_letter_headers
from fraudgraph.stream.records import RawRecord

FAILED_AT = datetime(2026, 10, 1, 10, 34, 56, 789012, tzinfo=UTC)


def letter(
    headers: tuple[tuple[str, bytes], ...] = (), detail: str = "table 'payroll' is not mapped"
) -> DeadLetter:
    record = RawRecord(
        topic="bank.public.payroll",
        partition=4,
        offset=1_234_567,
        key=b'{"id": 1}',
        value=b'{"op": "c"}',
        headers=headers,
    )
    return DeadLetter(record, "unknown_table", detail)


def test_original_headers_come_first_unchanged_then_dlq_context() -> None:
    original = (("traceparent", b"00-abc-def-01"), ("source", b"\xff\x00binary"))
    headers = dead_letter_headers(letter(original), FAILED_AT)
    assert headers[:2] == list(original)
    assert dict(headers[2:]) == {
        "dlq.reason": b"unknown_table",
        "dlq.detail": b"table 'payroll' is not mapped",
        "dlq.topic": b"bank.public.payroll",
        "dlq.partition": b"4",
        "dlq.offset": b"1234567",
        "dlq.failed_at": b"2026-10-01T10:34:56.789012+00:00",
    }
    assert len(headers) == 8


def test_header_names_are_str_and_values_bytes() -> None:
    for name, value in dead_letter_headers(letter((("a", b"1"),)), FAILED_AT):
        assert isinstance(name, str)
        assert isinstance(value, bytes)


def test_repeated_original_headers_are_all_kept() -> None:
    original = (("h", b"1"), ("h", b"2"))
    assert dead_letter_headers(letter(original), FAILED_AT)[:2] == list(original)


def test_a_long_detail_is_truncated_to_2000_characters() -> None:
    headers = dict(dead_letter_headers(letter(detail="x" * 10_000), FAILED_AT))
    assert headers["dlq.detail"] == b"x" * 2000


def test_unicode_detail_is_utf8_encoded() -> None:
    headers = dict(dead_letter_headers(letter(detail="Kraków 🦊"), FAILED_AT))
    assert headers["dlq.detail"] == "Kraków 🦊".encode()


def test_failed_at_keeps_its_offset() -> None:
    at = datetime(2026, 10, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    headers = dict(dead_letter_headers(letter(), at))
    assert headers["dlq.failed_at"] == b"2026-10-01T12:00:00+02:00"


def test_record_header_lookup() -> None:
    record = letter((("a", b"1"), ("b", "ü".encode()), ("a", b"2"), ("c", b"\xff"))).record
    assert record.header("a") == "1"  # the first of repeated headers
    assert record.header("b") == "ü"
    assert record.header("c") == "\ufffd"
    assert record.header("missing") is None
    assert (record.position.topic, record.position.partition, record.position.offset) == (
        "bank.public.payroll",
        4,
        1_234_567,
    )
